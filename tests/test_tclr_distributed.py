"""TCLR's loss under MirroredStrategy equals the global-batch loss."""
import os
import subprocess
import sys

import numpy as np

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
TERMS = ('sparse_instance_loss', 'dense_instance_loss', 'local_local_loss',
         'global_local_loss', 'tclr_loss')


def test_two_replica_gradients_match_single_device_gradients(tmp_path):
  """With `clip_batches: joint`, one backbone call per step.

  The default, 'separate', differs only in calling the backbone once per
  clip batch; its graph holds ten backbones and takes minutes of CPU to
  build under two replicas, so the suite runs the joint model.
  """
  output = tmp_path / 'out.npz'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
             PYTHONPATH=os.pathsep.join([TESTS_DIR, os.path.dirname(
                 TESTS_DIR), os.environ.get('PYTHONPATH', '')]))
  result = subprocess.run(
      [sys.executable, os.path.join(TESTS_DIR, 'tclr_step_worker.py'),
       str(output), 'joint'], env=env, capture_output=True, text=True,
      timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  out = np.load(output)
  assert out['all_sync_bn']
  # Every term, averaged over replicas, is the term on the global batch:
  # instance negatives come from both replicas, local sums are rescaled.
  for term in TERMS:
    np.testing.assert_allclose(out[f'mirrored_{term}'], out[f'single_{term}'],
                               rtol=1e-4, err_msg=term)
  # A missing all-gather or a wrong scale of a term would differ by tens of
  # percent. Synchronised BatchNorm takes the variance as E[x^2] - E[x]^2
  # over replicas where the single device takes it in two passes, which
  # moves the tiny model's gradients by up to ~3e-3 of their largest.
  assert out['max_gradient'] > 1e-3
  assert out['max_difference'] < 1e-2 * out['max_gradient'], (
      float(out['max_difference']), float(out['max_gradient']))
