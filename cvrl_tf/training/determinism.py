"""Reproducible training: seeded initialisation, deterministic ops, input
that resumes where it stopped.

A task config with `deterministic: true` (and `train_data.seed` set) makes a
training run a function of its config: killed and restarted any number of
times, it ends with the weights of an uninterrupted run. Three things are
needed:

  * the same initial weights: the Python, NumPy and TensorFlow global seeds
    are set to `train_data.seed` before the model is built;
  * kernels that do not depend on thread timing:
    `tf.config.experimental.enable_op_determinism()` (process-wide; slower,
    mostly on GPUs);
  * the same batches after a restart: the training input iterator is saved in
    every checkpoint (`train_iterator`) and restored with it.

tf.distribute's own input iterators cannot be saved, so in this mode the
trainer reads one host `tf.data` iterator and hands each replica its batch
itself (`host_dataset`, `replica_inputs`); batches are then not prefetched to
the accelerators. This is supported for one host (`one_device`, `mirrored`
or `off` strategies).

The saved iterator state holds everything buffered in the pipeline: the
shuffle buffer of encoded videos (`shuffle_buffer_size` records, a few MB
each for full-length Kinetics clips) and the batches in flight (prefetched
and parallel-map buffers, each [2B, T, H, W, 3] per replica). Expect every
checkpoint to grow by roughly shuffle_buffer_size x the mean record size plus
a few decoded batches per host, and saving and restoring to take as long as
writing and reading that much.
"""
import contextlib
import re
from typing import Any, Iterator

import tensorflow as tf
import tf_keras

from cvrl_tf.configs import validation as config_validation

# `runtime.distribution_strategy` values with a single host input pipeline.
SINGLE_HOST_STRATEGIES = ('off', 'one_device', 'mirrored')


class InputStateError(RuntimeError):
  """A checkpoint's input iterator state does not fit the input pipeline."""


def enabled(task_config) -> bool:
  """Whether `task_config` asks for reproducible training."""
  return bool(getattr(task_config, 'deterministic', False))


def check_config(params) -> None:
  """Raises ConfigError if deterministic training cannot honour `params`."""
  if not enabled(params.task):
    return
  if params.task.train_data.seed is None:
    raise config_validation.ConfigError(
        'task.deterministic needs task.train_data.seed to be set (it seeds '
        'the initial weights, the shuffling and the augmentation).')
  strategy = params.runtime.distribution_strategy
  if strategy not in SINGLE_HOST_STRATEGIES:
    raise config_validation.ConfigError(
        f'task.deterministic supports runtime.distribution_strategy '
        f'{", ".join(SINGLE_HOST_STRATEGIES)} (one host), not {strategy!r}.')


def configure(params) -> None:
  """Seeds the global random generators and enables op determinism.

  Both are process-wide and stay in effect after training.
  """
  tf_keras.utils.set_random_seed(params.task.train_data.seed)
  tf.config.experimental.enable_op_determinism()


def host_dataset(task, data_config, num_replicas: int) -> tf.data.Dataset:
  """The training input as one iterable, checkpointable host dataset.

  Built like tf.distribute builds it for one input pipeline: per-replica
  batches, consecutive ones going to consecutive replicas.

  Args:
    task: a Model Garden task (its `build_inputs` makes the dataset).
    data_config: the training `DataConfig`.
    num_replicas: replicas in sync.

  Returns:
    Dataset whose elements are a per-replica batch or, with several
    replicas, the replicas' batches stacked on a new leading axis
    [num_replicas, ...].
  """
  context = tf.distribute.InputContext(
      num_input_pipelines=1, input_pipeline_id=0,
      num_replicas_in_sync=num_replicas)
  dataset = task.build_inputs(data_config, input_context=context)
  if num_replicas > 1:
    dataset = dataset.batch(num_replicas, drop_remainder=True)
  options = tf.data.Options()
  # Some pipeline functions run nested dataset ops (e.g. record checks);
  # they keep no state between elements, so there is nothing to save for
  # them. The pipeline's randomness is stateless and seeded.
  options.experimental_external_state_policy = (
      tf.data.experimental.ExternalStatePolicy.WARN)
  return dataset.with_options(options)


def replica_inputs(element: Any, strategy: tf.distribute.Strategy) -> Any:
  """Hands each replica its batch of a `host_dataset` element."""
  if strategy.num_replicas_in_sync == 1:
    return element
  return strategy.experimental_distribute_values_from_function(
      lambda context: tf.nest.map_structure(
          lambda x: x[context.replica_id_in_sync_group], element))


# tf.data's error when restored buffers hold elements of another structure.
_COMPONENTS_ERROR = re.compile(r'Expected (\d+) components but got (\d+)')
# tf.data's error when the saved state does not fit: what it could not
# restore (a stage of the pipeline, or a file it was reading).
_UNRESTORED_ERROR = re.compile(
    r'Failed to restore dataset iterator from checkpoint: (.+?)\. Make sure')
_RESUME_ADVICE = ('resume with the same config and code, or with '
                  'task.deterministic=false to restart the input from its '
                  'beginning.')


@contextlib.contextmanager
def explain_input_restore_errors(model_dir: str) -> Iterator[None]:
  """Turns tf.data's failure to restore the saved input into one clear line.

  The saved iterator state only fits the pipeline that wrote it: changing
  the input config or code between a save and the restore breaks it, either
  when restoring or, where the restored buffers hold elements of another
  structure, at the first batch read (so wrap the training too). E.g. the
  photometric parameters that device augmentation passes with each view
  gained `solarize`: buffers saved without it hold one tensor fewer per
  element. A saved input also names the file it was reading: moving the
  records breaks the restore.
  """
  try:
    yield
  except tf.errors.OpError as e:
    components = _COMPONENTS_ERROR.search(e.message)
    if components:
      expected, saved = components.groups()
      raise InputStateError(
          f'the training input saved in the latest checkpoint of {model_dir} '
          f'holds elements of {saved} tensors where this input pipeline makes '
          f'{expected}: it was saved by another config or code (e.g. before '
          'device augmentation\'s photometric parameters gained '
          f'`solarize`); {_RESUME_ADVICE}') from e
    if 'restore dataset iterator' not in e.message:
      raise
    unrestored = _UNRESTORED_ERROR.search(e.message)
    raise InputStateError(
        f'the training input saved in the latest checkpoint of {model_dir} '
        'does not fit this input pipeline (its config or code changed since '
        'the save' + (f'; tf.data could not restore {unrestored[1]}'
                      if unrestored else '') + f'); {_RESUME_ADVICE}') from e
