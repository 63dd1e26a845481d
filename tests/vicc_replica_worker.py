"""ViCC's per-step codes and queue under MirroredStrategy on two CPUs.

  python vicc_replica_worker.py OUT.npz

Each step, inside `strategy.run`: normalise the prototypes, score this
replica's half of the global batch, read the queue, Sinkhorn over both
replicas' rows and the queue, push the batch. OUT.npz gets, per step, the
codes of the global batch (replica 0's rows first) and whether the queue
was in use, and each replica's final queue and prototypes.
`replica_inputs` makes the global batches and prototypes, shared with the
test's single-device run.
"""
import sys

import numpy as np
import tensorflow as tf

from cvrl_tf.losses import vicc
from cvrl_tf.modeling.embedding_queue import EmbeddingQueue
from cvrl_tf.modeling.prototypes import Prototypes
import vicc_reference as ref

REPLICAS = 2
GLOBAL_BATCH = 4
QUEUE_LENGTH = 8
STEPS = 4


def replica_inputs():
  """([STEPS, GLOBAL_BATCH, D] embeddings, [D, K] unnormalised prototypes)."""
  rng = np.random.default_rng(5)
  batches = np.stack([ref.normalised(rng, GLOBAL_BATCH)
                      for _ in range(STEPS)])
  return batches, rng.normal(size=(ref.DIM, ref.PROTOTYPES))


def build_layers(prototypes):
  layer = Prototypes(ref.PROTOTYPES)
  layer.build([None, ref.DIM])
  layer.kernel.assign(prototypes)
  return layer, EmbeddingQueue(1, QUEUE_LENGTH, ref.DIM)


def vicc_step(prototypes, queue, embeddings, step):
  """Codes of `embeddings` [n, D] ([n, K]) and whether the queue took part."""
  prototypes.normalize()
  rows, in_use = queue.read(0, step, 0)
  codes = vicc.sinkhorn_knopp(prototypes(embeddings),
                              queue_scores=prototypes(rows),
                              use_queue=in_use)
  with tf.control_dependencies([codes]):
    push = queue.push(0, embeddings, step, 0)
  with tf.control_dependencies([push]):
    return tf.identity(codes), in_use


def main(output_path: str) -> None:
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * REPLICAS)
  strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
  batches, prototypes = replica_inputs()
  with strategy.scope():
    layer, queue = build_layers(prototypes)
  local = GLOBAL_BATCH // REPLICAS

  @tf.function
  def step_fn(embeddings, step):
    return strategy.run(vicc_step, args=(layer, queue, embeddings, step))

  codes, in_use = [], []
  for step in range(STEPS):
    embeddings = strategy.experimental_distribute_values_from_function(
        lambda context, s=step: tf.constant(
            batches[s][context.replica_id_in_sync_group * local:][:local],
            tf.float32))
    step_codes, step_in_use = step_fn(embeddings, tf.constant(step, tf.int64))
    codes.append(np.concatenate(
        [c.numpy() for c in strategy.experimental_local_results(step_codes)]))
    in_use.append([bool(u) for u in
                   strategy.experimental_local_results(step_in_use)])
  np.savez(output_path, codes=np.stack(codes), in_use=np.array(in_use),
           queues=np.stack([v.numpy() for v in queue.embeddings.values]),
           prototypes=np.stack([v.numpy() for v in layer.kernel.values]))


if __name__ == '__main__':
  main(sys.argv[1])
