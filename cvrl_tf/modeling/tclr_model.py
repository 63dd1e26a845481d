"""TCLR's network: the 3D backbone f and one shared MLP head g.

Mirrors the authors' code (github.com/DAVEISHAN/TCLR, `tclr_pretraining/`):
`r3d.py` `VideoResNet.forward` averages the last stage over space only
(`AdaptiveAvgPool3d((None, 1, 1))`), giving one feature per time step, and
`mlp.py` `mlp.forward` maps them to L2-normalised embeddings:

  dense clip ('d'):  g(mean over time)                    -> [B, D]
  sparse clip ('s'): g(mean over time), g(time step t)    -> [B, D], [B, T', D]

with g = Dense(512, bias) -> BN -> ReLU -> Dense(128, no bias) -> BN, then
L2 normalisation. As in TCLR, every time step goes through the head as its
own batch, and so, under `clip_batches: separate`, does every clip batch
(each augmentation, each dense clip) through the backbone: each has its own
BatchNorm statistics (`TCLRModel` config, `clip_batches`).

`model.encode(x)` is the representation f(x) [B, C] (average over time and
space) that the evaluation tasks use, as for CVRL.
"""
from typing import Dict, List

import tensorflow as tf
import tf_keras
from official.vision.modeling.backbones import factory as backbone_factory

from cvrl_tf.configs import tclr as tclr_cfg


def mlp_head(hidden_dim: int, embedding_dim: int, use_sync_bn: bool,
             norm_momentum: float, norm_epsilon: float,
             kernel_regularizer=None) -> tf_keras.Sequential:
  """`mlp.py` `mlp`: fc1 (bias) -> bn1 -> ReLU -> fc2 (no bias) -> bn2."""
  def batch_norm(name):
    return tf_keras.layers.BatchNormalization(
        momentum=norm_momentum, epsilon=norm_epsilon,
        synchronized=use_sync_bn, name=name)
  return tf_keras.Sequential([
      tf_keras.layers.Dense(hidden_dim, use_bias=True,
                            kernel_regularizer=kernel_regularizer, name='fc1'),
      batch_norm('bn1'),
      tf_keras.layers.ReLU(name='relu'),
      tf_keras.layers.Dense(embedding_dim, use_bias=False,
                            kernel_regularizer=kernel_regularizer, name='fc2'),
      batch_norm('bn2'),
  ], name='mlp_head')


