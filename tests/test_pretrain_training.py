"""CVRL pretraining through orbit on rendered toy videos."""
import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf import train
from cvrl_tf.tasks import pretrain
from tiny_experiments import tiny_pretrain
from toy_records import write_toy_records

TRAIN_STEPS = 40


@pytest.fixture(scope='module')
def record_pattern(tmp_path_factory):
  return write_toy_records(str(tmp_path_factory.mktemp('records')),
                           videos_per_class=2, size=32)


@pytest.fixture(scope='module')
def trained_dir(record_pattern, tmp_path_factory):
  """A model_dir trained to TRAIN_STEPS, saved at its last step only."""
  model_dir = str(tmp_path_factory.mktemp('trained'))
  train.run(tiny_pretrain(record_pattern, train_steps=TRAIN_STEPS,
                          checkpoint_interval=TRAIN_STEPS), 'train', model_dir)
  return model_dir


def mean_loss(task, model, batches):
  """Contrastive loss on fixed batches, BN on batch statistics."""
  return float(np.mean([
      task.contrastive_outputs(features['image'], model,
                               training=True)['contrastive_loss'].numpy()
      for features, _ in batches]))


def test_training_reduces_the_loss(record_pattern, trained_dir):
  params = tiny_pretrain(record_pattern, train_steps=TRAIN_STEPS,
                         checkpoint_interval=TRAIN_STEPS)
  task = pretrain.CVRLPretrainTask(params.task)
  batches = list(task.build_inputs(params.task.train_data).take(3))
  loss_before = mean_loss(task, task.build_model(), batches)

  trained = task.build_model()
  latest = tf.train.latest_checkpoint(trained_dir)
  assert latest.endswith(f'ckpt-{TRAIN_STEPS}')
  tf.train.Checkpoint(model=trained).read(latest).expect_partial()
  loss_after = mean_loss(task, trained, batches)
  # Chance level for 2 x 8 views is about 2 log(15) = 5.4.
  assert loss_before > 4.5
  assert loss_after < loss_before - 0.5, (loss_before, loss_after)


def test_restart_resumes_from_the_saved_step(record_pattern, trained_dir,
                                             tmp_path, caplog):
  # A copy of the trained run (modification times kept): its last
  # checkpoint is the one the restart resumes from.
  model_dir = str(tmp_path / 'model')
  shutil.copytree(trained_dir, model_dir)
  saved = f'ckpt-{TRAIN_STEPS}'
  first_run_files = {
      name: os.path.getmtime(os.path.join(model_dir, name))
      for name in os.listdir(model_dir) if name.startswith(saved)}
  assert first_run_files

  # The progress lines are absl INFO logs; absl's own logger filters them
  # unless its level is lowered too.
  caplog.set_level(logging.INFO, logger='absl')
  resumed_steps = TRAIN_STEPS + 5
  train.run(tiny_pretrain(record_pattern, train_steps=resumed_steps,
                          spatial_augmentation=False), 'train', model_dir)

  progress = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith('step ')]
  last = f'step {resumed_steps}/{resumed_steps}'
  assert progress and all(m.startswith(last) for m in progress), progress
  assert tf.train.latest_checkpoint(model_dir).endswith(
      f'ckpt-{resumed_steps}')
  for name, mtime in first_run_files.items():
    assert os.path.getmtime(os.path.join(model_dir, name)) == mtime
  reader = tf.train.load_checkpoint(model_dir)
  assert reader.get_tensor(
      'global_step/.ATTRIBUTES/VARIABLE_VALUE') == resumed_steps
  assert reader.get_tensor(
      'optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE') == resumed_steps
