"""CVRL's 3D-ResNets (R3D-18/34/50/101/152/200, width k) on Model Garden.

`R3D` subclasses Model Garden's `ResNet3D`: for bottleneck depths at width 1
it creates exactly the same layers in the same order, so checkpoints are
interchangeable with Model Garden's `resnet_3d` backbone (and hence with
`video_ssl` checkpoints). It adds basic-block depths 18/34 and a width
multiplier on the stem and every stage.
"""
from typing import List, Optional, Sequence, Tuple

import tf_keras

from official.modeling import hyperparams
from official.modeling import tf_utils
from official.vision.modeling.backbones import factory
from official.vision.modeling.backbones import resnet_3d
from official.vision.modeling.layers import nn_blocks_3d
from official.vision.modeling.layers import nn_layers

from cvrl_tf.modeling.basic_block_3d import BasicBlock3D
from cvrl_tf.modeling.stem_conv import StemConv3D

# (block type, stage width at k=1, blocks) for res2..res5.
RESNET_SPECS = {
    18: [('basic3d', 64, 2), ('basic3d', 128, 2), ('basic3d', 256, 2),
         ('basic3d', 512, 2)],
    34: [('basic3d', 64, 3), ('basic3d', 128, 4), ('basic3d', 256, 6),
         ('basic3d', 512, 3)],
    **resnet_3d.RESNET_SPECS,
}
BLOCK_FNS = {
    'basic3d': BasicBlock3D,
    'bottleneck3d': nn_blocks_3d.BottleneckBlock3D,
}
STEM_FILTERS = 64


def block_temporal_kernel_sizes(
    model_id: int, stage_kernel_sizes: Sequence[int]) -> List[Tuple[int, ...]]:
  """Repeats each stage's temporal kernel for every block of that stage.

  Args:
    model_id: network depth, a key of `RESNET_SPECS`.
    stage_kernel_sizes: one temporal kernel size per stage (res2..res5).

  Returns:
    `ResNet3D`'s per-block form, e.g. [(1,)*3, (1,)*4, (3,)*6, (3,)*3].
  """
  specs = RESNET_SPECS[model_id]
  if len(stage_kernel_sizes) != len(specs):
    raise ValueError(f'Expected {len(specs)} stage kernel sizes, got '
                     f'{stage_kernel_sizes}.')
  return [(k,) * repeats
          for k, (_, _, repeats) in zip(stage_kernel_sizes, specs)]


