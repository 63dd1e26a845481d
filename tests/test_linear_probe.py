"""Linear evaluation on cached features."""
import math

import numpy as np
import pytest

from cvrl_tf.evaluation import linear_probe


def separable_data(rng, num_rows, num_classes, dim, noise=0.1, centers=None):
  if centers is None:
    centers = rng.normal(size=[num_classes, dim])
  labels = rng.integers(0, len(centers), size=num_rows)
  features = centers[labels] + noise * rng.normal(size=[num_rows, dim])
  return features.astype(np.float32), labels


def reference_gradient_descent(features, labels, num_classes, epochs,
                               learning_rate, momentum, weight_decay):
  """Full-batch softmax regression in float64 from zero init."""
  x = features / np.linalg.norm(features, axis=1, keepdims=True)
  y = np.eye(num_classes)[labels]
  w = np.zeros([x.shape[1], num_classes])
  b = np.zeros(num_classes)
  velocity_w, velocity_b = np.zeros_like(w), np.zeros_like(b)
  for step in range(epochs):
    logits = x @ w + b
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    grad_w = x.T @ (probs - y) / len(x) + weight_decay * w
    grad_b = (probs - y).mean(axis=0)
    rate = 0.5 * learning_rate * (1 + math.cos(math.pi * step / epochs))
    velocity_w = momentum * velocity_w + grad_w
    velocity_b = momentum * velocity_b + grad_b
    w -= rate * velocity_w
    b -= rate * velocity_b
  return w, b


@pytest.mark.parametrize('momentum', [0.0, 0.9])
def test_full_batch_matches_reference(momentum):
  rng = np.random.default_rng(0)
  features, labels = separable_data(rng, 40, 3, 6, noise=1.0)
  settings = dict(epochs=25, learning_rate=0.8, momentum=momentum,
                  weight_decay=1e-2)
  classifier = linear_probe.train_linear_classifier(
      features, labels, 3, batch_size=64, **settings)
  w, b = reference_gradient_descent(features, labels, 3, **settings)
  np.testing.assert_allclose(classifier.weights, w, atol=1e-4)
  np.testing.assert_allclose(classifier.bias, b, atol=1e-4)


def test_separable_data_reaches_full_accuracy():
  rng = np.random.default_rng(1)
  centers = rng.normal(size=[6, 16])
  features, labels = separable_data(rng, 600, 6, 16, centers=centers)
  test_features, test_labels = separable_data(rng, 300, 6, 16,
                                              centers=centers)
  classifier = linear_probe.train_linear_classifier(
      features, labels, 6, epochs=20, batch_size=64)
  result = linear_probe.evaluate_classifier(classifier, test_features,
                                            test_labels)
  assert result['top1'] >= 0.99
  assert result['top5'] >= result['top1']


def test_deterministic_given_seed():
  rng = np.random.default_rng(2)
  features, labels = separable_data(rng, 200, 5, 8, noise=1.0)
  run = lambda seed: linear_probe.train_linear_classifier(
      features, labels, 5, epochs=3, batch_size=32, seed=seed)
  first, second, other = run(0), run(0), run(1)
  np.testing.assert_array_equal(first.weights, second.weights)
  np.testing.assert_array_equal(first.bias, second.bias)
  assert not np.allclose(first.weights, other.weights)


def test_unnormalized_features_are_used_as_given():
  rng = np.random.default_rng(3)
  features, labels = separable_data(rng, 300, 4, 8)
  classifier = linear_probe.train_linear_classifier(
      features, labels, 4, epochs=10, batch_size=64, learning_rate=0.05,
      normalize=False)
  logits = classifier.predict_logits(features)
  np.testing.assert_allclose(
      logits, features @ classifier.weights + classifier.bias, atol=1e-5)
  assert linear_probe.evaluate_classifier(
      classifier, features, labels)['top1'] >= 0.99


def test_evaluate_averages_views_per_video():
  rng = np.random.default_rng(4)
  num_videos, num_views, num_classes, dim = 30, 4, 8, 5
  classifier = linear_probe.LinearClassifier(
      weights=rng.normal(size=[dim, num_classes]).astype(np.float32),
      bias=rng.normal(size=[num_classes]).astype(np.float32), normalize=True)
  video_labels = rng.integers(0, num_classes, size=num_videos)
  features = rng.normal(size=[num_videos * num_views, dim]).astype(np.float32)
  video_index = np.repeat(np.arange(num_videos), num_views)
  order = rng.permutation(len(features))
  result = linear_probe.evaluate_classifier(
      classifier, features[order], video_labels[video_index][order],
      video_index=video_index[order])
  logits = classifier.predict_logits(features)
  top1 = top5 = 0
  for video in range(num_videos):
    mean = logits[video * num_views:(video + 1) * num_views].mean(axis=0)
    ranking = list(np.argsort(-mean, kind='stable'))
    top1 += ranking[0] == video_labels[video]
    top5 += video_labels[video] in ranking[:5]
  assert result['top1'] == pytest.approx(top1 / num_videos)
  assert result['top5'] == pytest.approx(top5 / num_videos)
  assert result['top5'] >= result['top1']


def test_evaluate_rejects_inconsistent_video_labels():
  classifier = linear_probe.LinearClassifier(
      weights=np.eye(2, dtype=np.float32), bias=np.zeros(2, np.float32),
      normalize=False)
  with pytest.raises(ValueError):
    linear_probe.evaluate_classifier(classifier, np.eye(2), [0, 1],
                                     video_index=[7, 7])
