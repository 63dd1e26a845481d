"""TCLR's loss terms (Dave et al., CVIU 2022, sec. 3), NT-Xent at tau = 0.1.

Each term mirrors the authors' code (github.com/DAVEISHAN/TCLR,
`tclr_pretraining/`), whose `train_gen_all_step.py` `train_epoch` sums

  loss = loss_ic2 + loss_ic1 + loss_local_local + loss_global_local:

  loss_ic2          `instance_contrastive_loss` on the sparse clips;
  loss_ic1          `dense_instance_contrastive_loss` on the dense clips;
  loss_local_local  `local_local_temporal_contrastive_loss`;
  loss_global_local `global_local_temporal_contrastive_loss`.

Embeddings arrive L2-normalised (`mlp.py` ends with
`nn.functional.normalize`), so similarities are dot products, as
`NTXentLoss(use_cosine_similarity=False)` computes them.

Shapes, for n videos on this replica, D-dimensional embeddings:
  sparse [n, 2, D]: the time-pooled sparse clip of augmentation a;
  sparse_time_steps [n, 2, 4, D]: its 4 per-time-step embeddings;
  dense [n, 2, 4, D]: the time-pooled dense clip c of augmentation a.

Replicas: the instance terms take their negatives from the global batch
(`contrastive.global_batch`); the temporal terms only compare clips of one
video. Each term's value on a replica is such that the mean over replicas
is the term on the global batch, which is what `gradients.minimize`
expects.
"""
from typing import Dict

import tensorflow as tf

from cvrl_tf.losses.contrastive import global_batch

# Subtracted from sim(z_i, z_i) / tau to remove the k == i term.
_LARGE_NUM = 1e9


def nt_xent_per_anchor(anchors: tf.Tensor, positives: tf.Tensor,
                       same_view: tf.Tensor, positive_index: tf.Tensor,
                       temperature: float) -> tf.Tensor:
  """-log softmax of each anchor's positive among its candidates.

  One direction of `nt_xent_original.py` `NTXentLoss.forward`: anchor i's
  candidates are every row of `positives` (its positive being row
  `positive_index[i]`) and every row of `same_view` but itself.

  Args:
    anchors: [..., n, D].
    positives: [..., N, D], the other view.
    same_view: [..., N, D], the anchors' view (row positive_index[i] is
      anchor i).
    positive_index: [n] int32.
    temperature: tau.

  Returns:
    [..., n] losses.
  """
  not_self = tf.one_hot(positive_index, tf.shape(same_view)[-2]) * _LARGE_NUM
  logits = tf.concat([
      tf.matmul(anchors, positives, transpose_b=True) / temperature,
      tf.matmul(anchors, same_view, transpose_b=True) / temperature - not_self,
  ], axis=-1)
  labels = tf.broadcast_to(positive_index, tf.shape(logits)[:-1])
  return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                        logits=logits)


def nt_xent(z_i: tf.Tensor, z_j: tf.Tensor, temperature: float) -> tf.Tensor:
  """`NTXentLoss(z_i, z_j)` over the global batch: sum of CE / (2N).

  Args:
    z_i, z_j: [n, D] two views; row k of z_j is the positive of row k of z_i.
    temperature: tau.

  Returns:
    Scalar: the mean over both views' anchors of this replica.
  """
  (z_i_all, z_j_all), index = global_batch(z_i, z_j)
  return 0.5 * (
      tf.reduce_mean(nt_xent_per_anchor(z_i, z_j_all, z_i_all, index,
                                        temperature)) +
      tf.reduce_mean(nt_xent_per_anchor(z_j, z_i_all, z_j_all, index,
                                        temperature)))


def instance_contrastive_loss(sparse: tf.Tensor,
                              temperature: float) -> tf.Tensor:
  """Instance contrast of the sparse clips (`loss_ic2`).

  `criterion(out_sparse[0][0], out_sparse[1][0])`: the two augmentations of
  a video's sparse clip are positives, the other videos' clips negatives.

  Args:
    sparse: [n, 2, D].
    temperature: tau.
  """
  return nt_xent(sparse[:, 0], sparse[:, 1], temperature)


