"""Backbone configs: the paper's 3D-ResNets (R3D-18/34/50/101/152, width k)."""
import dataclasses
from typing import Tuple

from official.modeling import hyperparams
from official.vision.configs import backbones_3d


@dataclasses.dataclass
class R3D(hyperparams.Config):
  """A 3D-ResNet in the style of the SlowFast "slow" pathway (CVRL sec. 3.2).

  Attributes:
    model_id: depth; 18 and 34 use basic blocks, 50 and deeper bottlenecks.
    width_multiplier: channel multiplier of every stage; fractions give
      small CPU models (the paper's R3D-152
      2x has width_multiplier=2).
    stem_conv_temporal_kernel_size: CVRL uses 5 in the first convolution.
    stem_conv_temporal_stride: CVRL uses 2 in the first convolution.
    stem_pool_temporal_stride: temporal stride of the stem max-pool.
    temporal_kernel_sizes: temporal kernel of each stage's (first) conv in
      every block; the slow pathway inflates only res4 and res5.
    stage_temporal_strides: temporal stride of each stage's first block;
      CVRL's slow pathway strides only in the stem.
    stage_temporal_dilations: temporal dilation of the first convolution of
      each stage's first block (basic-block depths; that block's temporal
      stride must be 1).
    second_conv_temporal_kernel_size: temporal kernel of the second
      convolution of every basic block (CVRL: 1, torchvision: 3).
    stem_max_pool: the 3x3 spatial max-pool after the stem convolution
      (Model Garden's ResNet3D); torchvision's video ResNets have none.
  """
  model_id: int = 50
  width_multiplier: float = 1.0
  stem_conv_temporal_kernel_size: int = 5
  stem_conv_temporal_stride: int = 2
  stem_pool_temporal_stride: int = 1
  temporal_kernel_sizes: Tuple[int, int, int, int] = (1, 1, 3, 3)
  stage_temporal_strides: Tuple[int, int, int, int] = (1, 1, 1, 1)
  stage_temporal_dilations: Tuple[int, int, int, int] = (1, 1, 1, 1)
  second_conv_temporal_kernel_size: int = 1
  stem_max_pool: bool = True


def torchvision_r3d_18() -> R3D:
  """torchvision's `r3d_18` as TCLR modifies it.

  torchvision `torchvision/models/video/resnet.py` `r3d_18`: `BasicStem`
  (Conv3d 3x7x7, stride (1, 2, 2), no max-pool), `Conv3DSimple` (3x3x3) for
  both convolutions of every `BasicBlock`, stride 2 in time and space in
  layer2..layer4. TCLR (github.com/DAVEISHAN/TCLR,
  `tclr_pretraining/model.py`, `build_r3d_backbone`) gives layer4's first
  convolution stride (1, 2, 2) with temporal dilation 2, and its shortcut
  stride (1, 2, 2): a 16-frame clip ends with 4 time steps.

  TensorFlow's 'same' padding pads a strided dimension of even size by one
  after (torchvision: one on each side), so torchvision weights would be
  shifted by one input position in strided layers; the layer shapes are
  torchvision's.
  """
  return R3D(model_id=18,
             stem_conv_temporal_kernel_size=3,
             stem_conv_temporal_stride=1,
             stem_pool_temporal_stride=1,
             stem_max_pool=False,
             temporal_kernel_sizes=(3, 3, 3, 3),
             second_conv_temporal_kernel_size=3,
             stage_temporal_strides=(1, 2, 2, 1),
             stage_temporal_dilations=(1, 1, 1, 2))


@dataclasses.dataclass
class Backbone3D(backbones_3d.Backbone3D):
  """Model Garden's 3D backbone choice, extended with `r3d`."""
  type: str = 'r3d'
  r3d: R3D = dataclasses.field(default_factory=R3D)
