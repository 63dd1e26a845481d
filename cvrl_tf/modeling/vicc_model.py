"""ViCC's network: per stream an encoder, a projection and prototypes.

Mirrors the authors' code (github.com/martinetoering/ViCC,
`src/model/pretrain.py`): `ViCC.__init__` builds

  encoder_q = backbone -> AdaptiveAvgPool3d(1) -> Conv3d(C, C, 1, bias)
              -> ReLU -> Conv3d(C, 128, 1, bias),
  prototypes = Linear(128, 300, bias=False),

and `ViCC2` a second such encoder for the other stream. Here both streams
are built alike; embeddings are the L2-normalised projections
(`nn.functional.normalize(s, dim=1)`), float32.

Checkpoint items: the RGB backbone is `backbone`, as every model here, so
the evaluation tasks and `tools/export_model.py` load it without flow; the
flow backbone is `flow_backbone`. Everything else (heads, prototypes, the
queues) is under `model/`.
"""
from typing import Dict, List, Optional

import tensorflow as tf
import tf_keras
from official.vision.modeling.backbones import factory as backbone_factory

from cvrl_tf.configs import vicc as vicc_cfg
from cvrl_tf.modeling import embedding_queue
from cvrl_tf.modeling import prototypes as prototypes_lib

# Views per step: the trained stream's two, then the other stream's two
# (ViCC `--nmb_views 2 2`); alone, only the first two.
NUM_VIEWS = 4


def projection(feature_dim: int, embedding_dim: int) -> tf_keras.Sequential:
  """`encoder_q`'s 1x1x1 convolutions on pooled features, as Dense layers."""
  return tf_keras.Sequential([
      tf_keras.layers.Dense(feature_dim, use_bias=True, name='dense_0'),
      tf_keras.layers.ReLU(name='relu'),
      tf_keras.layers.Dense(embedding_dim, use_bias=True, name='dense_1'),
  ], name='projection')


@tf_keras.utils.register_keras_serializable(package='cvrl_tf')
class ViCCModel(tf_keras.Model):
  """Two streams, each backbone -> pool -> projection -> prototypes.

  Attributes:
    backbone: the RGB backbone (endpoints '2'..'5').
    queue: the embedding queues, one per view (`EmbeddingQueue`), or None.
    checkpoint_items: {'backbone': RGB backbone, 'flow_backbone': flow
      backbone}.
  """

  def __init__(self, backbones: Dict[str, tf_keras.Model],
               projections: Dict[str, tf_keras.Sequential],
               prototypes: Dict[str, prototypes_lib.Prototypes],
               queue: Optional[embedding_queue.EmbeddingQueue], **kwargs):
    super().__init__(**kwargs)
    self._config_dict = dict(backbones=backbones, projections=projections,
                             prototypes=prototypes, queue=queue)
    self._backbones = backbones
    self._projections = projections
    self._prototypes = prototypes
    self._queue = queue

  @property
  def backbone(self) -> tf_keras.Model:
    return self._backbones['rgb']

  @property
  def queue(self) -> Optional[embedding_queue.EmbeddingQueue]:
    return self._queue

  @property
  def checkpoint_items(self):
    return {'backbone': self._backbones['rgb'],
            'flow_backbone': self._backbones['flow']}

  def prototypes(self, stream: str) -> prototypes_lib.Prototypes:
    return self._prototypes[stream]

  def features(self, stream: str, clips: tf.Tensor,
               training: bool = False) -> tf.Tensor:
    """Pooled backbone features [B, C] (float32) of clips [B, T, H, W, 3]."""
    endpoints = self._backbones[stream](clips, training=training)
    last = tf.cast(endpoints[max(endpoints, key=int)], tf.float32)
    return tf.reduce_mean(last, axis=[1, 2, 3])

  def embed(self, stream: str, clips: tf.Tensor,
            training: bool = False) -> tf.Tensor:
    """L2-normalised embeddings [B, D] (float32) of one stream's clips."""
    projected = self._projections[stream](
        self.features(stream, clips, training), training=training)
    return tf.math.l2_normalize(tf.cast(projected, tf.float32), axis=-1)

  def stream_variables(self, stream: str) -> List[tf.Variable]:
    """The trainable variables a stage training `stream` updates."""
    return (self._backbones[stream].trainable_variables +
            self._projections[stream].trainable_variables +
            self._prototypes[stream].trainable_variables)

  def call(self, clips, training=None):
    """RGB embeddings [B, D] of clips [B, T, H, W, 3]."""
    return self.embed('rgb', clips, training=training)

  def encode(self, images, training: bool = False):
    """RGB representation f(x) [B, C] (float32) of clips [B, T, H, W, 3]."""
    return self.features('rgb', images, training)

  def get_config(self):
    return dict(self._config_dict)

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


def build_vicc_model(input_specs: tf_keras.layers.InputSpec,
                     model_config: vicc_cfg.ViCCModel,
                     queue_length: int) -> ViCCModel:
  """Builds both streams and `NUM_VIEWS` queues of `queue_length` rows
  (none if 0)."""
  backbones, projections, prototypes = {}, {}, {}
  clips = tf_keras.Input(shape=input_specs.shape[1:])
  for stream in vicc_cfg.STREAMS:
    backbones[stream] = backbone_factory.build_backbone(
        input_specs=input_specs, backbone_config=model_config.backbone,
        norm_activation_config=model_config.norm_activation)
    endpoints = backbones[stream](clips)
    feature_dim = endpoints[max(endpoints, key=int)].shape[-1]
    projections[stream] = projection(feature_dim, model_config.embedding_dim)
    prototypes[stream] = prototypes_lib.Prototypes(
        model_config.num_prototypes, name=f'{stream}_prototypes')
    # Creates the variables, so checkpoints restore into a built model.
    prototypes[stream](projections[stream](
        tf_keras.Input(shape=[feature_dim])))
  queue = None
  if queue_length:
    queue = embedding_queue.EmbeddingQueue(
        NUM_VIEWS, queue_length, model_config.embedding_dim, name='queue')
  return ViCCModel(backbones=backbones, projections=projections,
                   prototypes=prototypes, queue=queue)
