"""InfoNCE loss against an explicit eq. (1), Model Garden, and 2 replicas."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.projects.video_ssl.losses import losses as mg_losses

from cvrl_tf.losses import contrastive_loss
import contrastive_loss_worker
from contrastive_loss_worker import random_views


def reference_loss(embeddings_1, embeddings_2, temperature):
  """Eq. (1) term by term: (1 / N) sum over all 2N anchors of L_i."""
  z = np.concatenate([embeddings_1, embeddings_2]).astype(np.float64)
  z /= np.linalg.norm(z, axis=1, keepdims=True)
  n = len(embeddings_1)
  total = 0.0
  for i in range(2 * n):
    positive = (i + n) % (2 * n)
    denominator = sum(np.exp(z[i] @ z[k] / temperature)
                      for k in range(2 * n) if k != i)
    total += -np.log(np.exp(z[i] @ z[positive] / temperature) / denominator)
  return total / n


def reference_view_1_metrics(embeddings_1, embeddings_2, temperature):
  """Accuracy and entropy of the softmax of view 1 over view-2 clips."""
  z_1 = embeddings_1 / np.linalg.norm(embeddings_1, axis=1, keepdims=True)
  z_2 = embeddings_2 / np.linalg.norm(embeddings_2, axis=1, keepdims=True)
  logits = z_1 @ z_2.T / temperature
  p = np.exp(logits - logits.max(axis=1, keepdims=True))
  p /= p.sum(axis=1, keepdims=True)
  accuracy = np.mean(np.argmax(logits, axis=1) == np.arange(len(z_1)))
  entropy = np.mean(-np.sum(p * np.log(p + 1e-8), axis=1))
  return accuracy, entropy


@pytest.mark.parametrize('batch_size', [1, 2, 5, 16])
@pytest.mark.parametrize('temperature', [0.05, 0.1, 0.5, 1.0])
def test_matches_equation_1(batch_size, temperature):
  view_1, view_2 = random_views(batch_size, seed=batch_size)
  outputs = contrastive_loss(view_1, view_2, temperature)
  np.testing.assert_allclose(
      outputs['contrastive_loss'].numpy(),
      reference_loss(view_1, view_2, temperature), rtol=1e-5, atol=1e-5)
  accuracy, entropy = reference_view_1_metrics(view_1, view_2, temperature)
  np.testing.assert_allclose(outputs['contrast_acc'].numpy(), accuracy)
  np.testing.assert_allclose(outputs['contrast_entropy'].numpy(), entropy,
                             rtol=1e-5, atol=1e-5)


def test_gradients_are_finite_and_nonzero():
  view_1, view_2 = (tf.constant(v) for v in random_views(6))
  with tf.GradientTape() as tape:
    tape.watch([view_1, view_2])
    loss = contrastive_loss(view_1, view_2, 0.1)['contrastive_loss']
  for gradient in tape.gradient(loss, [view_1, view_2]):
    assert np.all(np.isfinite(gradient.numpy()))
    assert np.abs(gradient.numpy()).max() > 0


def test_matches_model_garden_video_ssl_loss():
  view_1, view_2 = random_views(7, dim=16)
  kernel_only = tf_keras.Sequential([tf_keras.layers.Dense(1)])
  kernel_only.build((None, 1))
  expected = mg_losses.contrastive_loss(
      np.concatenate([view_1, view_2]), num_replicas=1, normalize_hidden=True,
      temperature=0.2, model=kernel_only, weight_decay=0.0)
  outputs = contrastive_loss(view_1, view_2, 0.2)
  for key in ('contrastive_loss', 'contrast_acc', 'contrast_entropy'):
    np.testing.assert_allclose(outputs[key].numpy(), expected[key].numpy(),
                               rtol=1e-6, atol=1e-6)


def test_mixed_precision_inputs_give_float32_loss():
  view_1, view_2 = random_views(4)
  outputs = contrastive_loss(tf.cast(view_1, tf.bfloat16),
                             tf.cast(view_2, tf.bfloat16), 0.1)
  assert outputs['contrastive_loss'].dtype == tf.float32


def test_single_replica_contexts_agree():
  """Eager, tf.function, cross-replica and one-replica strategy contexts."""
  view_1, view_2 = random_views(5)
  expected = contrastive_loss(view_1, view_2, 0.1)['contrastive_loss']
  strategy = tf.distribute.OneDeviceStrategy('/cpu:0')
  loss_fn = lambda a, b: contrastive_loss(a, b, 0.1)['contrastive_loss']
  with strategy.scope():
    cross_replica = loss_fn(view_1, view_2)
  in_replica = strategy.run(tf.function(loss_fn), args=(view_1, view_2))
  for loss in (tf.function(loss_fn)(view_1, view_2), cross_replica,
               in_replica):
    np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-6)


def test_mirrored_strategy_uses_global_negatives(tmp_path):
  embeddings_1, embeddings_2 = random_views(8, seed=3)
  replicas = contrastive_loss_worker.run_processes(
      'mirrored', embeddings_1, embeddings_2, 0.1, tmp_path, envs=[{}])
  assert len(replicas['replica_ids']) == 2
  # A replica alone would see only 4 videos: make sure that differs.
  local = contrastive_loss(embeddings_1[:4], embeddings_2[:4], 0.1)
  assert abs(local['contrastive_loss'].numpy() -
             replicas['contrastive_loss'][0]) > 1e-3
  contrastive_loss_worker.assert_matches_global_batch(
      replicas, embeddings_1, embeddings_2, 0.1)
