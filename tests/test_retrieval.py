"""Nearest-neighbour retrieval and kNN classification against brute force."""
import math

import numpy as np
import pytest

from cvrl_tf.evaluation import retrieval


def clustered_features(rng, num_videos, num_classes, dim, noise):
  centers = rng.normal(size=[num_classes, dim])
  labels = rng.integers(0, num_classes, size=num_videos)
  features = centers[labels] + noise * rng.normal(size=[num_videos, dim])
  return features.astype(np.float32), labels


def reference_retrieval(train_features, train_labels, test_features,
                        test_labels, ks, knn_k, temperature=0.07):
  """Per-query loops: cosine similarity, sort, check and vote."""
  recall_hits = {k: 0 for k in ks}
  knn_correct = 0
  for query, query_label in zip(test_features, test_labels):
    query = query.astype(np.float64)
    ranked = []
    for index, item in enumerate(train_features):
      item = item.astype(np.float64)
      cosine = query @ item / (np.linalg.norm(query) * np.linalg.norm(item))
      ranked.append((-cosine, index))
    ranked.sort()
    for k in ks:
      recall_hits[k] += any(train_labels[i] == query_label
                            for _, i in ranked[:k])
    votes = {}
    for negative_cosine, index in ranked[:knn_k]:
      label = int(train_labels[index])
      votes[label] = votes.get(label, 0.0) + math.exp(
          -negative_cosine / temperature)
    best = max(votes.values())
    knn_correct += min(c for c, v in votes.items() if v == best) == query_label
  results = {f'recall@{k}': hits / len(test_labels)
             for k, hits in recall_hits.items()}
  results['knn_top1'] = knn_correct / len(test_labels)
  return results


@pytest.mark.parametrize('chunk_size', [7, 64, 1024])
@pytest.mark.parametrize('noise', [1.0, 3.0])
def test_matches_brute_force(chunk_size, noise):
  rng = np.random.default_rng(0)
  train_features, train_labels = clustered_features(rng, 300, 8, 16, noise)
  test_features, test_labels = clustered_features(rng, 90, 8, 16, noise)
  ks = (1, 3, 5, 10, 20)
  result = retrieval.knn_retrieval(
      train_features, train_labels, test_features, test_labels, ks=ks,
      knn_k=15, chunk_size=chunk_size)
  expected = reference_retrieval(train_features, train_labels, test_features,
                                 test_labels, ks, knn_k=15)
  assert result.keys() == expected.keys()
  for key, value in expected.items():
    assert result[key] == pytest.approx(value), key


def test_recall_monotone_in_k():
  rng = np.random.default_rng(1)
  train_features, train_labels = clustered_features(rng, 400, 20, 8, 2.0)
  test_features, test_labels = clustered_features(rng, 200, 20, 8, 2.0)
  ks = (1, 2, 5, 10, 20, 50)
  result = retrieval.knn_retrieval(train_features, train_labels,
                                   test_features, test_labels, ks=ks,
                                   chunk_size=33)
  recalls = [result[f'recall@{k}'] for k in ks]
  assert recalls == sorted(recalls)
  assert all(0.0 <= r <= 1.0 for r in recalls)


def test_perfect_features():
  num_classes = 10
  train_labels = np.repeat(np.arange(num_classes), 25)
  test_labels = np.repeat(np.arange(num_classes), 5)
  eye = np.eye(num_classes, dtype=np.float32)
  result = retrieval.knn_retrieval(eye[train_labels] * 3.0, train_labels,
                                   eye[test_labels], test_labels,
                                   chunk_size=16)
  assert all(value == 1.0 for value in result.values())


def test_random_features_near_chance():
  rng = np.random.default_rng(2)
  num_classes = 10
  train_labels = rng.integers(0, num_classes, size=2000)
  test_labels = rng.integers(0, num_classes, size=1000)
  result = retrieval.knn_retrieval(
      rng.normal(size=[2000, 32]), train_labels,
      rng.normal(size=[1000, 32]), test_labels, ks=(1, 5), chunk_size=256)
  assert result['recall@1'] == pytest.approx(0.1, abs=0.04)
  assert result['recall@5'] == pytest.approx(1 - 0.9**5, abs=0.06)
  assert result['knn_top1'] == pytest.approx(0.1, abs=0.04)


def test_ties_prefer_lower_train_index_and_lower_class():
  eye = np.eye(2, dtype=np.float32)
  train_features = eye[[0, 0, 0, 1]]
  train_labels = np.array([1, 2, 3, 0])
  _, indices = retrieval.nearest_neighbors(train_features, eye[[0]], k=3)
  np.testing.assert_array_equal(indices, [[0, 1, 2]])
  result = retrieval.knn_retrieval(train_features, train_labels, eye[[0]],
                                   [3], ks=(1, 2, 3), knn_k=2)
  assert [result[f'recall@{k}'] for k in (1, 2, 3)] == [0.0, 0.0, 1.0]
  # Neighbours 0 and 1 vote equally for classes 1 and 2: class 1 wins.
  result = retrieval.knn_retrieval(train_features, train_labels, eye[[0]],
                                   [1], ks=(1,), knn_k=2)
  assert result['knn_top1'] == 1.0


def test_l2_normalize_keeps_zero_rows():
  x = np.array([[3.0, 4.0], [0.0, 0.0]])
  np.testing.assert_allclose(retrieval.l2_normalize(x),
                             [[0.6, 0.8], [0.0, 0.0]], atol=1e-7)


def test_k_larger_than_gallery_raises():
  features = np.eye(3, dtype=np.float32)
  with pytest.raises(ValueError):
    retrieval.knn_retrieval(features, [0, 1, 2], features, [0, 1, 2],
                            ks=(1, 5), knn_k=2)
