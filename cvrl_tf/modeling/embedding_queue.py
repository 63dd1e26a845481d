"""ViCC's queues of past embeddings, one per assigned view.

The authors' code (github.com/martinetoering/ViCC, `src/main_single.py` and
`src/main_cross.py` `main_worker`; `src/model/pretrain.py`
`ViCC2.forward`):

- length: `--moco-k 1920`, cut to a multiple of the global batch
  (`moco_k -= moco_k % (batch_size * world_size)`);
- start: at the first epoch >= `--epoch_queue_starts` of a stage (150 for
  RGB and 200 for flow alone, `slurm_scripts/pretrain/single-*.sh`; 25 in
  every cross-stream stage, `cross.sh`) a zero queue is made; stages never
  load a queue from the previous stage's checkpoint;
- use: a view's queue takes part in Sinkhorn once full (`not
  torch.all(queue[i, -1, :] == 0)`), its scores through the current
  prototypes, before this step's embeddings are pushed;
- push: newest first, `queue[i, bs:] = queue[i, :-bs]`,
  `queue[i, :bs] = embedding of view i`.

ViCC keeps one queue per GPU of that GPU's embeddings (moco_k / world_size
rows each). Here the queue is global: every step pushes the global batch,
gathered from all replicas, and the queue is the same on every replica;
the union of ViCC's per-GPU queues holds the same embeddings.
"""
import tensorflow as tf
import tf_keras

from cvrl_tf.losses.contrastive import global_batch


def queue_length(requested: int, global_batch_size: int) -> int:
  """ViCC's queue length: `requested` cut to a multiple of the batch."""
  return requested - requested % global_batch_size


def _steps(step, start_step):
  step = tf.convert_to_tensor(step)
  return step, tf.cast(start_step, step.dtype)


class EmbeddingQueue(tf_keras.layers.Layer):
  """[views, length, dim] embeddings, a checkpointed non-trainable weight.

  The start step is an argument of each call, so that the queue's state
  follows from the global step and the saved weight alone (exact resume).
  """

  def __init__(self, num_views: int, length: int, dim: int, **kwargs):
    super().__init__(**kwargs)
    self.num_views = num_views
    self.length = length
    self.dim = dim
    # Every replica computes the same new queue, so the first replica's
    # value is the value.
    self.embeddings = self.add_weight(
        'embeddings', shape=[num_views, length, dim], dtype=tf.float32,
        initializer='zeros', trainable=False,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  def read(self, view: int, step, start_step):
    """The queue of `view` and whether it takes part in Sinkhorn now.

    Args:
      view: index of the queue (the position in ViCC's views_for_assign).
      step: int scalar, the global step.
      start_step: int scalar, the step at which this stage's queue starts.

    Returns:
      ([length, dim] float32 embeddings, bool scalar): in use from the step
      after it has been filled, i.e. from start_step + length / batch on.
    """
    step, start_step = _steps(step, start_step)
    embeddings = tf.convert_to_tensor(self.embeddings)[view]
    full = tf.reduce_any(tf.not_equal(embeddings[-1], 0.0))
    return embeddings, tf.logical_and(step > start_step, full)

  def push(self, view: int, embeddings: tf.Tensor, step, start_step):
    """Pushes this step's embeddings of `view` (from start_step on).

    Args:
      view: index of the queue.
      embeddings: [n, dim] this replica's embeddings; the queue receives
        the global batch, replica 0's rows first.
      step: int scalar, the global step.
      start_step: int scalar; at this step the queue starts from zeros.

    Returns:
      The assign op.
    """
    step, start_step = _steps(step, start_step)
    (batch,), _ = global_batch(
        tf.stop_gradient(tf.cast(embeddings, tf.float32)))
    queues = tf.convert_to_tensor(self.embeddings)
    old = tf.where(tf.equal(step, start_step), tf.zeros_like(queues[view]),
                   queues[view])
    new = tf.concat([batch, old], axis=0)[:self.length]
    new = tf.where(step >= start_step, new, queues[view])
    return self.embeddings.assign(
        tf.tensor_scatter_nd_update(queues, [[view]], new[tf.newaxis]))

  def get_config(self):
    return dict(super().get_config(), num_views=self.num_views,
                length=self.length, dim=self.dim)
