"""A pretraining step under MirroredStrategy equals the global-batch step.

With `losses.loss_over_replicas: sum` (Model Garden's video_ssl, which does
not divide each replica's loss) the update is the number of replicas times
it, and equals that of Model Garden's own video_ssl task on the same
replicas. One worker process computes every case (logical devices must be
set before TensorFlow starts).
"""
import pytest

from step_worker_process import run_step_worker
import test_model_garden_step


@pytest.fixture(scope='module')
def out(tmp_path_factory):
  return run_step_worker('pretrain_step_worker.py',
                         tmp_path_factory.mktemp('worker') / 'out.npz',
                         timeout=1200)


def test_mirrored_train_step_matches_single_device_step(out):
  assert out['num_batch_norms'] > 10 and out['all_sync_bn']
  # The step moved the weights, identically on both sides up to float32
  # summation order; a wrong gradient scale would differ by ~100%.
  assert out['max_change'] > 1e-2
  assert out['max_difference'] < 2e-4 * out['max_change'], (
      float(out['max_difference']), float(out['max_change']))
  # 2 replicas: twice the update; the default's would differ by ~50%.
  assert out['max_sum_difference'] < 4e-4 * out['max_change'], (
      float(out['max_sum_difference']), float(out['max_change']))


def test_summed_replica_losses_step_as_model_garden_does(out):
  """Ours with `sum` and Model Garden's video_ssl task, on 2 CPU replicas.

  Both in float32 from the same weights, each replica on the same half of
  the same batch: the same per-replica losses, and the same trainable
  weights and BatchNorm moving statistics after the step (`mean` would
  halve the update).
  """
  assert out['mg_ours_losses'] == pytest.approx(
      out['mg_theirs_losses'], rel=test_model_garden_step.RTOL)
  assert out['mg_update'] > 1e-2  # The step changed the weights.
  print(f"losses per replica {out['mg_ours_losses']} vs "
        f"{out['mg_theirs_losses']}; largest update {out['mg_update']:.2e}; "
        f"max |ours - theirs|: weights {out['mg_weights_difference']:.2e}, "
        f"BN moving statistics {out['mg_moving_difference']:.2e}")
  # Float32 summation order: the two synchronise BatchNorm with different
  # Keras layers (measured: 1.9e-6 for an update of 0.73). `mean` would
  # halve the update, a difference of 0.36.
  assert out['mg_weights_difference'] < 1e-5 * out['mg_update']
  assert out['mg_moving_difference'] < 1e-5 * out['mg_update']
