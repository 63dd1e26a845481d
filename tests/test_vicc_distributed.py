"""ViCC's Sinkhorn and queue under two replicas equal the global batch's.

The two-replica run (tests/vicc_replica_worker.py, its own process: logical
devices must be set before TensorFlow starts) is compared with the same
steps on one device over the global batch, and with the authors' per-GPU
queues (`ViCC2.forward` on each GPU, `distributed_sinkhorn` all-reducing
over GPUs) written in NumPy.
"""
import numpy as np
import tensorflow as tf

from step_worker_process import run_step_worker
import vicc_reference as ref
import vicc_replica_worker as worker


def single_device_run():
  batches, prototypes = worker.replica_inputs()
  layer, queue = worker.build_layers(prototypes)
  steps = [worker.vicc_step(layer, queue, tf.constant(batch, tf.float32),
                            tf.constant(step, tf.int64))
           for step, batch in enumerate(batches)]
  return (np.stack([codes.numpy() for codes, _ in steps]),
          [bool(in_use) for _, in_use in steps], queue.embeddings.numpy())


def vicc_per_gpu_codes():
  """ViCC on `REPLICAS` GPUs: each its own queue of its own embeddings."""
  batches, prototypes = worker.replica_inputs()
  prototypes = (prototypes / np.linalg.norm(prototypes, axis=0)).T  # [K, D]
  local = worker.GLOBAL_BATCH // worker.REPLICAS
  queues = [np.zeros((worker.QUEUE_LENGTH // worker.REPLICAS, ref.DIM))
            for _ in range(worker.REPLICAS)]
  codes = []
  for batch in batches:
    shares = [batch[g * local:(g + 1) * local] for g in range(worker.REPLICAS)]
    outs = []
    for queue, share in zip(queues, shares):
      out = share @ prototypes.T
      if not np.all(queue[-1, :] == 0):
        out = np.concatenate([queue @ prototypes.T, out])
      queue[local:] = queue[:-local].copy()
      queue[:local] = share
      outs.append(out)
    codes.append(np.concatenate(
        [q[-local:] for q in ref.distributed_sinkhorn(outs)]))
  return np.stack(codes)


def test_two_replicas_match_the_global_batch(tmp_path):
  out = run_step_worker('vicc_replica_worker.py', tmp_path / 'out.npz',
                        timeout=300)
  codes, in_use, queue = single_device_run()
  # The queue takes part once full: from step QUEUE_LENGTH / GLOBAL_BATCH.
  assert in_use == [False, False, True, True]
  assert out['in_use'].tolist() == [[u, u] for u in in_use]
  np.testing.assert_allclose(out['codes'], codes, rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(out['codes'], vicc_per_gpu_codes(), rtol=1e-4,
                             atol=1e-7)
  # Both replicas hold the global queue, replica 0's rows first.
  for replica_queue in out['queues']:
    np.testing.assert_allclose(replica_queue, queue, rtol=1e-6)
  batches, _ = worker.replica_inputs()
  np.testing.assert_allclose(queue[0], np.concatenate(batches[::-1][:2]),
                             rtol=1e-6)
  for replica_prototypes in out['prototypes']:
    np.testing.assert_allclose(np.linalg.norm(replica_prototypes, axis=0),
                               1.0, rtol=1e-6)
