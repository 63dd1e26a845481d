"""A pretraining step under MirroredStrategy equals the global-batch step.

With `losses.loss_over_replicas: sum` (Model Garden's video_ssl, which does
not divide each replica's loss) the update is the number of replicas times
it.
"""
from step_worker_process import run_step_worker


def test_mirrored_train_step_matches_single_device_step(tmp_path):
  out = run_step_worker('pretrain_step_worker.py', tmp_path / 'out.npz',
                        timeout=900)
  assert out['num_batch_norms'] > 10 and out['all_sync_bn']
  # The step moved the weights, identically on both sides up to float32
  # summation order; a wrong gradient scale would differ by ~100%.
  assert out['max_change'] > 1e-2
  assert out['max_difference'] < 2e-4 * out['max_change'], (
      float(out['max_difference']), float(out['max_change']))
  # 2 replicas: twice the update; the default's would differ by ~50%.
  assert out['max_sum_difference'] < 4e-4 * out['max_change'], (
      float(out['max_sum_difference']), float(out['max_change']))
