"""TCLR through the trainer binary, then evaluated from its checkpoint."""
import pytest
import tensorflow as tf

from cvrl_tf import train
from tiny_experiments import TINY_BACKBONE
from tiny_experiments import tiny_knn
from tiny_experiments import tiny_tclr_pretrain
from toy_records import write_toy_records
from trainer_binary import linear_eval_keeps_backbone
from trainer_binary import train_two_steps

TERMS = ('instance_loss', 'local_local_loss', 'global_local_loss')


@pytest.fixture(scope='module')
def patterns(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('records'))
  return (write_toy_records(directory, 'train', videos_per_class=1),
          write_toy_records(directory, 'test', videos_per_class=1))


def tiny_task(train_pattern: str) -> dict:
  """The toy YAML's task shrunk to the tiny test sizes."""
  tiny = tiny_tclr_pretrain(train_pattern, train_steps=2).as_dict()
  task = {key: tiny['task'][key] for key in ('model', 'recipe')}
  task['train_data'] = {key: tiny['task']['train_data'][key] for key in (
      'input_path', 'global_batch_size', 'feature_shape', 'seed',
      'shuffle_buffer_size', 'tclr_clips')}
  task['model']['backbone'] = TINY_BACKBONE
  return task


@pytest.fixture(scope='module')
def pretrained(patterns, tmp_path_factory):
  """(model_dir, trainer log) of a 2-step TCLR run of the trainer binary."""
  model_dir = str(tmp_path_factory.mktemp('tclr'))
  return model_dir, train_two_steps('tclr_pretrain', 'tclr_pretrain_toy.yaml',
                                    tiny_task(patterns[0]), model_dir)


def test_trainer_logs_every_term_and_checkpoints(pretrained):
  model_dir, log = pretrained
  for term in TERMS:
    assert f' {term}=' in log, term
  assert tf.train.latest_checkpoint(model_dir).endswith('-2')


def test_knn_eval_loads_the_tclr_backbone(patterns, pretrained, tmp_path):
  params = tiny_knn(*patterns, init_checkpoint=pretrained[0])
  _, logs = train.run(params, 'eval', str(tmp_path))
  assert 0.0 <= logs['recall@1'] <= logs['recall@5'] <= 1.0


def test_linear_eval_loads_the_tclr_backbone(patterns, pretrained, tmp_path):
  linear_eval_keeps_backbone(patterns, pretrained[0], str(tmp_path))
