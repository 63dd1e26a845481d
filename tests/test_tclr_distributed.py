"""TCLR's loss under MirroredStrategy equals the global-batch loss."""
import numpy as np

from step_worker_process import run_step_worker

TERMS = ('sparse_instance_loss', 'dense_instance_loss', 'local_local_loss',
         'global_local_loss', 'tclr_loss')


def test_two_replica_gradients_match_single_device_gradients(tmp_path):
  """With `clip_batches: joint`, one backbone call per step.

  The default, 'separate', differs only in calling the backbone once per
  clip batch (ten calls), so the suite runs the joint model. Both sides run
  eagerly; the traced step under a strategy is what
  test_multiworker_pretrain trains.
  """
  out = run_step_worker('tclr_step_worker.py', tmp_path / 'out.npz', 'joint',
                        timeout=600)
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
