"""Nearest-neighbour video retrieval and kNN classification on embeddings.

The protocol of TCLR (Dave et al., 2022) and ViCC (Toering et al., 2022):
every test video queries the train videos by cosine similarity of
L2-normalised embeddings. A query counts as correct at k (`recall@k`) if
ANY of its k nearest train videos has the query's class.

`knn_top1` is the weighted kNN classifier of Wu et al. (2018, "Unsupervised
Feature Learning via Non-Parametric Instance Discrimination"): each of the
k nearest neighbours votes for its class with weight exp(similarity / T),
T = 0.07; the class with the largest total wins. The exponential weighting
lets a few very close neighbours outvote many distant ones, which plain
majority voting cannot.

Ties are broken deterministically: among train videos with equal similarity
the lower train index ranks first (`tf.math.top_k` order), and among classes
with equal votes the lower class id wins.
"""
from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf

DEFAULT_KS = (1, 5, 10, 20)


def l2_normalize(x, epsilon: float = 1e-12) -> np.ndarray:
  """Scales each row to unit L2 norm; x [N, D] -> [N, D] float32.

  All-zero rows stay zero instead of becoming NaN.
  """
  x = np.asarray(x, np.float32)
  norm = np.linalg.norm(x, axis=-1, keepdims=True)
  return x / np.maximum(norm, epsilon)


def nearest_neighbors(train_features, test_features, k: int,
                      chunk_size: int = 1024) -> Tuple[np.ndarray, np.ndarray]:
  """The k most cosine-similar train rows of every test row, best first.

  Test queries are processed `chunk_size` at a time, so peak memory is
  chunk_size x N similarities rather than M x N.

  Args:
    train_features: [N, D].
    test_features: [M, D].
    k: neighbours per query, k <= N.
    chunk_size: queries per matmul.

  Returns:
    (similarities [M, k] float32, indices [M, k] int64 into the train rows).
  """
  train = tf.constant(l2_normalize(train_features))
  test = l2_normalize(test_features)
  if k > train.shape[0]:
    raise ValueError(f'k={k} exceeds the {train.shape[0]} train videos.')
  similarities, indices = [], []
  for start in range(0, len(test), chunk_size):
    chunk = tf.constant(test[start:start + chunk_size])
    values, index = tf.math.top_k(
        tf.matmul(chunk, train, transpose_b=True), k=k, sorted=True)
    similarities.append(values.numpy())
    indices.append(index.numpy().astype(np.int64))
  if not similarities:
    return np.zeros([0, k], np.float32), np.zeros([0, k], np.int64)
  return np.concatenate(similarities), np.concatenate(indices)


def recall_at_k(neighbor_labels: np.ndarray, test_labels: np.ndarray,
                ks: Sequence[int]) -> Dict[str, float]:
  """Fraction of queries with a same-class video among the first k neighbours.

  Args:
    neighbor_labels: [M, K] labels of the neighbours, best first, K >= max(ks).
    test_labels: [M].
    ks: k values.

  Returns:
    {'recall@k': fraction in [0, 1]} for each k.
  """
  hits = neighbor_labels == np.asarray(test_labels)[:, None]
  return {f'recall@{k}': float(np.mean(np.any(hits[:, :k], axis=1)))
          for k in ks}


def knn_classify(neighbor_similarities: np.ndarray,
                 neighbor_labels: np.ndarray, num_classes: int,
                 temperature: float = 0.07) -> np.ndarray:
  """Weighted-vote kNN predictions (Wu et al., 2018).

  Args:
    neighbor_similarities: [M, k] cosine similarities.
    neighbor_labels: [M, k] classes of the neighbours.
    num_classes: C.
    temperature: T in the vote weight exp(similarity / T).

  Returns:
    [M] predicted class; equal votes go to the lower class id.
  """
  weights = np.exp(neighbor_similarities.astype(np.float64) / temperature)
  votes = np.zeros([len(neighbor_labels), num_classes])
  rows = np.broadcast_to(
      np.arange(len(neighbor_labels))[:, None], neighbor_labels.shape)
  np.add.at(votes, (rows, neighbor_labels), weights)
  return np.argmax(votes, axis=1)


def knn_retrieval(train_features, train_labels, test_features, test_labels,
                  ks: Sequence[int] = DEFAULT_KS, knn_k: int = 20,
                  temperature: float = 0.07,
                  chunk_size: int = 1024) -> Dict[str, float]:
  """Retrieval recall@k and kNN classification accuracy.

  Args:
    train_features: [N, D] embeddings of the train (gallery) videos.
    train_labels: [N] non-negative class ids.
    test_features: [M, D] embeddings of the test (query) videos.
    test_labels: [M] class ids.
    ks: k values for recall@k.
    knn_k: neighbours voting in the kNN classifier.
    temperature: kNN vote temperature.
    chunk_size: test queries per similarity matmul.

  Returns:
    {'recall@k' for k in ks, 'knn_top1'}, fractions in [0, 1].
  """
  train_labels = np.asarray(train_labels, np.int64)
  test_labels = np.asarray(test_labels, np.int64)
  if len(train_labels) != len(train_features):
    raise ValueError('train_features and train_labels differ in length.')
  if len(test_labels) != len(test_features):
    raise ValueError('test_features and test_labels differ in length.')
  max_k = max(max(ks), knn_k)
  similarities, indices = nearest_neighbors(
      train_features, test_features, max_k, chunk_size)
  neighbor_labels = train_labels[indices]
  results = recall_at_k(neighbor_labels, test_labels, ks)
  num_classes = int(max(train_labels.max(), test_labels.max())) + 1
  predictions = knn_classify(similarities[:, :knn_k],
                             neighbor_labels[:, :knn_k], num_classes,
                             temperature)
  results['knn_top1'] = float(np.mean(predictions == test_labels))
  return results
