"""Runs the trainer binary for a short pretraining, as a user would, and
evaluates its checkpoint."""
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf
import yaml

from cvrl_tf import train
from tiny_experiments import tiny_classification

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Two steps, each its own train loop (one log line each), a checkpoint at
# the end.
TWO_STEPS = {'train_steps': 2, 'steps_per_loop': 1, 'summary_interval': 1,
             'checkpoint_interval': 2}


def train_toy_preset(experiment: str, yaml_name: str, task_override: dict,
                     model_dir: str, trainer_override: dict = None) -> str:
  """`python -m cvrl_tf.train` with a toy YAML shrunk by `task_override`.

  Trains as `trainer_override` says (`TWO_STEPS` by default), resuming from
  the latest checkpoint of `model_dir` if any. Returns the trainer's log
  (stderr); fails the test on an error.
  """
  override = yaml.safe_dump({'task': task_override,
                             'trainer': trainer_override or TWO_STEPS})
  result = subprocess.run(
      [sys.executable, '-m', 'cvrl_tf.train', f'--experiment={experiment}',
       f'--config_file=experiments/{yaml_name}', '--mode=train',
       f'--model_dir={model_dir}', f'--params_override={override}'],
      cwd=REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'),
      capture_output=True, text=True, timeout=2400)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stderr


def linear_eval_keeps_backbone(patterns, pretrained_dir: str,
                               eval_dir: str) -> dict:
  """One linear-evaluation step from `pretrained_dir`'s `backbone` item.

  Checks that the probe trained on exactly the pretrained backbone (it is
  frozen, so its weights in the evaluation's checkpoint equal the
  pretrained ones) and returns the evaluation logs.
  """
  params = tiny_classification('cvrl_linear_eval', *patterns, train_steps=1,
                               init_checkpoint=pretrained_dir)
  _, logs = train.run(params, 'train_and_eval', eval_dir)
  reader = tf.train.load_checkpoint(pretrained_dir)
  loaded = tf.train.load_checkpoint(eval_dir)
  names = [n for n, _ in tf.train.list_variables(pretrained_dir)
           if n.startswith('backbone/') and n.endswith('VARIABLE_VALUE')
           and 'OPTIMIZER_SLOT' not in n]
  assert len(names) > 50
  for name in names:
    np.testing.assert_array_equal(reader.get_tensor(name),
                                  loaded.get_tensor(name), err_msg=name)
  assert 0.0 <= logs['top1'] <= 1.0
  return logs
