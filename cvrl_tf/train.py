"""Trainer binary: `python -m cvrl_tf.train --experiment=... --mode=...`.

Flags follow Model Garden (`official.common.flags`): --experiment,
--config_file (repeatable), --params_override, --mode, --model_dir, --tpu.
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging
from official.common import distribute_utils
from official.common import flags as tfm_flags
from official.core import task_factory
from official.core import train_lib
from official.core import train_utils
from official.modeling import performance
import yaml

import cvrl_tf  # pylint: disable=unused-import  (registers experiments)
from cvrl_tf import config_validation
from cvrl_tf import progress

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
  return params


def run(params, mode: str, model_dir: str):
  """Builds the strategy and task, then trains / evaluates through orbit.

  Returns:
    (model, logs): logs of the last evaluation for the evaluating modes,
    else {}.
  """
  if 'train' in mode:
    train_utils.serialize_config(params, model_dir)
  if params.runtime.mixed_precision_dtype:
    performance.set_mixed_precision_policy(
        params.runtime.mixed_precision_dtype)
  strategy = distribute_utils.get_distribution_strategy(
      distribution_strategy=params.runtime.distribution_strategy,
      all_reduce_alg=params.runtime.all_reduce_alg,
      num_gpus=params.runtime.num_gpus,
      tpu_address=params.runtime.tpu)
  with strategy.scope():
    task = task_factory.get_task(params.task, logging_dir=model_dir)
    trainer = train_utils.create_trainer(
        params, task, train='train' in mode,
        evaluate='eval' in mode,
        checkpoint_exporter=train_utils.maybe_create_best_ckpt_exporter(
            params, model_dir))
  controller = train_lib.OrbitExperimentRunner(
      distribution_strategy=strategy, task=task, mode=mode, params=params,
      model_dir=model_dir, trainer=trainer,
      train_actions=[progress.ProgressLogger(
          trainer.global_step, params.trainer.train_steps)]).controller
  config = params.trainer
  with strategy.scope():
    if mode == 'train':
      controller.train(steps=config.train_steps)
      logs = {}
    elif mode == 'train_and_eval':
      logs = controller.train_and_evaluate(
          train_steps=config.train_steps, eval_steps=config.validation_steps,
          eval_interval=config.validation_interval)
    elif mode == 'eval':
      logs = controller.evaluate(steps=config.validation_steps)
    else:
      logs = controller.evaluate_continuously(
          steps=config.validation_steps,
          timeout=config.continuous_eval_timeout,
          timeout_fn=lambda: trainer.global_step.numpy() >= config.train_steps)
  return trainer.model, logs or {}


def main(_):
  try:
    if not FLAGS.model_dir:
      raise config_validation.ConfigError('--model_dir is required.')
    params = parse_params(FLAGS)
  except config_validation.ConfigError as e:
    sys.exit(f'error: {e}')
  run(params, FLAGS.mode, FLAGS.model_dir)


if __name__ == '__main__':
  tfm_flags.define_flags()
  flags.mark_flag_as_required('experiment')
  flags.mark_flag_as_required('mode')
  logging.set_verbosity(logging.INFO)
  app.run(main)
