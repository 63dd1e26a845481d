"""The trainer CLI pretrains on a TFDS dataset, then evaluates linearly.

TFDS is mocked in the trainer's process (`tfds_mock_train_worker.py`), so
the run is offline; everything else is the real binary with Model Garden's
flags.
"""
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf
import yaml

import tiny_experiments
from tfds_mock import UCF101

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)


def tfds_data(split, **overrides):
  return tiny_experiments.tiny_data(
      '', **{'tfds_name': UCF101, 'tfds_split': split, 'global_batch_size': 4,
             **overrides})


def write_config(path, config):
  with open(path, 'w') as f:
    yaml.safe_dump(config, f)
  return str(path)


def run_trainer(experiment, config_file, mode, model_dir):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  result = subprocess.run(
      [sys.executable, os.path.join(TESTS, 'tfds_mock_train_worker.py'),
       f'--experiment={experiment}', f'--config_file={config_file}',
       f'--mode={mode}', f'--model_dir={model_dir}'],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Traceback' not in result.stderr
  return result


def backbone_values(model_dir):
  path = tf.train.latest_checkpoint(model_dir)
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name)
          for name, _ in tf.train.list_variables(path)
          if name.startswith('backbone/') and name.endswith('VARIABLE_VALUE')
          and '.OPTIMIZER_SLOT' not in name}


def summary_values(directory, tag):
  values = []
  for name in tf.io.gfile.listdir(directory):
    for event in tf.compat.v1.train.summary_iterator(
        os.path.join(directory, name)):
      for value in event.summary.value:
        if value.tag == tag:
          values.append(float(tf.make_ndarray(value.tensor)))
  return values


def test_pretrain_then_linear_eval_from_tfds(tmp_path):
  pretrain_dir, linear_dir = tmp_path / 'pretrain', tmp_path / 'linear'
  # What is tested is the TFDS input, not the training views: spatial
  # augmentation off in both runs (see `tiny_experiments.tiny_pretrain`).
  no_spatial = {'spatial': {'enabled': False}}
  run_trainer('cvrl_pretrain', write_config(tmp_path / 'pretrain.yaml', {
      'runtime': tiny_experiments.CPU_RUNTIME,
      'task': {'model': tiny_experiments.TINY_CVRL_MODEL,
               'train_data': tfds_data('train', augmentation=no_spatial),
               'validation_data': tfds_data('test')},
      'trainer': tiny_experiments.schedule(2, 1.0, checkpoint_interval=2),
  }), 'train', pretrain_dir)
  assert os.path.basename(tf.train.latest_checkpoint(str(pretrain_dir))) == (
      'ckpt-2')
  assert summary_values(str(pretrain_dir / 'train'), 'contrastive_loss') or (
      summary_values(str(pretrain_dir / 'train'), 'training_loss'))

  eval_data = dict(num_classes=101, min_image_size=32, num_test_clips=2,
                   num_test_crops=1, global_batch_size=2)
  run_trainer('cvrl_linear_eval', write_config(tmp_path / 'linear.yaml', {
      'runtime': tiny_experiments.CPU_RUNTIME,
      'task': {'model': {'backbone': tiny_experiments.TINY_BACKBONE},
               'train_data': tfds_data('train', num_classes=101,
                                       augmentation=no_spatial),
               'validation_data': tfds_data('test', **eval_data),
               'init_checkpoint': str(pretrain_dir)},
      'trainer': {**tiny_experiments.schedule(2, 0.1, 2),
                  'validation_steps': 2},
  }), 'train_and_eval', linear_dir)
  before, after = backbone_values(str(pretrain_dir)), backbone_values(
      str(linear_dir))
  assert before.keys() == after.keys() and len(before) > 50
  for name in before:  # the frozen backbone is the pretrained one
    np.testing.assert_array_equal(before[name], after[name], err_msg=name)
  top1 = summary_values(str(linear_dir / 'validation'), 'top1')
  assert top1 and all(0.0 <= value <= 1.0 for value in top1)