def dense_instance_contrastive_loss(dense: tf.Tensor,
                                    temperature: float) -> tf.Tensor:
  """Instance contrast of the dense clips (`loss_ic1`).

  `criterion(out_dense[ii][chunk], out_dense[jj][chunk1])` summed over the
  ordered pairs of distinct (augmentation, chunk) and divided by 4
  ("scaling over ii and jj"): different chunks of one video are positives
  too. The loop runs over ii, jj in 2 x 2 and chunk, chunk1 in 4 x 4 and
  skips `ii == jj and chunk == chunk1`, which leaves 64 - 8 = 56 pairs (not
  60: a chunk is skipped against itself in both augmentations).

  `NTXentLoss(p, q)` is the mean of its two directions p -> q and q -> p,
  and the ordered pairs hold both (p, q) and (q, p), so the sum is that of
  the one-direction means over all ordered pairs, computed here at once
  over the V = 8 clips v = (augmentation, chunk).

  Args:
    dense: [n, 2, 4, D].
    temperature: tau.
  """
  num_clips = dense.shape[1] * dense.shape[2]
  clips = tf.reshape(dense, [-1, num_clips, dense.shape[-1]])  # [n, V, D]
  (clips_all,), index = global_batch(clips)  # [N, V, D]
  # similarity[p, q, i, k] = sim(clip p of video i, clip q of video k) / tau.
  similarity = tf.einsum('ipd,kqd->pqik', clips, clips_all) / temperature
  not_self = tf.one_hot(index, tf.shape(clips_all)[0]) * _LARGE_NUM
  same_view = tf.linalg.diag_part(
      tf.transpose(similarity, [2, 3, 0, 1]))  # [n, N, V]: p == q
  same_view = tf.transpose(same_view, [2, 0, 1]) - not_self  # [V, n, N]
  logits = tf.concat([
      similarity,
      tf.broadcast_to(same_view[:, tf.newaxis], tf.shape(similarity)),
  ], axis=-1)  # [p, q, i, 2N]: z_q of every video, then z_p of the others.
  labels = tf.broadcast_to(index, tf.shape(logits)[:-1])
  per_pair = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=labels, logits=logits), axis=-1)  # [V, V], p -> q
  distinct = 1.0 - tf.eye(num_clips)
  return tf.reduce_sum(per_pair * distinct) / 4.0


def local_local_temporal_contrastive_loss(dense: tf.Tensor,
                                          temperature: float) -> tf.Tensor:
  """Local-local temporal contrast (`loss_local_local`), summed over videos.

  Per video, `NTXentLoss(batch_size=4)` on the dense clips of augmentation
  1 against those of augmentation 2: clip c is positive with clip c, the
  video's other dense clips (of both augmentations) are the negatives. TCLR
  sums over the videos of the batch (`for ii in range(BS)`), so the term
  grows with the batch.

  Args:
    dense: [n, 2, 4, D].
    temperature: tau.
  """
  z_1, z_2 = dense[:, 0], dense[:, 1]
  index = tf.range(tf.shape(dense)[2])
  per_video = 0.5 * (
      tf.reduce_mean(nt_xent_per_anchor(z_1, z_2, z_1, index, temperature),
                     axis=-1) +
      tf.reduce_mean(nt_xent_per_anchor(z_2, z_1, z_2, index, temperature),
                     axis=-1))
  # The sum over the global batch is the mean over replicas of R x the sum
  # over each replica's videos.
  replicas = tf.distribute.get_strategy().num_replicas_in_sync
  return tf.reduce_sum(per_video) * replicas


def global_local_temporal_contrastive_loss(
    sparse_time_steps: tf.Tensor, dense: tf.Tensor,
    temperature: float) -> tf.Tensor:
  """Global-local temporal contrast (`loss_global_local`).

  `global_local_temporal_contrastive(lsr, gdr, tau)`
  (`contrastive_loss/global_local_temporal_contrastive.py`): time step t of
  the sparse clip (`lsr`) is positive with dense clip t (`gdr`), the other
  dense clips of the same video are its negatives, and the same in the
  other direction (dense clip against time steps); cross-entropy summed
  over the 4 positions, averaged over videos and both directions. Summed
  over the 4 (sparse augmentation, dense augmentation) pairs.

  Args:
    sparse_time_steps: [n, 2, 4, D].
    dense: [n, 2, 4, D].
    temperature: tau.
  """
  positions = tf.shape(dense)[2]
  loss = 0.0
  for a_sparse in range(2):
    for a_dense in range(2):
      similarity = tf.matmul(sparse_time_steps[:, a_sparse],
                             dense[:, a_dense], transpose_b=True) / temperature
      both_directions = tf.concat(
          [similarity, tf.transpose(similarity, [0, 2, 1])], axis=0)
      labels = tf.broadcast_to(tf.range(positions),
                               tf.shape(both_directions)[:-1])
      cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=labels, logits=both_directions)
      loss += tf.reduce_mean(tf.reduce_sum(cross_entropy, axis=-1))
  return loss


def tclr_loss(sparse: tf.Tensor, sparse_time_steps: tf.Tensor,
              dense: tf.Tensor, temperature: float = 0.1
              ) -> Dict[str, tf.Tensor]:
  """TCLR's four terms and their sum (`loss`), all float32 scalars.

  Returns:
    'tclr_loss' (the sum), 'instance_loss' (sparse + dense instance
    contrast), 'sparse_instance_loss', 'dense_instance_loss',
    'local_local_loss', 'global_local_loss'.
  """
  sparse = tf.cast(sparse, tf.float32)
  sparse_time_steps = tf.cast(sparse_time_steps, tf.float32)
  dense = tf.cast(dense, tf.float32)
  terms = {
      'sparse_instance_loss': instance_contrastive_loss(sparse, temperature),
      'dense_instance_loss': dense_instance_contrastive_loss(dense,
                                                             temperature),
      'local_local_loss': local_local_temporal_contrastive_loss(
          dense, temperature),
      'global_local_loss': global_local_temporal_contrastive_loss(
          sparse_time_steps, dense, temperature),
  }
  terms['instance_loss'] = (terms['sparse_instance_loss'] +
                            terms['dense_instance_loss'])
  terms['tclr_loss'] = (terms['instance_loss'] + terms['local_local_loss'] +
                        terms['global_local_loss'])
  return terms
