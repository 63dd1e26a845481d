"""Records deleted while training runs stop the input naming them, or are
skipped and reported; the input never waits on them."""
import os
import subprocess
import sys

import pytest
import tensorflow as tf
import yaml

from cvrl_tf.dataloaders import video_input
from tiny_experiments import tiny_pretrain
from toy_records import write_toy_records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(REPO, 'tests', 'vanishing_records_worker.py')
# A hang guard: generous, as the machine may be shared.
TIMEOUT = 300
GONE = 'file not found: it was deleted or moved after the input pipeline'


def test_trainer_stops_naming_records_deleted_once_the_input_was_built(
    tmp_path):
  pattern = write_toy_records(str(tmp_path), videos_per_class=1,
                              max_frames=8)
  files = tf.io.gfile.glob(pattern)
  # The reproducible settings, whose input is saved with each checkpoint.
  params = tiny_pretrain(pattern, train_steps=16, checkpoint_interval=3,
                         spatial_augmentation=False)
  params.override({'task': {'deterministic': True,
                            'train_data': {'global_batch_size': 2}},
                   'trainer': {'steps_per_loop': 1}})
  config = tmp_path / 'config.yaml'
  config.write_text(yaml.safe_dump(params.as_dict()))
  try:
    result = subprocess.run(
        [sys.executable, WORKER, '--experiment=cvrl_pretrain',
         f'--config_file={config}', '--mode=train',
         f'--model_dir={tmp_path / "model"}'],
        cwd=REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'),
        capture_output=True, text=True, timeout=TIMEOUT)
  except subprocess.TimeoutExpired as e:
    pytest.fail(f'the trainer still ran {TIMEOUT} s after its records were '
                f'deleted:\n{(e.stderr or b"")[-3000:]!r}')
  assert not any(os.path.exists(path) for path in files)
  assert result.returncode == 1, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines()
            if line.startswith('error:')]
  assert len(errors) == 1 and 'Traceback' not in result.stderr, (
      result.stderr[-3000:])
  assert any(f'bad record in {path}: {GONE}' in errors[0] for path in files)


@pytest.mark.timeout(TIMEOUT, method='thread')
def test_skipping_reports_records_deleted_between_epochs(
    tmp_path, monkeypatch, capfd):
  monkeypatch.setattr(video_input, 'MAX_BAD_IN_A_ROW', 6)
  pattern = write_toy_records(str(tmp_path), videos_per_class=1,
                              max_frames=8)
  deleted, kept = sorted(tf.io.gfile.glob(pattern))
  params = tiny_pretrain(pattern, train_steps=1,
                         spatial_augmentation=False).task.train_data
  params = params.replace(global_batch_size=2, skip_bad_records=True,
                          output_video_id=True)
  kept_ids, _ = video_input.read_ids_and_labels(
      params.replace(input_path=kept))
  batches = iter(video_input.build_dataset(params))
  next(batches)
  os.remove(deleted)
  # Every epoch from here on reads the kept file alone, once the videos read
  # before the deletion (shuffle buffer, prefetched batches) are used up.
  ids = [i.decode() for _ in range(60)
         for i in next(batches)[0]['video_id'].numpy()]
  assert set(ids[-20:]) <= set(kept_ids)
  assert f'skipped bad record in {deleted}: {GONE}' in capfd.readouterr().err
  os.remove(kept)
  with pytest.raises(tf.errors.FailedPreconditionError):
    for _ in batches:
      pass
  assert ('stopped reading the input: 6 bad records in a row'
          in capfd.readouterr().err)
