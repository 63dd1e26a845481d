"""Loads a pretrained backbone and refuses checkpoints that do not match."""
import os
import tempfile

from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras


class CheckpointError(ValueError):
  """A checkpoint that cannot be loaded as asked; the message says why."""


class CheckpointMismatchError(CheckpointError):
  """The checkpoint lacks variables of the model, or has other shapes."""


class CheckpointNotFoundError(CheckpointError):
  """No checkpoint at the given path."""


class NonFiniteCheckpointError(CheckpointError):
  """The checkpoint holds NaN or Inf values."""


# Variables named in a message before the rest are counted.
_NAMES_SHOWN = 5


def _short_names(keys) -> str:
  """Checkpoint keys without their `/.ATTRIBUTES/...` suffix, the first few."""
  shown = ', '.join(k.split('/.ATTRIBUTES')[0] for k in keys[:_NAMES_SHOWN])
  more = len(keys) - _NAMES_SHOWN
  return shown + (f' and {more} more' if more > 0 else '')


def resolve_checkpoint(path: str) -> str:
  """A checkpoint prefix from a prefix or a directory (local or gs://).

  Raises:
    CheckpointNotFoundError: neither a checkpoint prefix nor a directory
      holding one.
  """
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if not latest:
      raise CheckpointNotFoundError(f'No checkpoint in directory {path!r}.')
    return latest
  if not tf.io.gfile.exists(path + '.index'):
    raise CheckpointNotFoundError(
        f'No checkpoint at {path!r} (neither a directory nor a checkpoint '
        f'prefix with a {path}.index file); check the path.')
  return path


def check_finite(path: str, root: str = '') -> None:
  """Refuses a checkpoint whose variables under `root` hold NaN or Inf.

  Args:
    path: checkpoint prefix.
    root: checkpoint item to check, e.g. 'backbone'; '' checks every
      variable.

  Raises:
    NonFiniteCheckpointError: naming the variables with non-finite values.
  """
  reader = tf.train.load_checkpoint(path)
  dtypes = reader.get_variable_to_dtype_map()
  bad = sorted(
      key for key, dtype in dtypes.items()
      if key.startswith(root) and key.endswith('.ATTRIBUTES/VARIABLE_VALUE')
      and dtype.is_floating
      and not np.isfinite(reader.get_tensor(key)).all())
  if bad:
    raise NonFiniteCheckpointError(
        f'Checkpoint {path} holds NaN or Inf values in {len(bad)} '
        f'variable(s): {_short_names(bad)}. The training that wrote it '
        'diverged; use an earlier checkpoint.')


def _variable_shapes(path: str, root: str):
  """{key: shape} of the variables under object `root` in a checkpoint."""
  return {name: shape for name, shape in tf.train.list_variables(path)
          if name.startswith(root + '/')
          and name.endswith('.ATTRIBUTES/VARIABLE_VALUE')}


def expected_variable_shapes(module: tf.Module, root: str):
  """{key: shape} a checkpoint must hold to restore `module` under `root`."""
  with tempfile.TemporaryDirectory() as scratch:
    saved = tf.train.Checkpoint(**{root: module}).write(
        os.path.join(scratch, 'ckpt'))
    return _variable_shapes(saved, root)


def load_backbone(backbone: tf_keras.Model, checkpoint_path: str,
                  root: str = 'backbone') -> str:
  """Restores `backbone` from a checkpoint written with a `root` item.

  Checkpoints of this package's trainer and of Model Garden's video_ssl
  store the backbone under `backbone/`.

  Args:
    backbone: the built model to restore into.
    checkpoint_path: a checkpoint prefix or a directory (latest is used).
    root: the checkpoint item the backbone was saved under.

  Returns:
    The checkpoint prefix that was loaded.

  Raises:
    CheckpointNotFoundError: nothing at `checkpoint_path`.
    CheckpointMismatchError: naming variables that are missing from the
      checkpoint or whose shapes differ.
    NonFiniteCheckpointError: naming the variables holding NaN or Inf.
  """
  path = resolve_checkpoint(checkpoint_path)
  expected = expected_variable_shapes(backbone, root)
  found = _variable_shapes(path, root)
  missing = sorted(set(expected) - set(found))
  wrong_shape = sorted(k for k in set(expected) & set(found)
                       if list(expected[k]) != list(found[k]))
  if missing or wrong_shape:
    problems = []
    if missing:
      problems.append(f'{len(missing)} of {len(expected)} backbone variables '
                      f'missing ({_short_names(missing)})')
    if wrong_shape:
      problems.append(f'{len(wrong_shape)} with other shapes '
                      f'({_short_names(wrong_shape)})')
    raise CheckpointMismatchError(
        f'Checkpoint {path} does not match the backbone: '
        + '; '.join(problems) + '. Check the backbone config.')
  check_finite(path, root + '/')
  tf.train.Checkpoint(**{root: backbone}).read(path).expect_partial()
  logging.info('Loaded %d backbone variables from %s.', len(expected), path)
  return path


def initialize_backbone(task_config, model: tf_keras.Model) -> None:
  """Loads `init_checkpoint` into the backbone (or everything), strictly."""
  if not task_config.init_checkpoint:
    return
  if task_config.init_checkpoint_modules == 'backbone':
    load_backbone(model.backbone, task_config.init_checkpoint)
  elif task_config.init_checkpoint_modules == 'all':
    path = resolve_checkpoint(task_config.init_checkpoint)
    check_finite(path, 'model/')
    tf.train.Checkpoint(model=model).read(path).assert_existing_objects_matched()
  else:
    raise ValueError('init_checkpoint_modules must be "backbone" or "all", '
                     f'got {task_config.init_checkpoint_modules!r}.')
