"""Evaluation protocols on cached features: fast linear probe and kNN.

The fast linear probe encodes every training video a few times under the
training augmentation (random resized crop + flip) once, then trains the
linear classifier on those cached features instead of running the frozen
backbone for every step of every epoch; test videos use multi-view testing.
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


def fast_linear_eval(encode: Encoder, train_params: data_cfg.DataConfig,
                     test_params: data_cfg.DataConfig, num_classes: int,
                     num_augmented_views: int = 3, epochs: int = 100,
                     learning_rate: float = 0.1, seed: int = 0
                     ) -> Dict[str, float]:
  """Linear probe trained on cached features; multi-view test accuracy."""
  train_labels, train_features = augmented_features(
      encode, train_params, num_augmented_views, seed)
  _, test_labels, test_features = features_lib.encode_videos(encode, test_params)
  train_features, test_features = standardize(train_features, test_features)
  classifier = linear_probe.train_linear_classifier(
      train_features, train_labels, num_classes, epochs=epochs,
      learning_rate=learning_rate, seed=seed, normalize=False)
  return linear_probe.evaluate_classifier(classifier, test_features,
                                          test_labels)


def knn_eval(encode: Encoder, train_params: data_cfg.DataConfig,
             test_params: data_cfg.DataConfig, ks=(1, 5, 10, 20),
             knn_k: int = 20) -> Dict[str, float]:
  """Recall@k and kNN top-1 of test videos retrieving training videos."""
  _, train_labels, train_features = features_lib.encode_videos(encode, train_params)
  _, test_labels, test_features = features_lib.encode_videos(encode, test_params)
  return retrieval.knn_retrieval(train_features, train_labels, test_features,
                                 test_labels, ks=ks, knn_k=knn_k)
