"""Video classifier on a (pretrained) backbone, for linear eval and fine-tuning."""
import tensorflow as tf
import tf_keras
from official.vision.modeling.backbones import factory as backbone_factory

from cvrl_tf.configs import evaluation as eval_cfg


@tf_keras.utils.register_keras_serializable(package='cvrl_tf')
class VideoClassifier(tf_keras.Model):
  """Backbone -> global average pool -> (L2 normalise) -> dropout -> linear.

  Maps clips [B, T, H, W, 3] to float32 logits [B, num_classes]. Exposes
  `backbone` and `checkpoint_items` like the pretraining model, so
  `init_checkpoint_modules: backbone` restores the encoder only.
  """

  def __init__(self, backbone: tf_keras.Model,
               input_specs: tf_keras.layers.InputSpec, num_classes: int,
               normalize_features: bool = False, dropout_rate: float = 0.0,
               **kwargs):
    self._config_dict = dict(
        backbone=backbone, input_specs=input_specs, num_classes=num_classes,
        normalize_features=normalize_features, dropout_rate=dropout_rate)
    images = tf_keras.Input(shape=input_specs.shape[1:], name='image')
    endpoints = backbone(images)
    x = tf_keras.layers.GlobalAveragePooling3D(dtype='float32')(
        endpoints[max(endpoints, key=int)])
    if normalize_features:
      x = tf_keras.layers.Lambda(
          lambda v: tf.math.l2_normalize(v, axis=-1), dtype='float32')(x)
    if dropout_rate:
      x = tf_keras.layers.Dropout(dropout_rate)(x)
    logits = tf_keras.layers.Dense(num_classes, dtype='float32',
                                   name='logits')(x)
    super().__init__(inputs=images, outputs=logits, **kwargs)
    self._self_setattr_tracking = False
    self._backbone = backbone
    self._self_setattr_tracking = True

  @property
  def backbone(self) -> tf_keras.Model:
    return self._backbone

  @property
  def checkpoint_items(self):
    return {'backbone': self._backbone}

  def get_config(self):
    return dict(self._config_dict)

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


def build_classifier(input_specs: tf_keras.layers.InputSpec,
                     model_config: eval_cfg.ClassifierModel,
                     num_classes: int) -> VideoClassifier:
  """Builds the backbone named in `model_config` with a linear classifier."""
  backbone = backbone_factory.build_backbone(
      input_specs=input_specs, backbone_config=model_config.backbone,
      norm_activation_config=model_config.norm_activation)
  return VideoClassifier(
      backbone, input_specs, num_classes,
      normalize_features=model_config.normalize_features,
      dropout_rate=model_config.dropout_rate)
