"""Compiles one training step with XLA on CPU, as TPUStrategy compiles it.

A TPU compiles the whole train step with XLA; an op XLA cannot compile, or a
shape it cannot make static, fails there only after the job was scheduled.
`compile_train_step` builds an experiment's task, model, optimizer and input
the way the trainer does and runs the task's `train_step` once under
`tf.function(jit_compile=True)` on a single replica (XLA cannot place the
variables of a MirroredStrategy over logical CPU devices).

A task whose step depends on the global step (`train_step_branches`,
ViCC's stages) has its branch chosen on the host, as the trainer chooses it
outside `strategy.run`: the step compiled is that of a given global step.

Any pretraining or evaluation method gets the check by adding its
experiment, YAML and tiny overrides to the cases of `test_xla_compile.py`.
"""
import contextlib
import types
from typing import Callable, Dict, List, Optional, Tuple

import tensorflow as tf
import yaml
from official.core import task_factory
from official.modeling import performance

import cvrl_tf.registry_imports  # pylint: disable=unused-import
from cvrl_tf import train
from cvrl_tf.modeling import stem_conv

# CPU flags of native bfloat16 arithmetic (x86 AVX512-BF16 / AMX).
BFLOAT16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


def cpu_bfloat16_support() -> Tuple[bool, str]:
  """(supported, reason): whether this CPU computes bfloat16 natively."""
  try:
    with open('/proc/cpuinfo') as f:
      flags = next((line.split(':', 1)[1].split() for line in f
                    if line.startswith('flags')), [])
  except OSError as e:
    return False, f'cannot read /proc/cpuinfo ({e})'
  found = [flag for flag in BFLOAT16_CPU_FLAGS if flag in flags]
  if found:
    return True, f'CPU flags {found}'
  return False, f'CPU has none of the flags {list(BFLOAT16_CPU_FLAGS)}'


def step_dtype() -> str:
  """'bfloat16' where the CPU supports it, else 'float32' with a printed why."""
  supported, reason = cpu_bfloat16_support()
  if supported:
    return 'bfloat16'
  print(f'XLA step compiled in float32, not bfloat16: {reason}.')
  return 'float32'


class _Flags(types.SimpleNamespace):
  """Parsed flags: attributes, and `in` as absl's FlagValues answers it."""

  def __contains__(self, name: str) -> bool:
    return hasattr(self, name)


def parse_experiment(experiment: str, yaml_path: str, overrides: dict,
                     mode: str = 'train'):
  """The ExperimentConfig the trainer binary builds from these flags.

  `cvrl_tf.train.parse_params` with --experiment, --config_file and
  --params_override (`overrides` as YAML), validation included.
  """
  flags_obj = _Flags(
      experiment=experiment, config_file=[yaml_path],
      params_override=yaml.safe_dump(overrides), tpu=None,
      tf_data_service=None, mode=mode)
  return train.parse_params(flags_obj)


@contextlib.contextmanager
def mixed_precision(dtype: Optional[str]):
  """Sets the Keras global policy as the trainer does, then restores it."""
  import tf_keras  # pylint: disable=import-outside-toplevel
  previous = tf_keras.mixed_precision.global_policy()
  if dtype:
    performance.set_mixed_precision_policy(dtype)
  try:
    yield
  finally:
    tf_keras.mixed_precision.set_global_policy(previous)


@contextlib.contextmanager
def accelerator_layers():
  """Builds layers as on a TPU host (e.g. the R3D stem as a Conv3D)."""
  original = stem_conv._has_accelerator  # pylint: disable=protected-access
  stem_conv._has_accelerator = lambda: True  # pylint: disable=protected-access
  try:
    yield
  finally:
    stem_conv._has_accelerator = original  # pylint: disable=protected-access


def non_static_shapes(element_spec) -> List[tf.TensorSpec]:
  """The components of a dataset element whose shape is not static."""
  return [spec for spec in tf.nest.flatten(element_spec)
          if not spec.shape.is_fully_defined()]


def compile_train_step(params, global_step: Optional[int] = None,
                       prepare=None) -> Tuple[Callable, Dict[str, tf.Tensor]]:
  """Runs `params`'s task's train step once, compiled by XLA.

  Args:
    params: an ExperimentConfig, e.g. from `parse_experiment`.
    global_step: for a task with `train_step_branches`, the global step
      whose branch is compiled and run (the optimizer's iterations are set
      to it); the trainer's `_branched_train_step` picks it the same way.
    prepare: optional `prepare(task, model, optimizer)` called once the
      model and optimizer are built, before the step (e.g. to fill a queue).

  Returns:
    (step, logs): the compiled step, which `run_compiled` runs again on
    batches of the same shapes, and the logs of its run, as numbers.

  Raises:
    AssertionError: if the input's batches are not of static shape.
    tf.errors.InvalidArgumentError: if XLA cannot compile the step.
  """
  with mixed_precision(params.runtime.mixed_precision_dtype), \
      accelerator_layers():
    task = task_factory.get_task(params.task)
    model = task.build_model()
    optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                      params.runtime)
    metrics = task.build_metrics(training=True)
    dataset = task.build_inputs(params.task.train_data)
    dynamic = non_static_shapes(dataset.element_spec)
    assert not dynamic, f'input shapes not static: {dynamic}'
    inputs = next(iter(dataset))
    train_step = task.train_step
    if hasattr(task, 'train_step_branches'):
      task.create_optimizer_slots(model, optimizer)
      optimizer.iterations.assign(global_step)
      branch = int(task.train_step_branch(global_step))
      train_step = task.train_step_branches()[branch]
    if prepare is not None:
      prepare(task, model, optimizer)

    @tf.function(jit_compile=True)
    def step(inputs):
      return train_step(inputs, model=model, optimizer=optimizer,
                        metrics=metrics)

    logs = step(inputs)
  return step, _numbers(logs)


def run_compiled(step, inputs) -> Dict[str, tf.Tensor]:
  """Runs a step of `compile_train_step` on a batch of the shapes it was
  compiled for (neither traced nor compiled again); its logs, as numbers."""
  traces = step.experimental_get_tracing_count()
  logs = step(inputs)
  assert step.experimental_get_tracing_count() == traces, (
      'the batch is not of the compiled shapes: the step was traced again')
  return _numbers(logs)


def _numbers(logs):
  return {name: value.numpy() for name, value in logs.items()}
