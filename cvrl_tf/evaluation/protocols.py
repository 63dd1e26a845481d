"""Evaluation protocols on cached features: fast linear probe and kNN.

The fast linear probe encodes every training video once (multi-clip test
views, optionally plus passes of the training augmentation: random resized
crop + flip), then trains the linear classifier on those cached features
instead of running the frozen backbone for every step of every epoch; test
videos use multi-view testing.
"""
from typing import Callable, Dict

import numpy as np
import tensorflow as tf

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.dataloaders import video_input
from cvrl_tf.evaluation import features as features_lib
from cvrl_tf.evaluation import linear_probe
from cvrl_tf.evaluation import retrieval

Encoder = Callable[[tf.Tensor], tf.Tensor]


def augmented_features(encode: Encoder, params: data_cfg.DataConfig,
                       num_views: int, seed: int = 0):
  """(labels [N*V], features [N*V, D]): V passes of training augmentation.

  Each pass takes as many clips as there are videos from the training
  pipeline, which repeats its files, so a pass is about one epoch.
  """
  # InputReader repeats training data forever; one pass is what we need.
  num_videos = len(video_input.read_ids_and_labels(params)[0])
  batches = -(-num_videos // params.global_batch_size)
  labels, features = [], []
  for view in range(num_views):
    view_params = params.replace(
        is_training=True, is_ssl=False, drop_remainder=False,
        shuffle_buffer_size=1, seed=seed + view)
    dataset = video_input.build_dataset(view_params)
    _, view_labels, view_features = features_lib.extract_features(
        encode, dataset.take(batches), num_views=1)
    labels.append(view_labels[:num_videos])
    features.append(view_features[:num_videos])
  return np.concatenate(labels), np.concatenate(features)


def standardize(train_features: np.ndarray, test_features: np.ndarray):
  """Z-scores both sets with the training set's per-dimension statistics.

  This is BatchNorm without affine parameters in front of the linear layer,
  as in common linear probes: pooled ReLU features are all positive with a
  small spread, which makes plain or L2-normalised features ill-conditioned
  for a linear classifier trained with a fixed budget.
  """
  mean = train_features.mean(axis=0)
  std = train_features.std(axis=0) + 1e-6
  return (train_features - mean) / std, (test_features - mean) / std


def knn_eval(encode: Encoder, train_params: data_cfg.DataConfig,
             test_params: data_cfg.DataConfig, ks=(1, 5, 10, 20),
             knn_k: int = 20) -> Dict[str, float]:
  """Recall@k and kNN top-1 of test videos retrieving training videos."""
  _, train_labels, train_features = features_lib.encode_videos(encode, train_params)
  _, test_labels, test_features = features_lib.encode_videos(encode, test_params)
  return retrieval.knn_retrieval(train_features, train_labels, test_features,
                                 test_labels, ks=ks, knn_k=knn_k)


def evaluate_encoder(encode: Encoder, train_params: data_cfg.DataConfig,
                     test_params: data_cfg.DataConfig, num_classes: int,
                     num_augmented_views: int = 0, epochs: int = 100,
                     learning_rate: float = 0.1, seed: int = 0
                     ) -> Dict[str, float]:
  """Linear probe and kNN of one encoder, each video set encoded once.

  The probe trains on the training videos' test-time views (features
  averaged over `train_params`' clips), which is also what kNN retrieves,
  plus `num_augmented_views` passes of training augmentation. On the toy
  benchmark augmented views lowered test accuracy: its classes are speeds
  and sizes in frame units, which a random resized crop rescales, so the
  probe learned on clips unlike the test clips (docs/results/demo.md).

  Returns:
    {'top1', 'top5', 'recall@k', 'knn_top1'}, fractions in [0, 1].
  """
  _, train_labels, train_features = features_lib.encode_videos(
      encode, train_params)
  _, test_labels, test_features = features_lib.encode_videos(
      encode, test_params)
  metrics = retrieval.knn_retrieval(train_features, train_labels,
                                    test_features, test_labels)
  probe_labels, probe_features = train_labels, train_features
  if num_augmented_views:
    augmented_labels, augmented = augmented_features(
        encode, train_params, num_augmented_views, seed)
    probe_labels = np.concatenate([train_labels, augmented_labels])
    probe_features = np.concatenate([train_features, augmented])
  probe_features, test_features = standardize(probe_features, test_features)
  classifier = linear_probe.train_linear_classifier(
      probe_features, probe_labels, num_classes, epochs=epochs,
      learning_rate=learning_rate, seed=seed, normalize=False)
  metrics.update(linear_probe.evaluate_classifier(classifier, test_features,
                                                  test_labels))
  return metrics
