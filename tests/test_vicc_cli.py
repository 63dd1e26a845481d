"""ViCC through the trainer binary across a stage boundary, then evaluated."""
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import yaml

from cvrl_tf import train
from tiny_experiments import tiny_classification
from tiny_experiments import tiny_vicc_pretrain
from tiny_experiments import tiny_vicc_stages
from toy_records import write_toy_records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# RGB alone for the first step, flow across streams for the second.
STAGES = [tiny_vicc_stages()[0], tiny_vicc_stages()[3]]


@pytest.fixture(scope='module')
def patterns(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('records'))
  return (write_toy_records(directory, 'train', videos_per_class=1,
                            flow='farneback'),
          write_toy_records(directory, 'test', videos_per_class=1))


def tiny_override(train_pattern: str) -> str:
  """The toy YAML shrunk to the tiny test sizes, as --params_override."""
  tiny = tiny_vicc_pretrain(train_pattern, stages=STAGES).as_dict()
  task = {key: tiny['task'][key] for key in ('model', 'losses', 'recipe')}
  task['train_data'] = {key: tiny['task']['train_data'][key] for key in (
      'input_path', 'global_batch_size', 'feature_shape', 'seed',
      'shuffle_buffer_size', 'temporal_stride')}
  return yaml.safe_dump({'task': task, 'trainer': {
      'train_steps': 2, 'steps_per_loop': 1, 'summary_interval': 1,
      'checkpoint_interval': 2}})


@pytest.fixture(scope='module')
def pretrained(patterns, tmp_path_factory):
  """(model_dir, trainer log) of a 2-step ViCC run of the trainer binary."""
  model_dir = str(tmp_path_factory.mktemp('vicc'))
  result = subprocess.run(
      [sys.executable, '-m', 'cvrl_tf.train', '--experiment=vicc_pretrain',
       '--config_file=experiments/vicc_pretrain_toy.yaml', '--mode=train',
       f'--model_dir={model_dir}',
       f'--params_override={tiny_override(patterns[0])}'],
      cwd=REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'),
      capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  return model_dir, result.stderr


def _logged(log: str, step: int, name: str) -> float:
  line = re.search(rf'step {step}/2 .*', log).group(0)
  return float(re.search(rf' {name}=(\S+)', line).group(1))


def test_each_stage_logs_its_stream_loss_and_checkpoints(pretrained):
  model_dir, log = pretrained
  assert math.isfinite(_logged(log, 1, 'rgb_loss'))
  assert math.isnan(_logged(log, 1, 'flow_loss'))
  assert math.isfinite(_logged(log, 2, 'flow_loss'))
  assert math.isnan(_logged(log, 2, 'rgb_loss'))
  checkpoint = tf.train.latest_checkpoint(model_dir)
  assert checkpoint.endswith('-2')
  roots = {name.split('/')[0] for name, _ in
           tf.train.list_variables(checkpoint)}
  assert {'backbone', 'flow_backbone', 'model'} <= roots


def test_linear_eval_loads_the_rgb_backbone(patterns, pretrained, tmp_path):
  params = tiny_classification('cvrl_linear_eval', *patterns,
                               train_steps=1, init_checkpoint=pretrained[0])
  _, logs = train.run(params, 'train_and_eval', str(tmp_path))
  reader = tf.train.load_checkpoint(pretrained[0])
  loaded = tf.train.load_checkpoint(str(tmp_path))
  names = [n for n, _ in tf.train.list_variables(pretrained[0])
           if n.startswith('backbone/') and n.endswith('VARIABLE_VALUE')
           and 'OPTIMIZER_SLOT' not in n]
  assert len(names) > 50
  for name in names:  # Frozen: the linear probe keeps ViCC's RGB weights.
    np.testing.assert_array_equal(reader.get_tensor(name),
                                  loaded.get_tensor(name), err_msg=name)
  assert 0.0 <= logs['top1'] <= 1.0
