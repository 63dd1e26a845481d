"""A pretraining step under MirroredStrategy equals the global-batch step.

With `losses.loss_over_replicas: sum` (Model Garden's video_ssl, which does
not divide each replica's loss) the update is the number of replicas times
it.
"""
import os
import subprocess
import sys

import numpy as np

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def test_mirrored_train_step_matches_single_device_step(tmp_path):
  output = tmp_path / 'out.npz'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
             PYTHONPATH=os.pathsep.join([TESTS_DIR, os.path.dirname(
                 TESTS_DIR), os.environ.get('PYTHONPATH', '')]))
  result = subprocess.run(
      [sys.executable, os.path.join(TESTS_DIR, 'pretrain_step_worker.py'),
       str(output)], env=env, capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  out = np.load(output)
  assert out['num_batch_norms'] > 10 and out['all_sync_bn']
  # The step moved the weights, identically on both sides up to float32
  # summation order; a wrong gradient scale would differ by ~100%.
  assert out['max_change'] > 1e-2
  assert out['max_difference'] < 2e-4 * out['max_change'], (
      float(out['max_difference']), float(out['max_change']))
  # 2 replicas: twice the update; the default's would differ by ~50%.
  assert out['max_sum_difference'] < 4e-4 * out['max_change'], (
      float(out['max_sum_difference']), float(out['max_change']))
