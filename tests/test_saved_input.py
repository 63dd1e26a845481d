"""Inputs saved in deterministic checkpoints by earlier code.

The photometric parameters drawn per view gained `solarize` (with the
authors' asymmetric blur and solarization). A deterministic run saves its
input iterator in every checkpoint; one saved before that change must
either continue with the same batches or stop with a one-line error that
names the cause, never a traceback from inside tf.data.
"""
import re

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf.ops import color_ops
from cvrl_tf.tasks import pretrain
from cvrl_tf.training import determinism
from tiny_experiments import tiny_pretrain
from toy_records import write_toy_records


@pytest.fixture(scope='module')
def record_pattern(tmp_path_factory):
  return write_toy_records(str(tmp_path_factory.mktemp('records')),
                           videos_per_class=1, size=32)


def _before_solarization(sample):
  """`sample_photometric_params` as it was: the same draws, no `solarize`."""
  def sample_without_solarize(*args, **kwargs):
    params = sample(*args, **kwargs)
    del params['solarize']
    return params
  return sample_without_solarize


@pytest.mark.parametrize('device_augmentation', [False, True])
def test_input_saved_before_solarization(record_pattern, tmp_path,
                                         monkeypatch, device_augmentation):
  params = tiny_pretrain(record_pattern, 2)
  # Without colour jitter: its host kernels' compilation would dominate.
  params.override({'task': {'deterministic': True, 'train_data': {
      'seed': 3, 'global_batch_size': 2,
      'augmentation': {'device_augmentation': device_augmentation,
                       'spatial': {'color_jitter_prob': 0.0}}}}})
  task = pretrain.CVRLPretrainTask(params.task)
  data = params.task.train_data

  monkeypatch.setattr(color_ops, 'sample_photometric_params',
                      _before_solarization(color_ops.sample_photometric_params))
  monkeypatch.setattr(color_ops, 'maybe_solarize', lambda frames, _: frames)
  saved = iter(determinism.host_dataset(task, data, 1))
  next(saved)
  path = tf.train.Checkpoint(train_iterator=saved).write(
      str(tmp_path / 'ckpt'))
  expected = next(saved)
  monkeypatch.undo()

  restored = iter(determinism.host_dataset(task, data, 1))
  with determinism.explain_input_restore_errors(str(tmp_path)):
    tf.train.Checkpoint(train_iterator=restored).restore(path)
  if not device_augmentation:
    # The host path's elements are unchanged, and so are its draws: the
    # run continues with the batch it would have read.
    np.testing.assert_array_equal(next(restored)[0]['image'],
                                  expected[0]['image'])
    return
  # The saved batches lack `solarize`: tf.data finds out at the first read.
  with pytest.raises(determinism.InputStateError) as error:
    with determinism.explain_input_restore_errors(str(tmp_path)):
      next(restored)
  message = str(error.value)
  assert '\n' not in message
  counts = re.search(r'holds elements of (\d+) tensors where this input '
                     r'pipeline makes (\d+)', message)
  assert counts and int(counts[1]) + 1 == int(counts[2]), message
  assert '`solarize`' in message and 'task.deterministic=false' in message
