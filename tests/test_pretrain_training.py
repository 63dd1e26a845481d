"""CVRL pretraining through orbit on rendered toy videos."""
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf import train
from cvrl_tf.tasks import pretrain
from tiny_experiments import tiny_pretrain
from toy_records import write_toy_records


@pytest.fixture(scope='module')
def record_pattern(tmp_path_factory):
  return write_toy_records(str(tmp_path_factory.mktemp('records')),
                           videos_per_class=2, size=32)


def mean_loss(task, model, batches):
  """Contrastive loss on fixed batches, BN on batch statistics."""
  return float(np.mean([
      task.contrastive_outputs(features['image'], model,
                               training=True)['contrastive_loss'].numpy()
      for features, _ in batches]))


def test_training_reduces_the_loss(record_pattern, tmp_path):
  params = tiny_pretrain(record_pattern, train_steps=40, checkpoint_interval=40)
  task = pretrain.CVRLPretrainTask(params.task)
  batches = list(task.build_inputs(params.task.train_data).take(3))
  initial = task.build_model()
  loss_before = mean_loss(task, initial, batches)

  train.run(params, 'train', str(tmp_path))

  trained = task.build_model()
  latest = tf.train.latest_checkpoint(str(tmp_path))
  assert latest.endswith('ckpt-40')
  tf.train.Checkpoint(model=trained).read(latest).expect_partial()
  loss_after = mean_loss(task, trained, batches)
  # Chance level for 2 x 8 views is about 2 log(15) = 5.4.
  assert loss_before > 4.5
  assert loss_after < loss_before - 0.5, (loss_before, loss_after)


def test_restart_resumes_from_the_saved_step(record_pattern, tmp_path,
                                             caplog):
  model_dir = str(tmp_path)
  train.run(tiny_pretrain(record_pattern, train_steps=10,
                          spatial_augmentation=False), 'train', model_dir)
  assert tf.train.latest_checkpoint(model_dir).endswith('ckpt-10')
  first_run_files = {
      name: os.path.getmtime(os.path.join(model_dir, name))
      for name in os.listdir(model_dir) if name.startswith('ckpt-10')}

  # The progress lines are absl INFO logs; absl's own logger filters them
  # unless its level is lowered too.
  caplog.set_level(logging.INFO, logger='absl')
  train.run(tiny_pretrain(record_pattern, train_steps=15,
                          spatial_augmentation=False), 'train', model_dir)

  progress = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith('step ')]
  assert progress and all(m.startswith('step 15/15') for m in progress), (
      progress)
  assert tf.train.latest_checkpoint(model_dir).endswith('ckpt-15')
  for name, mtime in first_run_files.items():
    assert os.path.getmtime(os.path.join(model_dir, name)) == mtime
  reader = tf.train.load_checkpoint(model_dir)
  assert reader.get_tensor('global_step/.ATTRIBUTES/VARIABLE_VALUE') == 15
  assert reader.get_tensor(
      'optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE') == 15
