"""TCLR's loss terms against NumPy references written from the method's text.

Each reference loops over anchors and candidates the way the paper and the
authors' code describe the term: NT-Xent of two views of N examples is the
mean over the 2N anchors of -log(exp(s_pos / tau) / sum over the other
2N - 1 clips of exp(s / tau)), s a dot product of L2-normalised vectors.
"""
import itertools

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf.losses import contrastive
from cvrl_tf.losses import tclr

TAU = 0.1
VIDEOS = 3
DIM = 8


def normalised(rng, *shape):
  x = rng.normal(size=shape + (DIM,))
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(name='embeddings')
def fixture_embeddings():
  rng = np.random.default_rng(0)
  return {'sparse': normalised(rng, VIDEOS, 2),
          'sparse_time_steps': normalised(rng, VIDEOS, 2, 4),
          'dense': normalised(rng, VIDEOS, 2, 4)}


def f32(x):
  return tf.constant(x, tf.float32)


def reference_nt_xent(z_i, z_j, tau=TAU):
  """SimCLR's NT-Xent of rows z_i[k] <-> z_j[k], brute force."""
  clips = np.concatenate([z_i, z_j])
  n = len(z_i)
  total = 0.0
  for anchor in range(2 * n):
    positive = (anchor + n) % (2 * n)
    others = [k for k in range(2 * n) if k != anchor]
    scores = np.array([clips[anchor] @ clips[k] / tau for k in others])
    total -= clips[anchor] @ clips[positive] / tau - np.log(
        np.exp(scores).sum())
  return total / (2 * n)


def reference_instance(sparse):
  """Term 1: the two augmentations of a sparse clip; other videos negative."""
  return reference_nt_xent(sparse[:, 0], sparse[:, 1])


def reference_dense_instance(dense):
  """Term 2: ordered pairs of distinct (augmentation, chunk), divided by 4.

  TCLR's loop (`for ii, jj in 2 x 2, chunk, chunk1 in 4 x 4`, skipping
  `ii == jj and chunk == chunk1`) visits 64 - 8 = 56 pairs.
  """
  pairs = [(p, q) for p in itertools.product(range(2), range(4))
           for q in itertools.product(range(2), range(4)) if p != q]
  assert len(pairs) == 56
  return sum(reference_nt_xent(dense[:, p[0], p[1]], dense[:, q[0], q[1]])
             for p, q in pairs) / 4


def reference_local_local(dense):
  """Term 3: per video, chunk c of aug 1 vs chunk c of aug 2; summed."""
  return sum(reference_nt_xent(video[0], video[1]) for video in dense)


def reference_global_local(sparse_time_steps, dense, tau=TAU):
  """Term 4: time step t vs dense clip t of one video, both directions.

  Per (sparse aug, dense aug) pair and video: for each position t, the
  cross-entropy of time step t among the 4 dense clips, plus that of dense
  clip t among the 4 time steps; averaged over videos and the two
  directions, summed over positions and the 4 augmentation pairs.
  """
  total = 0.0
  for a_s, a_d in itertools.product(range(2), range(2)):
    per_video = []
    for steps, clips in zip(sparse_time_steps[:, a_s], dense[:, a_d]):
      loss = 0.0
      for t in range(4):
        row = np.array([steps[t] @ clips[k] for k in range(4)]) / tau
        column = np.array([clips[t] @ steps[k] for k in range(4)]) / tau
        loss -= row[t] - np.log(np.exp(row).sum())
        loss -= column[t] - np.log(np.exp(column).sum())
      per_video.append(loss / 2)
    total += np.mean(per_video)
  return total


def test_instance_term(embeddings):
  got = tclr.instance_contrastive_loss(f32(embeddings['sparse']), TAU)
  np.testing.assert_allclose(got, reference_instance(embeddings['sparse']),
                             rtol=1e-5)


def test_instance_term_is_half_of_cvrls_two_sided_loss(embeddings):
  # CVRL's loss adds the means of both views; NTXentLoss averages them.
  sparse = f32(embeddings['sparse'])
  cvrl = contrastive.contrastive_loss(sparse[:, 0], sparse[:, 1], TAU)
  np.testing.assert_allclose(tclr.instance_contrastive_loss(sparse, TAU),
                             cvrl['contrastive_loss'] / 2, rtol=1e-5)


def test_dense_instance_term(embeddings):
  got = tclr.dense_instance_contrastive_loss(
      f32(embeddings['dense']), TAU)
  np.testing.assert_allclose(
      got, reference_dense_instance(embeddings['dense']), rtol=1e-5)


def test_local_local_term(embeddings):
  got = tclr.local_local_temporal_contrastive_loss(
      f32(embeddings['dense']), TAU)
  np.testing.assert_allclose(got, reference_local_local(embeddings['dense']),
                             rtol=1e-5)


def test_global_local_term(embeddings):
  got = tclr.global_local_temporal_contrastive_loss(
      f32(embeddings['sparse_time_steps']),
      f32(embeddings['dense']), TAU)
  np.testing.assert_allclose(
      got, reference_global_local(embeddings['sparse_time_steps'],
                                  embeddings['dense']), rtol=1e-5)


def test_total_is_the_sum_of_the_terms(embeddings):
  terms = tclr.tclr_loss(
      *(f32(embeddings[k]) for k in
        ('sparse', 'sparse_time_steps', 'dense')), temperature=TAU)
  expected = (reference_instance(embeddings['sparse']) +
              reference_dense_instance(embeddings['dense']) +
              reference_local_local(embeddings['dense']) +
              reference_global_local(embeddings['sparse_time_steps'],
                                     embeddings['dense']))
  np.testing.assert_allclose(terms['tclr_loss'], expected, rtol=1e-5)
  np.testing.assert_allclose(
      terms['instance_loss'],
      terms['sparse_instance_loss'] + terms['dense_instance_loss'])


def test_local_terms_ignore_other_videos(embeddings):
  """Changing video 1 leaves video 0's local-local contribution alone."""
  dense = embeddings['dense'].copy()
  one = tclr.local_local_temporal_contrastive_loss(
      f32(dense[:1]), TAU)
  np.testing.assert_allclose(one, reference_nt_xent(dense[0, 0], dense[0, 1]),
                             rtol=1e-5)