@tf_keras.utils.register_keras_serializable(package='cvrl_tf')
class R3D(resnet_3d.ResNet3D):
  """`ResNet3D` with basic-block depths and a width multiplier.

  Takes clips [B, T, H, W, 3] and returns endpoints '2'..'5' (res2..res5):
  endpoint l has shape [B, T', H / 2**l, W / 2**l, C_l], T' = T divided by
  the stem and stage temporal strides, C_l = k * (64, 128, 256, 512)[l - 2]
  (times 4 for bottleneck depths). Only the 'v0' stem (one 7x7 convolution,
  as in CVRL) is supported.
  """

  def __init__(self, model_id: int, temporal_strides: List[int],
               temporal_kernel_sizes: List[Tuple[int, ...]],
               width_multiplier: int = 1, **kwargs):
    """Initializes the network.

    Args:
      model_id: depth, a key of `RESNET_SPECS`.
      temporal_strides: temporal stride of each stage's first block.
      temporal_kernel_sizes: per stage, the temporal kernel of every block.
      width_multiplier: channel multiplier k of the stem and all stages.
      **kwargs: the other `ResNet3D` arguments.
    """
    if model_id not in RESNET_SPECS:
      raise ValueError(f'Unsupported R3D depth {model_id}.')
    if kwargs.get('stem_type', 'v0') != 'v0':
      raise ValueError('R3D only supports the v0 stem.')
    self._width_multiplier = width_multiplier
    super().__init__(model_id=model_id, temporal_strides=temporal_strides,
                     temporal_kernel_sizes=temporal_kernel_sizes, **kwargs)

  def _build_model(self, inputs):
    """Mirrors `ResNet3D._build_model` with our block types and widths."""
    x = self._build_stem(inputs, stem_type=self._stem_type)
    pool_temporal_size = 1 if self._stem_pool_temporal_stride == 1 else 3
    x = tf_keras.layers.MaxPool3D(
        pool_size=[pool_temporal_size, 3, 3],
        strides=[self._stem_pool_temporal_stride, 2, 2],
        padding='same')(x)

    specs = RESNET_SPECS[self._model_id]
    if (len(self._temporal_strides) != len(specs) or
        len(self._temporal_kernel_sizes) != len(specs)):
      raise ValueError('Need one temporal stride and kernel list per stage.')
    endpoints = {}
    for i, (block_type, filters, repeats) in enumerate(specs):
      x = self._block_group(
          inputs=x,
          filters=filters * self._width_multiplier,
          temporal_kernel_sizes=self._temporal_kernel_sizes[i],
          temporal_strides=self._temporal_strides[i],
          spatial_strides=1 if i == 0 else 2,
          block_fn=BLOCK_FNS[block_type],
          block_repeats=repeats,
          stochastic_depth_drop_rate=nn_layers.get_stochastic_depth_rate(
              self._init_stochastic_depth_rate, i + 2, 5),
          use_self_gating=(
              self._use_self_gating[i] if self._use_self_gating else False),
          name=f'block_group_l{i + 2}')
      endpoints[str(i + 2)] = x
    return endpoints

  def _build_stem(self, inputs, stem_type):
    """The v0 stem of `ResNet3D`, widened by the width multiplier."""
    del stem_type  # Checked in __init__.
    x = StemConv3D(
        filters=STEM_FILTERS * self._width_multiplier,
        kernel_size=[self._stem_conv_temporal_kernel_size, 7, 7],
        strides=[self._stem_conv_temporal_stride, 2, 2],
        use_bias=False,
        padding='same',
        kernel_initializer=self._kernel_initializer,
        kernel_regularizer=self._kernel_regularizer,
        bias_regularizer=self._bias_regularizer)(inputs)
    x = self._norm(
        axis=self._bn_axis,
        momentum=self._norm_momentum,
        epsilon=self._norm_epsilon,
        synchronized=self._use_sync_bn)(x)
    return tf_utils.get_activation(self._activation)(x)

  def get_config(self):
    return {**super().get_config(), 'width_multiplier': self._width_multiplier}


@factory.register_backbone_builder('r3d')
def build_r3d(
    input_specs: tf_keras.layers.InputSpec,
    backbone_config: hyperparams.Config,
    norm_activation_config: hyperparams.Config,
    l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None
) -> tf_keras.Model:
  """Builds an `R3D` from a `Backbone3D` config of type 'r3d'.

  The slow pathway never strides in time inside the stages; only the stem
  does (and the input pipeline's frame stride).
  """
  cfg = backbone_config.get()
  return R3D(
      model_id=cfg.model_id,
      width_multiplier=cfg.width_multiplier,
      temporal_strides=[1] * len(RESNET_SPECS[cfg.model_id]),
      temporal_kernel_sizes=block_temporal_kernel_sizes(
          cfg.model_id, cfg.temporal_kernel_sizes),
      input_specs=input_specs,
      stem_conv_temporal_kernel_size=cfg.stem_conv_temporal_kernel_size,
      stem_conv_temporal_stride=cfg.stem_conv_temporal_stride,
      stem_pool_temporal_stride=cfg.stem_pool_temporal_stride,
      activation=norm_activation_config.activation,
      use_sync_bn=norm_activation_config.use_sync_bn,
      norm_momentum=norm_activation_config.norm_momentum,
      norm_epsilon=norm_activation_config.norm_epsilon,
      kernel_regularizer=l2_regularizer)
