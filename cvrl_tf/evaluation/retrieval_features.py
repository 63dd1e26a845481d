"""Which feature of a clip the retrieval protocol compares.

  'pooled'      the encoder's representation f(x): the last stage averaged
                over time and space ([B, C]), as the linear and kNN
                evaluations use it.
  'time_steps'  TCLR's retrieval feature (github.com/DAVEISHAN/TCLR,
                `nn_retrieval/r3d_classifier_ret.py` `VideoResNet.forward`:
                `AdaptiveAvgPool3d((None, 1, 1))` on layer4, then
                `complete_retrieval.py` `predictions[entry].view(-1)`): the
                last stage averaged over space only, its T' time steps
                concatenated ([B, T' C]; 4 x 512 for TCLR's R3D-18 on 16
                frames).

Either way the clips of a video are averaged and the average is
L2-normalised before the cosine similarities are taken, which is also TCLR's
order (`pred_dict[...] += (1 / clips_per_vid) * prediction`, then
`train_feat /= train_feat.norm(dim=1)`).
"""
from typing import Callable

import tensorflow as tf
import tf_keras

from cvrl_tf.configs.evaluation import RETRIEVAL_FEATURES

# The backbone endpoint of the last stage.
LAST_STAGE = '5'


def time_step_features(feature_map: tf.Tensor) -> tf.Tensor:
  """Averages over space and concatenates the time steps.

  TCLR flattens [C, T'] channel-major; this flattens [T', C]. The two are a
  fixed permutation of the coordinates, which leaves norms and cosine
  similarities unchanged.

  Args:
    feature_map: [B, T', H', W', C].

  Returns:
    float32 [B, T' C].
  """
  pooled = tf.reduce_mean(tf.cast(feature_map, tf.float32), axis=[2, 3])
  return tf.reshape(pooled, [tf.shape(pooled)[0], -1])


def clip_features(model: tf_keras.Model, images: tf.Tensor,
                  feature: str) -> tf.Tensor:
  """Retrieval features of clips [B, T, H, W, 3], in inference mode.

  Args:
    model: a pretraining model with `encode` and `backbone` (CVRL's or
      TCLR's).
    images: the clips.
    feature: one of `RETRIEVAL_FEATURES`.

  Returns:
    float32 [B, C] ('pooled') or [B, T' C] ('time_steps').
  """
  if feature == 'pooled':
    return model.encode(images, training=False)
  if feature == 'time_steps':
    return time_step_features(
        model.backbone(images, training=False)[LAST_STAGE])
  raise ValueError(f'retrieval_feature must be one of {RETRIEVAL_FEATURES}, '
                   f'got {feature!r}.')


def retrieval_encoder(model: tf_keras.Model,
                      feature: str) -> Callable[[tf.Tensor], tf.Tensor]:
  """`clip_features` as one `tf.function` for every batch."""
  return tf.function(lambda images: clip_features(model, images, feature),
                     reduce_retracing=True)
