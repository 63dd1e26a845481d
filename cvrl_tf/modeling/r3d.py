"""CVRL's 3D-ResNets (R3D-18/34/50/101/152/200, width k) on Model Garden.

`R3D` subclasses Model Garden's `ResNet3D`: for bottleneck depths at width 1
it creates exactly the same layers in the same order, so checkpoints are
interchangeable with Model Garden's `resnet_3d` backbone (and hence with
`video_ssl` checkpoints). It adds basic-block depths 18/34 and a width
multiplier on the stem and every stage.
"""
import itertools
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

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
  as in CVRL) is supported. Without `stem_max_pool` (torchvision's
  `BasicStem`) endpoint l is twice as large in space: H / 2**(l - 1).
  """

  def __init__(self, model_id: int, temporal_strides: List[int],
               temporal_kernel_sizes: List[Tuple[int, ...]],
               width_multiplier: int = 1,
               temporal_dilations: Optional[Sequence[int]] = None,
               second_temporal_kernel_size: int = 1,
               stem_max_pool: bool = True, **kwargs):
    """Initializes the network.

    Args:
      model_id: depth, a key of `RESNET_SPECS`.
      temporal_strides: temporal stride of each stage's first block.
      temporal_kernel_sizes: per stage, the temporal kernel of every block.
      width_multiplier: channel multiplier k of the stem and all stages.
      temporal_dilations: per stage, the temporal dilation of the first
        convolution of its first block (basic blocks only); None is 1s.
      second_temporal_kernel_size: temporal kernel of the second
        convolution of every basic block.
      stem_max_pool: max-pool after the stem convolution (3x3 spatial,
        stride 2), as Model Garden's `ResNet3D`; torchvision's video ResNets
        have none.
      **kwargs: the other `ResNet3D` arguments.
    """
    if model_id not in RESNET_SPECS:
      raise ValueError(f'Unsupported R3D depth {model_id}.')
    if kwargs.get('stem_type', 'v0') != 'v0':
      raise ValueError('R3D only supports the v0 stem.')
    self._width_multiplier = width_multiplier
    self._temporal_dilations = list(
        temporal_dilations or [1] * len(RESNET_SPECS[model_id]))
    self._second_temporal_kernel_size = second_temporal_kernel_size
    self._stem_max_pool = stem_max_pool
    is_basic = RESNET_SPECS[model_id][0][0] == 'basic3d'
    if not is_basic and (any(d != 1 for d in self._temporal_dilations) or
                         second_temporal_kernel_size != 1):
      raise ValueError('Temporal dilations and a temporal second kernel are '
                       'options of basic-block depths (18, 34).')
    super().__init__(model_id=model_id, temporal_strides=temporal_strides,
                     temporal_kernel_sizes=temporal_kernel_sizes, **kwargs)

  def _build_model(self, inputs):
    """Mirrors `ResNet3D._build_model` with our block types and widths."""
    x = self._build_stem(inputs, stem_type=self._stem_type)
    if self._stem_max_pool:
      pool_temporal_size = 1 if self._stem_pool_temporal_stride == 1 else 3
      x = tf_keras.layers.MaxPool3D(
          pool_size=[pool_temporal_size, 3, 3],
          strides=[self._stem_pool_temporal_stride, 2, 2],
          padding='same')(x)

    specs = RESNET_SPECS[self._model_id]
    if (len(self._temporal_strides) != len(specs) or
        len(self._temporal_kernel_sizes) != len(specs) or
        len(self._temporal_dilations) != len(specs)):
      raise ValueError('Need one temporal stride, dilation and kernel list '
                       'per stage.')
    endpoints = {}
    for i, (block_type, filters, repeats) in enumerate(specs):
      x = self._block_group(
          inputs=x,
          filters=filters * self._width_multiplier,
          temporal_kernel_sizes=self._temporal_kernel_sizes[i],
          temporal_strides=self._temporal_strides[i],
          spatial_strides=1 if i == 0 else 2,
          block_fn=self._stage_block_fn(block_type, i),
          block_repeats=repeats,
          stochastic_depth_drop_rate=nn_layers.get_stochastic_depth_rate(
              self._init_stochastic_depth_rate, i + 2, 5),
          use_self_gating=(
              self._use_self_gating[i] if self._use_self_gating else False),
          name=f'block_group_l{i + 2}')
      endpoints[str(i + 2)] = x
    return endpoints

  def _stage_block_fn(self, block_type: str,
                      stage: int) -> Callable[..., tf_keras.layers.Layer]:
    """The block constructor of stage `stage`, with the basic-block options.

    `ResNet3D._block_group` builds a stage's first block first: only that
    one gets the stage's temporal dilation. Without options this is the
    plain block class, so default networks are built exactly as before.
    """
    block_fn = BLOCK_FNS[block_type]
    every_block: Dict[str, Any] = {}
    if self._second_temporal_kernel_size != 1:
      every_block['second_temporal_kernel_size'] = (
          self._second_temporal_kernel_size)
    dilation = self._temporal_dilations[stage]
    if not every_block and dilation == 1:
      return block_fn
    blocks_built = itertools.count()

    def make_block(**kwargs):
      first_block = ({'temporal_dilation': dilation}
                     if next(blocks_built) == 0 and dilation != 1 else {})
      return block_fn(**kwargs, **every_block, **first_block)
    return make_block

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
    return {**super().get_config(), 'width_multiplier': self._width_multiplier,
            'temporal_dilations': self._temporal_dilations,
            'second_temporal_kernel_size': self._second_temporal_kernel_size,
            'stem_max_pool': self._stem_max_pool}


@factory.register_backbone_builder('r3d')
def build_r3d(
    input_specs: tf_keras.layers.InputSpec,
    backbone_config: hyperparams.Config,
    norm_activation_config: hyperparams.Config,
    l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None
) -> tf_keras.Model:
  """Builds an `R3D` from a `Backbone3D` config of type 'r3d'.

  CVRL's slow pathway never strides in time inside the stages; only the stem
  does (and the input pipeline's frame stride). torchvision's `r3d_18`
  (`backbones.torchvision_r3d_18`) strides in res3 and res4.
  """
  cfg = backbone_config.get()
  return R3D(
      model_id=cfg.model_id,
      width_multiplier=cfg.width_multiplier,
      temporal_strides=list(cfg.stage_temporal_strides),
      temporal_dilations=list(cfg.stage_temporal_dilations),
      second_temporal_kernel_size=cfg.second_conv_temporal_kernel_size,
      stem_max_pool=cfg.stem_max_pool,
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
