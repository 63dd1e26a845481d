"""InfoNCE / NT-Xent loss of CVRL (eq. 1), with negatives from all replicas.

For a global batch of N videos with views z_1..z_N and z'_1..z'_N, each
of the 2N clips i is an anchor with one positive (its other view) and
2N - 2 negatives:

  L_i = -log( exp(sim(z_i, z'_i) / tau)
              / sum_{k=1..2N, k != i} exp(sim(z_i, z_k) / tau) ),

with sim the cosine similarity. As in SimCLR and Model Garden's video_ssl,
the returned loss is mean_{i in view 1} L_i + mean_{i in view 2} L_i.
"""
from typing import Dict

import tensorflow as tf

# Subtracted from sim(z_i, z_i) / tau to remove the k == i term.
_LARGE_NUM = 1e9


def global_batch(*local_tensors: tf.Tensor):
  """All replicas' rows of each tensor and the global row of each local row.

  Args:
    *local_tensors: [n, ...] tensors of this replica's examples.

  Returns:
    ([N, ...] tensors, [n] int32 global indices). In a replica context with
    R replicas, N = R * n; every replica must hold the same number n of
    examples (as with `drop_remainder=True`). Elsewhere (default strategy,
    cross-replica context, one replica) N = n.
  """
  local_size = tf.shape(local_tensors[0])[0]
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return list(local_tensors), tf.range(local_size)
  # all_gather's gradient sums over replicas, so every clip receives the
  # gradient of all replicas' losses through its role as a negative.
  gathered = context.all_gather(list(local_tensors), axis=0)
  replica_id = tf.cast(context.replica_id_in_sync_group, tf.int32)
  return gathered, replica_id * local_size + tf.range(local_size)


def contrastive_loss(embeddings_1: tf.Tensor, embeddings_2: tf.Tensor,
                     temperature: float = 0.1) -> Dict[str, tf.Tensor]:
  """NT-Xent over the global batch.

  Args:
    embeddings_1: [n, D] projections of the first views on this replica.
    embeddings_2: [n, D] projections of the second views; row i is the
      positive of row i of `embeddings_1`.
    temperature: tau.

  Returns:
    Scalars (float32): 'contrastive_loss', the mean over this replica's
    anchors (averaging it over replicas gives the global-batch loss);
    'contrast_acc', the fraction of first views whose most similar second
    view is the positive; 'contrast_entropy', the mean entropy of the
    softmax over those similarities.
  """
  z_1 = tf.math.l2_normalize(tf.cast(embeddings_1, tf.float32), axis=-1)
  z_2 = tf.math.l2_normalize(tf.cast(embeddings_2, tf.float32), axis=-1)
  (z_1_all, z_2_all), positive = global_batch(z_1, z_2)
  not_self = tf.one_hot(positive, tf.shape(z_1_all)[0]) * _LARGE_NUM

  def logits(anchors, others):
    return tf.matmul(anchors, others, transpose_b=True) / temperature

  def mean_nt_xent(candidates):
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=positive, logits=candidates))

  # Anchor i's 2N candidates: [other view of all videos | same view of all
  # videos, minus i itself]; the positive z'_i is column `positive[i]`.
  logits_12 = logits(z_1, z_2_all)
  loss = (
      mean_nt_xent(tf.concat(
          [logits_12, logits(z_1, z_1_all) - not_self], axis=1)) +
      mean_nt_xent(tf.concat(
          [logits(z_2, z_1_all), logits(z_2, z_2_all) - not_self], axis=1)))

  probabilities = tf.nn.softmax(logits_12)
  entropy = -tf.reduce_sum(
      probabilities * tf.math.log(probabilities + 1e-8), axis=-1)
  correct = tf.equal(tf.argmax(logits_12, axis=1, output_type=tf.int32),
                     positive)
  return {
      'contrastive_loss': loss,
      'contrast_acc': tf.reduce_mean(tf.cast(correct, tf.float32)),
      'contrast_entropy': tf.reduce_mean(entropy),
  }
