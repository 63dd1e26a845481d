"""Inputs saved in deterministic checkpoints by earlier code.

The photometric parameters drawn per view gained `solarize` (with the
authors' asymmetric blur and solarization). A deterministic run saves its
input iterator in every checkpoint; one saved before that change must
either continue with the same batches or stop with a one-line error that
names the cause, never a traceback from inside tf.data.

`test_input_saved_without_solarize` saves the current pipeline with the
parameters as they were: that change alone. tests/testdata/
presolarize_checkpoint/ is a checkpoint of the code of that time: one step
of a tiny deterministic run with device augmentation, trained by the commit
before `solarize` (tests/testdata/make_presolarize_checkpoint.py wrote it).
The current trainer resumes it; moved records stop the restore with one
line.
"""
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf.configs import validation
from cvrl_tf.ops import color_ops
from cvrl_tf.tasks import pretrain
from cvrl_tf.training import determinism
from testdata import make_presolarize_checkpoint as presolarize
from test_train_cli import error_lines, run_trainer
from tiny_experiments import tiny_pretrain
from toy_records import write_toy_records


def resume_override(records: str) -> str:
  """`--params_override` resuming the saved run on `records` for a step.

  The current code builds the old code's model with the head the old code
  had (SimCLR's): the default head changed since.
  """
  return (f'task.model.projection_head=simclr,'
          f'task.train_data.input_path={records},trainer.train_steps=2')


@pytest.fixture(scope='module')
def record_pattern(tmp_path_factory):
  return write_toy_records(str(tmp_path_factory.mktemp('records')),
                           videos_per_class=1, size=32)


@pytest.fixture(scope='module')
def presolarize_records():
  """The records the saved run read: the same toy videos, at the same path."""
  os.makedirs(presolarize.RECORDS_DIR, exist_ok=True)
  return write_toy_records(presolarize.RECORDS_DIR, **presolarize.RECORDS)


def _before_solarization(sample):
  """`sample_photometric_params` as it was: the same draws, no `solarize`."""
  def sample_without_solarize(*args, **kwargs):
    params = sample(*args, **kwargs)
    del params['solarize']
    return params
  return sample_without_solarize


@pytest.mark.parametrize('device_augmentation', [False, True])
def test_input_saved_without_solarize(record_pattern, tmp_path, monkeypatch,
                                      device_augmentation):
  """The same pipeline, its photometric parameters without `solarize`."""
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


def test_trainer_resumes_a_run_of_the_code_before_solarize(
    presolarize_records, tmp_path):
  """`python -m cvrl_tf.train` continues the saved run, without an error."""
  model_dir = tmp_path / 'model'
  shutil.copytree(presolarize.OUTPUT_DIR, model_dir)
  result = run_trainer(
      '--experiment=cvrl_pretrain',
      f'--config_file={model_dir / presolarize.RUN_YAML}',
      f'--params_override={resume_override(presolarize_records)}',
      '--mode=train', f'--model_dir={model_dir}', timeout=600)
  assert result.returncode == 0 and not error_lines(result), (
      result.stderr[-3000:])
  assert tf.train.latest_checkpoint(str(model_dir)).endswith('ckpt-2')


def test_saved_input_whose_records_moved_is_one_line(record_pattern):
  """The saved input names the file it was reading, which is gone."""
  params = validation.experiment_params(
      'cvrl_pretrain',
      [os.path.join(presolarize.OUTPUT_DIR, presolarize.RUN_YAML)],
      resume_override(record_pattern))
  task = pretrain.CVRLPretrainTask(params.task)
  restored = iter(determinism.host_dataset(task, params.task.train_data, 1))
  with pytest.raises(determinism.InputStateError) as error:
    with determinism.explain_input_restore_errors(presolarize.OUTPUT_DIR):
      tf.train.Checkpoint(train_iterator=restored).read(
          tf.train.latest_checkpoint(presolarize.OUTPUT_DIR)).expect_partial()
  message = str(error.value)
  assert '\n' not in message
  assert message.startswith(
      'the training input saved in the latest checkpoint of '
      f'{presolarize.OUTPUT_DIR} does not fit this input pipeline (its '
      'config or code changed since the save; tf.data could not restore '
      ), message
  assert message.endswith(
      'resume with the same config and code, or with task.deterministic='
      'false to restart the input from its beginning.'), message
