"""CVRL's network: encoder f (3D backbone + pooling) and projection head g.

Calling the model maps clips x [B, T, H, W, 3] to embeddings z = g(f(x))
[B, projection_dim], which the contrastive loss consumes. `model.encode(x)`
returns the representation f(x) [B, C] that is frozen for linear evaluation
or fine-tuned downstream. Both outputs are float32 under mixed precision.
"""
from typing import Callable, Optional

import tensorflow as tf
import tf_keras

from official.modeling import tf_utils
from official.vision.modeling import factory_3d
from official.vision.modeling.backbones import factory as backbone_factory

from cvrl_tf.configs import cvrl as cvrl_cfg


def projection_head(features, num_layers: int, hidden_dim: int,
                    output_dim: int, activation: str, use_sync_bn: bool,
                    norm_momentum: float, norm_epsilon: float,
                    kernel_regularizer=None):
  """SimCLR's MLP head on features [B, C]; returns embeddings [B, output_dim].

  Every layer but the last is Dense -> BatchNorm -> activation. Those Dense
  layers have no bias because BatchNorm's offset replaces it.
  """
  if num_layers < 1:
    raise ValueError(f'The head needs at least one layer, got {num_layers}.')
  x = features
  for i in range(num_layers - 1):
    x = tf_keras.layers.Dense(
        hidden_dim, use_bias=False, kernel_regularizer=kernel_regularizer,
        name=f'projection_dense_{i}')(x)
    x = tf_keras.layers.BatchNormalization(
        momentum=norm_momentum, epsilon=norm_epsilon,
        synchronized=use_sync_bn, name=f'projection_bn_{i}')(x)
    x = tf_utils.get_activation(activation, use_keras_layer=True)(x)
  return tf_keras.layers.Dense(
      output_dim, kernel_regularizer=kernel_regularizer,
      name=f'projection_dense_{num_layers - 1}')(x)


@tf_keras.utils.register_keras_serializable(package='cvrl_tf')
class CVRLModel(tf_keras.Model):
  """Backbone -> global average pool -> projection head.

  Attributes:
    backbone: the 3D backbone (endpoints '2'..'5').
    encoder: functional model x [B, T, H, W, 3] -> f(x) [B, C], sharing the
      backbone's weights.
    checkpoint_items: {'backbone': backbone}, so `init_checkpoint_modules:
      backbone` restores pretrained encoders the Model Garden way.
  """

  def __init__(self,
               backbone: tf_keras.Model,
               input_specs: tf_keras.layers.InputSpec,
               projection_num_layers: int = 3,
               projection_hidden_dim: int = 2048,
               projection_dim: int = 128,
               activation: str = 'relu',
               use_sync_bn: bool = False,
               norm_momentum: float = 0.9,
               norm_epsilon: float = 1e-5,
               kernel_regularizer=None,
               **kwargs):
    """Initializes the model.

    Args:
      backbone: a backbone returning a dict of endpoints; the deepest one is
        pooled.
      input_specs: spec of the clips, [B, T, H, W, 3].
      projection_num_layers: dense layers of the head.
      projection_hidden_dim: width of the head's hidden layers.
      projection_dim: embedding size.
      activation: activation of the head's hidden layers.
      use_sync_bn: whether the head's BatchNorm is synchronised.
      norm_momentum: BatchNorm moving-average momentum.
      norm_epsilon: BatchNorm epsilon.
      kernel_regularizer: regularizer of the head's kernels.
      **kwargs: passed to `tf_keras.Model`.
    """
    self._config_dict = dict(
        backbone=backbone, input_specs=input_specs,
        projection_num_layers=projection_num_layers,
        projection_hidden_dim=projection_hidden_dim,
        projection_dim=projection_dim, activation=activation,
        use_sync_bn=use_sync_bn, norm_momentum=norm_momentum,
        norm_epsilon=norm_epsilon, kernel_regularizer=kernel_regularizer)
    images = tf_keras.Input(shape=input_specs.shape[1:], name='image')
    endpoints = backbone(images)
    # Pooling in float32 keeps the representation exact under mixed precision.
    features = tf_keras.layers.GlobalAveragePooling3D(
        dtype='float32', name='features')(endpoints[max(endpoints, key=int)])
    embeddings = projection_head(
        features, projection_num_layers, projection_hidden_dim,
        projection_dim, activation, use_sync_bn, norm_momentum, norm_epsilon,
        kernel_regularizer)
    embeddings = tf_keras.layers.Activation(
        'linear', dtype='float32', name='embeddings')(embeddings)
    super().__init__(inputs=images, outputs=embeddings, **kwargs)
    # Not tracked: the backbone already is (as a layer), and a second path
    # to it would change the checkpoint's object graph.
    self._self_setattr_tracking = False
    self._backbone = backbone
    self._encoder = tf_keras.Model(images, features, name='encoder')
    self._self_setattr_tracking = True

  @property
  def backbone(self) -> tf_keras.Model:
    return self._backbone

  @property
  def encoder(self) -> tf_keras.Model:
    return self._encoder

  @property
  def checkpoint_items(self):
    return {'backbone': self._backbone}

  def encode(self, images, training: bool = False):
    """Representation f(x) [B, C] (float32) of clips [B, T, H, W, 3]."""
    return self._encoder(images, training=training)

  def get_config(self):
    return dict(self._config_dict)

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


def build_cvrl_model(
    input_specs: tf_keras.layers.InputSpec,
    model_config: cvrl_cfg.CVRLModel,
    l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None
) -> CVRLModel:
  """Builds the backbone named by `model_config.backbone` and the head."""
  norm = model_config.norm_activation
  backbone = backbone_factory.build_backbone(
      input_specs=input_specs,
      backbone_config=model_config.backbone,
      norm_activation_config=norm,
      l2_regularizer=l2_regularizer)
  return CVRLModel(
      backbone=backbone,
      input_specs=input_specs,
      projection_num_layers=model_config.projection_num_layers,
      projection_hidden_dim=model_config.projection_hidden_dim,
      projection_dim=model_config.projection_dim,
      activation=norm.activation,
      use_sync_bn=norm.use_sync_bn,
      norm_momentum=norm.norm_momentum,
      norm_epsilon=norm.norm_epsilon,
      kernel_regularizer=l2_regularizer)


def inference_encoder(model: CVRLModel) -> Callable[[tf.Tensor], tf.Tensor]:
  """f(x) in inference mode: clips [B, T, H, W, 3] -> features [B, C].

  One `tf.function` for every batch; `reduce_retracing` keeps a smaller last
  batch from tracing it again.
  """
  return tf.function(lambda images: model.encode(images, training=False),
                     reduce_retracing=True)


@factory_3d.register_model_builder('cvrl')
def build_cvrl_model_from_factory(
    input_specs: tf_keras.layers.InputSpec,
    model_config: cvrl_cfg.CVRLModel,
    num_classes: int,
    l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None
) -> CVRLModel:
  """`factory_3d.build_model('cvrl', ...)` entry point."""
  del num_classes  # Contrastive pretraining has no classifier.
  return build_cvrl_model(input_specs, model_config, l2_regularizer)
