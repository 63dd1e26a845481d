"""Linear evaluation on cached features.

Features are extracted once by the frozen backbone (optionally several
augmented views per video); a softmax classifier is then trained on them,
which is far cheaper than running the backbone every epoch.

Optimisation follows CVRL's linear evaluation: SGD with momentum 0.9 and a
cosine-decayed learning rate. The paper's base rate of 32 is tied to its
backbone's feature scale. Here features are L2-normalised by default:
unit-norm inputs bound the curvature of the softmax cross-entropy by about 1
(features plus bias), so heavy-ball SGD with momentum 0.9 is stable for
rates below about 3.8 regardless of the backbone's feature scale. The
default rate of 1.0 leaves a margin; without normalisation divide the rate
by the mean squared feature norm.
"""
import dataclasses
import math
from typing import Dict

import numpy as np
import tensorflow as tf

from cvrl_tf.evaluation import multiview
from cvrl_tf.evaluation import retrieval


@dataclasses.dataclass(frozen=True)
class LinearClassifier:
  """logits = normalize(features) @ weights + bias.

  Attributes:
    weights: [D, C].
    bias: [C].
    normalize: whether features are L2-normalised before the matmul.
  """
  weights: np.ndarray
  bias: np.ndarray
  normalize: bool

  def predict_logits(self, features) -> np.ndarray:
    """features [N, D] -> logits [N, C]."""
    features = np.asarray(features, np.float32)
    if self.normalize:
      features = retrieval.l2_normalize(features)
    return features @ self.weights + self.bias


def cosine_learning_rate(base: float, step: int, total_steps: int) -> float:
  """base * 0.5 * (1 + cos(pi * step / total_steps)), step in [0, total)."""
  return 0.5 * base * (1.0 + math.cos(math.pi * step / total_steps))


def _make_train_step(features: tf.Tensor, labels: tf.Tensor,
                     weights: tf.Variable, bias: tf.Variable,
                     momentum: float, weight_decay: float):
  """One SGD step on the rows `batch_index`, returning the batch loss.

  Momentum uses the TF/PyTorch form v = m * v + g; w -= lr * v. Weight decay
  is an L2 penalty 0.5 * wd * |W|^2 on the weights only, as in Model Garden.
  """
  velocities = [tf.Variable(tf.zeros_like(weights)),
                tf.Variable(tf.zeros_like(bias))]

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int64),
                                tf.TensorSpec([], tf.float32)])
  def train_step(batch_index, learning_rate):
    x = tf.gather(features, batch_index)
    y = tf.gather(labels, batch_index)
    with tf.GradientTape() as tape:
      logits = tf.matmul(x, weights) + bias
      loss = tf.reduce_mean(
          tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    grad_w, grad_b = tape.gradient(loss, [weights, bias])
    grad_w += weight_decay * weights
    for var, velocity, grad in zip([weights, bias], velocities,
                                   [grad_w, grad_b]):
      velocity.assign(momentum * velocity + grad)
      var.assign_sub(learning_rate * velocity)
    return loss

  return train_step


def train_linear_classifier(features, labels, num_classes: int,
                            epochs: int = 100, batch_size: int = 256,
                            learning_rate: float = 1.0,
                            momentum: float = 0.9,
                            weight_decay: float = 0.0, seed: int = 0,
                            normalize: bool = True) -> LinearClassifier:
  """Trains a softmax classifier on cached features.

  Weights and bias start at zero (the problem is convex, so no random init
  is needed); `seed` only drives the per-epoch shuffle, so training is
  deterministic given the seed.

  Args:
    features: [N, D] float32 features, one row per view.
    labels: [N] class ids in [0, num_classes).
    num_classes: C.
    epochs: passes over the data; each ends with a partial batch if
      batch_size does not divide N.
    batch_size: rows per step.
    learning_rate: base rate of the cosine schedule.
    momentum: heavy-ball momentum.
    weight_decay: L2 penalty on the weights.
    seed: shuffle seed.
    normalize: L2-normalise features first.

  Returns:
    The trained LinearClassifier.
  """
  features = np.asarray(features, np.float32)
  labels = np.asarray(labels, np.int64)
  if features.ndim != 2 or labels.shape != features.shape[:1]:
    raise ValueError(f'Expected features [N, D] and labels [N], got '
                     f'{features.shape} and {labels.shape}.')
  if normalize:
    features = retrieval.l2_normalize(features)
  num_rows, dim = features.shape
  weights = tf.Variable(tf.zeros([dim, num_classes]))
  bias = tf.Variable(tf.zeros([num_classes]))
  train_step = _make_train_step(tf.constant(features), tf.constant(labels),
                                weights, bias, momentum, weight_decay)
  rng = np.random.default_rng(seed)
  steps_per_epoch = math.ceil(num_rows / batch_size)
  total_steps = epochs * steps_per_epoch
  step = 0
  for _ in range(epochs):
    order = rng.permutation(num_rows)
    for start in range(0, num_rows, batch_size):
      rate = cosine_learning_rate(learning_rate, step, total_steps)
      train_step(tf.constant(order[start:start + batch_size]),
                 tf.constant(rate, tf.float32))
      step += 1
  return LinearClassifier(weights=weights.numpy(), bias=bias.numpy(),
                          normalize=normalize)


def _video_labels(labels: np.ndarray, video_index) -> np.ndarray:
  """[N] row labels -> [U] labels of the sorted unique videos."""
  _, first, inverse = np.unique(
      np.asarray(video_index), return_index=True, return_inverse=True)
  video_labels = labels[first]
  if np.any(video_labels[inverse.reshape(-1)] != labels):
    raise ValueError('Views of one video have different labels.')
  return video_labels


def evaluate_classifier(classifier: LinearClassifier, features, labels,
                        video_index=None) -> Dict[str, float]:
  """Top-1/top-5 accuracy, per video when rows are views of videos.

  Args:
    classifier: a trained LinearClassifier.
    features: [N, D], one row per view.
    labels: [N] class of each row.
    video_index: optional [N] video id of each row; the logits of a video's
      views are averaged before ranking.

  Returns:
    {'top1', 'top5'}, fractions in [0, 1].
  """
  logits = classifier.predict_logits(features)
  labels = np.asarray(labels, np.int64)
  if video_index is not None:
    _, logits = multiview.aggregate_by_video(logits, video_index)
    labels = _video_labels(labels, video_index)
  return multiview.topk_accuracy(logits, labels, ks=(1, 5))
