"""ViCC through the trainer binary across a stage boundary, then evaluated."""
import math
import re

import pytest
import tensorflow as tf

from tiny_experiments import tiny_vicc_pretrain
from tiny_experiments import tiny_vicc_stages
from toy_records import write_toy_records
from trainer_binary import linear_eval_keeps_backbone
from trainer_binary import train_toy_preset

# RGB alone for the first step, flow across streams for the second.
STAGES = [tiny_vicc_stages()[0], tiny_vicc_stages()[3]]


@pytest.fixture(scope='module')
def patterns(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('records'))
  return (write_toy_records(directory, 'train', videos_per_class=1,
                            flow='farneback'),
          write_toy_records(directory, 'test', videos_per_class=1))


def tiny_task(train_pattern: str) -> dict:
  """The toy YAML's task shrunk to the tiny test sizes."""
  tiny = tiny_vicc_pretrain(train_pattern, stages=STAGES).as_dict()
  task = {key: tiny['task'][key] for key in ('model', 'losses', 'recipe')}
  task['train_data'] = {key: tiny['task']['train_data'][key] for key in (
      'input_path', 'global_batch_size', 'feature_shape', 'seed',
      'shuffle_buffer_size', 'temporal_stride')}
  return task


@pytest.fixture(scope='module')
def pretrained(patterns, tmp_path_factory):
  """(model_dir, trainer log) of a 2-step ViCC run of the trainer binary."""
  model_dir = str(tmp_path_factory.mktemp('vicc'))
  return model_dir, train_toy_preset(
      'vicc_pretrain', 'vicc_pretrain_toy.yaml', tiny_task(patterns[0]),
      model_dir)


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
  linear_eval_keeps_backbone(patterns, pretrained[0], str(tmp_path))
