"""Trainer binary: `python -m cvrl_tf.train --experiment=... --mode=...`.

Flags follow Model Garden (`official.common.flags`): --experiment,
--config_file (repeatable), --params_override, --mode, --model_dir, --tpu.
"""
import contextlib
import functools
import os
import signal
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging
from official.common import distribute_utils
from official.common import flags as tfm_flags
from official.core import task_factory
from official.core import train_utils
from official.modeling import performance
import tensorflow as tf
import yaml

from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.dataloaders import record_checks
from cvrl_tf.training import determinism
from cvrl_tf.training import numerics
from cvrl_tf.training import preemption
from cvrl_tf.training import progress
from cvrl_tf.training import trainer as trainer_lib
from cvrl_tf.modeling import checkpoints

FLAGS = flags.FLAGS


def parse_params(flags_obj):
  """ExperimentConfig from the flags; raises ConfigError on any mistake."""
  try:
    params = train_utils.parse_configuration(flags_obj, print_return=False)
  except (LookupError, ValueError, TypeError, AttributeError,
          yaml.YAMLError) as e:
    raise config_validation.ConfigError(
        config_validation.describe_parse_error(e)) from e
  config_validation.validate(params, flags_obj.mode)
  determinism.check_config(params)
  return params


def build_strategy(runtime):
  """The distribution strategy of `runtime`.

  Raises:
    config_validation.ConfigError: `runtime.tpu` names a TPU that cannot be
      resolved from this machine.
  """
  try:
    return distribute_utils.get_distribution_strategy(
        distribution_strategy=runtime.distribution_strategy,
        all_reduce_alg=runtime.all_reduce_alg,
        num_gpus=runtime.num_gpus,
        tpu_address=runtime.tpu)
  except (OSError, ValueError, RuntimeError) as e:
    if not runtime.tpu:
      raise
    # A TPU name is looked up through the Cloud TPU API, with the project
    # and zone from the GCE metadata server.
    reason = ' '.join(str(e).split())
    raise config_validation.ConfigError(
        f'cannot resolve the TPU {runtime.tpu!r}: looking it up through the '
        f'GCE metadata server and the Cloud TPU API failed ({reason}). Run '
        'on a Cloud VM in the TPU\'s project and zone, or pass its address '
        'as --tpu=grpc://HOST:8470.') from e


def build_controller(params, mode: str, model_dir: str,
                     stop_signal: preemption.StopSignal):
  """Builds the strategy, task, trainer and orbit controller.

  The controller restores the latest checkpoint of `model_dir`, if any
  (raising `determinism.InputStateError` if its saved input does not fit). Its
  train actions log progress, stop on a NaN / Inf (`numerics`) and, once
  `stop_signal` was received, stop the training (`preemption`), in this
  order, all before orbit saves the loop's checkpoint.

  Returns:
    (strategy, trainer, controller).
  """
  if params.runtime.mixed_precision_dtype:
    performance.set_mixed_precision_policy(
        params.runtime.mixed_precision_dtype)
  if determinism.enabled(params.task):
    determinism.configure(params)
  strategy = build_strategy(params.runtime)
  config_validation.check_replicas(params, mode, strategy.num_replicas_in_sync)
  with strategy.scope():
    task = task_factory.get_task(params.task, logging_dir=model_dir)
    trainer = train_utils.create_trainer(
        params, task, train='train' in mode,
        evaluate='eval' in mode,
        checkpoint_exporter=train_utils.maybe_create_best_ckpt_exporter(
            params, model_dir),
        trainer_cls=functools.partial(
            trainer_lib.Trainer,
            checkpoint_input=determinism.enabled(params.task)))
  with determinism.explain_input_restore_errors(model_dir):
    controller = trainer_lib.OrbitExperimentRunner(
        distribution_strategy=strategy, task=task, mode=mode, params=params,
        model_dir=model_dir, trainer=trainer,
        controller_cls=progress.Controller,
        train_actions=[
            progress.ProgressLogger(trainer.global_step,
                                    params.trainer.train_steps),
            numerics.NonFiniteGuard(trainer, model_dir),
            preemption.StopIfSignalled(stop_signal),
        ]).controller
  return strategy, trainer, controller


def run_mode(controller, trainer, mode: str, config):
  """Trains and / or evaluates as `mode` says; returns evaluation logs."""
  if mode == 'train':
    controller.train(steps=config.train_steps)
    return {}
  if mode == 'train_and_eval':
    return controller.train_and_evaluate(
        train_steps=config.train_steps, eval_steps=config.validation_steps,
        eval_interval=config.validation_interval)
  if mode == 'eval':
    return controller.evaluate(steps=config.validation_steps)
  return controller.evaluate_continuously(
      steps=config.validation_steps,
      timeout=config.continuous_eval_timeout,
      timeout_fn=lambda: trainer.global_step.numpy() >= config.train_steps)


def run(params, mode: str, model_dir: str):
  """Builds everything, then trains / evaluates through orbit.

  Training resumes from the latest checkpoint in `model_dir`. SIGTERM while
  training saves a checkpoint at the end of the current train loop and
  returns normally; a NaN or Inf raises `numerics.NonFiniteError` before it
  is checkpointed.

  Returns:
    (model, logs): logs of the last evaluation for the evaluating modes,
    else {}.
  """
  if 'train' in mode:
    train_utils.serialize_config(params, model_dir)
  stop_signal = preemption.StopSignal(signal.SIGTERM)
  strategy, trainer, controller = build_controller(params, mode, model_dir,
                                                   stop_signal)
  # Only training has loops to finish and a state worth saving.
  signal_scope = stop_signal if 'train' in mode else contextlib.nullcontext()
  # A saved input of another structure fails only at its first batch.
  with signal_scope, strategy.scope(), \
      determinism.explain_input_restore_errors(model_dir):
    try:
      logs = run_mode(controller, trainer, mode, params.trainer)
    except preemption.StopRequested as stop:
      controller.save_checkpoint()
      logging.warning(
          'stopped by %s at step %d, checkpoint %s; run the same command to '
          'resume.', stop, trainer.global_step.numpy(),
          controller.checkpoint_manager.latest_checkpoint)
      logs = {}
  return trainer.model, logs or {}


def main(_):
  try:
    if not FLAGS.model_dir:
      raise config_validation.ConfigError('--model_dir is required.')
    params = parse_params(FLAGS)
  except config_validation.ConfigError as e:
    sys.exit(f'error: {e}')
  try:
    run(params, FLAGS.mode, FLAGS.model_dir)
  except (config_validation.ConfigError, checkpoints.CheckpointError,
          numerics.NonFiniteError, determinism.InputStateError) as e:
    sys.exit(f'error: {e}')
  except tf.errors.InvalidArgumentError as e:
    bad_record = record_checks.bad_record_message(e.message)
    if not bad_record:
      raise
    sys.exit(f'error: {bad_record} (set skip_bad_records: true in the '
             'data config to skip bad records and go on)')


if __name__ == '__main__':
  tfm_flags.define_flags()
  flags.mark_flag_as_required('experiment')
  flags.mark_flag_as_required('mode')
  logging.set_verbosity(logging.INFO)
  app.run(main)