@tf_keras.utils.register_keras_serializable(package='cvrl_tf')
class TCLRModel(tf_keras.Model):
  """Backbone -> spatial pooling -> shared head on clips and time steps.

  Attributes:
    backbone: the 3D backbone (endpoints '2'..'5').
    head: the shared MLP head.
    checkpoint_items: {'backbone': backbone}, as `CVRLModel`, so the
      evaluation tasks restore the encoder with `init_checkpoint_modules:
      backbone`.
  """

  def __init__(self, backbone: tf_keras.Model,
               input_specs: tf_keras.layers.InputSpec,
               head: tf_keras.Sequential, clip_batches: str = 'separate',
               **kwargs):
    super().__init__(**kwargs)
    if clip_batches not in tclr_cfg.CLIP_BATCHES:
      raise ValueError(f'clip_batches must be one of {tclr_cfg.CLIP_BATCHES}'
                       f', got {clip_batches!r}.')
    self._config_dict = dict(backbone=backbone, input_specs=input_specs,
                             head=head, clip_batches=clip_batches)
    self._clip_batches = clip_batches
    self._backbone = backbone
    self._head = head
    self._input_specs = input_specs

  @property
  def backbone(self) -> tf_keras.Model:
    return self._backbone

  @property
  def head(self) -> tf_keras.Sequential:
    return self._head

  @property
  def checkpoint_items(self):
    return {'backbone': self._backbone}

  def time_step_features(self, clips: tf.Tensor,
                         training: bool = False) -> tf.Tensor:
    """Clips [B, T, H, W, 3] -> features [B, T', C], averaged over space."""
    endpoints = self._backbone(clips, training=training)
    last = tf.cast(endpoints[max(endpoints, key=int)], tf.float32)
    return tf.reduce_mean(last, axis=[2, 3])

  def embed(self, features: tf.Tensor, training: bool = False) -> tf.Tensor:
    """g: features [B, C] -> L2-normalised embeddings [B, D] (float32)."""
    return tf.math.l2_normalize(
        tf.cast(self._head(features, training=training), tf.float32),
        axis=-1)

  def clip_embeddings(self, clips: tf.Tensor, time_steps: bool = False,
                      training: bool = False):
    """One clip batch: pooled embedding [B, D] (and per-step [B, T', D])."""
    features = self.time_step_features(clips, training)
    pooled = self.embed(tf.reduce_mean(features, axis=1), training)
    if not time_steps:
      return pooled
    steps = [self.embed(features[:, t], training)
             for t in range(features.shape[1])]
    return pooled, tf.stack(steps, axis=1)

  def tclr_outputs(self, sparse_clips: tf.Tensor, dense_clips: tf.Tensor,
                   training: bool = False) -> Dict[str, tf.Tensor]:
    """Embeddings of a batch of TCLR clips.

    Args:
      sparse_clips: [B, A, T, H, W, 3], augmentation a of the sparse clip.
      dense_clips: [B, A, K, T, H, W, 3], augmentation a of dense clip k.
      training: BatchNorm mode.

    Returns:
      'sparse' [B, A, D], 'sparse_time_steps' [B, A, T', D], 'dense'
      [B, A, K, D], float32 and L2-normalised.
    """
    augmentations, num_dense = dense_clips.shape[1], dense_clips.shape[2]
    # The A sparse clip batches, then the A x K dense ones (a-major).
    clip_batches = ([sparse_clips[:, a] for a in range(augmentations)] +
                    [dense_clips[:, a, k] for a in range(augmentations)
                     for k in range(num_dense)])
    features = self.clip_batch_features(clip_batches, training)
    sparse = [self.embed(tf.reduce_mean(f, axis=1), training)
              for f in features[:augmentations]]
    steps = [tf.stack([self.embed(f[:, t], training)
                       for t in range(f.shape[1])], axis=1)
             for f in features[:augmentations]]
    dense = [self.embed(tf.reduce_mean(f, axis=1), training)
             for f in features[augmentations:]]
    dense = tf.reshape(tf.stack(dense, axis=1),
                       [-1, augmentations, num_dense, dense[0].shape[-1]])
    return {'sparse': tf.stack(sparse, axis=1),
            'sparse_time_steps': tf.stack(steps, axis=1),
            'dense': dense}

  def clip_batch_features(self, clip_batches: List[tf.Tensor],
                          training: bool) -> List[tf.Tensor]:
    """[B, T', C] features of each [B, T, H, W, 3] batch (`clip_batches`)."""
    if self._clip_batches == 'separate':
      return [self.time_step_features(clips, training)
              for clips in clip_batches]
    features = self.time_step_features(tf.concat(clip_batches, axis=0),
                                       training)
    return tf.split(features, len(clip_batches), axis=0)

  def call(self, clips, training=None):
    """Pooled embeddings [B, D] of clips [B, T, H, W, 3]."""
    return self.clip_embeddings(clips, training=training)

  def encode(self, images, training: bool = False):
    """Representation f(x) [B, C] (float32) of clips [B, T, H, W, 3]."""
    return tf.reduce_mean(self.time_step_features(images, training), axis=1)

  def get_config(self):
    return dict(self._config_dict)

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


def output_time_steps(backbone: tf_keras.Model) -> int:
  """T' of the backbone's last stage, for its built input length."""
  endpoints = backbone.output
  return endpoints[max(endpoints, key=int)].shape[1]


def build_tclr_model(input_specs: tf_keras.layers.InputSpec,
                     model_config: tclr_cfg.TCLRModel,
                     l2_regularizer=None) -> TCLRModel:
  """Builds the backbone named by `model_config.backbone` and the head."""
  norm = model_config.norm_activation
  backbone = backbone_factory.build_backbone(
      input_specs=input_specs, backbone_config=model_config.backbone,
      norm_activation_config=norm, l2_regularizer=l2_regularizer)
  head = mlp_head(model_config.head_hidden_dim, model_config.embedding_dim,
                  norm.use_sync_bn, norm.norm_momentum, norm.norm_epsilon,
                  l2_regularizer)
  model = TCLRModel(backbone=backbone, input_specs=input_specs, head=head,
                    clip_batches=model_config.clip_batches)
  # Creates the head's variables, so checkpoints restore into a built model.
  model(tf_keras.Input(shape=input_specs.shape[1:]))
  return model
