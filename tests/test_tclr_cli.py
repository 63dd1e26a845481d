"""TCLR through the trainer binary, then evaluated from its checkpoint and
resumed from one of its steps."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf import train
from cvrl_tf.tasks import classification
from cvrl_tf.tasks import tclr_pretrain
from test_resume import RESTORED
from test_resume import latest_step
from test_resume import numeric_tensors
from test_resume import progress
from tiny_experiments import TINY_BACKBONE
from tiny_experiments import tiny_classification
from tiny_experiments import tiny_knn
from tiny_experiments import tiny_tclr_pretrain
from toy_records import write_toy_records
from trainer_binary import linear_eval_keeps_backbone
from trainer_binary import train_toy_preset

TERMS = ('instance_loss', 'local_local_loss', 'global_local_loss')
STOP_STEP = 3
TRAIN_STEPS = 2 * STOP_STEP
# Deterministic, a checkpoint after every step, each step its own loop.
RESUMABLE_TRAINER = {'train_steps': TRAIN_STEPS, 'steps_per_loop': 1,
                     'summary_interval': 1, 'checkpoint_interval': 1,
                     'max_to_keep': TRAIN_STEPS}


@pytest.fixture(scope='module')
def patterns(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('records'))
  return (write_toy_records(directory, 'train', videos_per_class=1),
          write_toy_records(directory, 'test', videos_per_class=1))


def tiny_task(train_pattern: str) -> dict:
  """The toy YAML's task shrunk to the tiny test sizes, made resumable.

  Deterministic, and with a plateau schedule that moves within the run: an
  epoch of 2 steps, so that `STOP_STEP` falls inside an epoch, and a
  patience of 1, so that a plateau drops the rate.
  """
  tiny = tiny_tclr_pretrain(train_pattern, TRAIN_STEPS,
                            steps_per_epoch=2).as_dict()
  task = {key: tiny['task'][key] for key in ('model', 'recipe')}
  task['train_data'] = {key: tiny['task']['train_data'][key] for key in (
      'input_path', 'global_batch_size', 'feature_shape', 'seed',
      'shuffle_buffer_size', 'tclr_clips')}
  task['model']['backbone'] = TINY_BACKBONE
  task['model']['clip_batches'] = 'joint'
  task['recipe'].update(warmup_factors=[0.5], plateau_patience_epochs=1)
  task['deterministic'] = True
  return task


def train_binary(train_pattern: str, model_dir: str) -> str:
  """The resumable TCLR run of the trainer binary; its log."""
  return train_toy_preset('tclr_pretrain', 'tclr_pretrain_toy.yaml',
                          tiny_task(train_pattern), model_dir,
                          RESUMABLE_TRAINER)


@pytest.fixture(scope='module')
def pretrained(patterns, tmp_path_factory):
  """(model_dir, trainer log) of a `TRAIN_STEPS`-step TCLR run of the trainer
  binary."""
  model_dir = str(tmp_path_factory.mktemp('tclr'))
  return model_dir, train_binary(patterns[0], model_dir)


def copy_checkpoint(source_dir: str, step: int, model_dir: str) -> int:
  """Makes `source_dir`'s checkpoint of `step` the only one of `model_dir`,
  as a run stopped there leaves it; returns the step it names."""
  os.makedirs(model_dir)
  for name in tf.io.gfile.glob(os.path.join(source_dir, f'ckpt-{step}.*')):
    shutil.copy(name, model_dir)
  tf.compat.v1.train.update_checkpoint_state(
      model_dir, os.path.join(model_dir, f'ckpt-{step}'))
  return latest_step(model_dir)


def test_trainer_logs_every_term_and_checkpoints(pretrained):
  model_dir, log = pretrained
  for term in TERMS:
    assert f' {term}=' in log, term
  assert tf.train.latest_checkpoint(model_dir).endswith(
      f'-{TRAIN_STEPS}')


def test_knn_eval_loads_the_tclr_backbone(patterns, pretrained, tmp_path):
  params = tiny_knn(*patterns, init_checkpoint=pretrained[0])
  _, logs = train.run(params, 'eval', str(tmp_path))
  assert 0.0 <= logs['recall@1'] <= logs['recall@5'] <= 1.0


def test_linear_eval_loads_the_tclr_backbone(patterns, pretrained, tmp_path):
  linear_eval_keeps_backbone(patterns, pretrained[0], str(tmp_path))


def test_finetune_starts_from_the_tclr_backbone(patterns, pretrained):
  """The fine-tune task's backbone holds the TCLR run's trained weights."""
  params = tiny_classification('cvrl_finetune', *patterns,
                               init_checkpoint=pretrained[0])
  task = classification.ClassificationTask(params.task)
  model = task.build_model()
  initial = [w.numpy() for w in model.backbone.weights]
  task.initialize(model)
  # The reference: the TCLR model's backbone, read from the checkpoint.
  tclr = tclr_pretrain.TCLRPretrainTask(
      tiny_tclr_pretrain(patterns[0], TRAIN_STEPS).task).build_model()
  tf.train.Checkpoint(**tclr.checkpoint_items).read(
      tf.train.latest_checkpoint(pretrained[0])).assert_existing_objects_matched()
  pairs = list(zip(model.backbone.weights, tclr.backbone.weights, initial))
  assert len(pairs) == len(tclr.backbone.weights) > 50
  assert model.backbone.trainable  # Fine-tuned, not frozen.
  changed = 0
  for loaded, trained, before in pairs:
    np.testing.assert_array_equal(loaded.numpy(), trained.numpy(),
                                  err_msg=loaded.name)
    changed += not np.array_equal(before, trained.numpy())
  # Not the fine-tune model's own initialisation: the kernels differ.
  assert changed > len(pairs) // 2


def test_resumed_run_ends_with_the_uninterrupted_state(patterns, pretrained,
                                                       tmp_path):
  """Resumed from the checkpoint of step N to 2N: the state of 2N straight
  steps.

  Weights, optimizer slots, the plateau schedule's state (stopped inside an
  epoch) and the saved input, bit for bit.
  """
  straight = pretrained[0]
  resumed = str(tmp_path / 'resumed')
  stopped = copy_checkpoint(straight, STOP_STEP, resumed)
  log = train_binary(patterns[0], resumed)
  assert int(RESTORED.search(log).group(1)) == STOP_STEP, log[-3000:]
  assert sorted(progress(log)) == list(range(STOP_STEP + 1, TRAIN_STEPS + 1))
  assert (latest_step(straight), stopped, latest_step(resumed)) == (
      TRAIN_STEPS, STOP_STEP, TRAIN_STEPS)
  final = numeric_tensors(os.path.join(resumed, f'ckpt-{TRAIN_STEPS}'))
  reference = numeric_tensors(os.path.join(straight, f'ckpt-{TRAIN_STEPS}'))
  assert final.keys() == reference.keys()
  assert any(name.startswith('model/lr_plateau/') for name in final), list(
      final)
  for name, value in reference.items():
    np.testing.assert_array_equal(final[name], value, err_msg=name)
