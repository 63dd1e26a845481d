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
  """
  model_id: int = 50
  width_multiplier: float = 1.0
  stem_conv_temporal_kernel_size: int = 5
  stem_conv_temporal_stride: int = 2
  stem_pool_temporal_stride: int = 1
  temporal_kernel_sizes: Tuple[int, int, int, int] = (1, 1, 3, 3)


@dataclasses.dataclass
class Backbone3D(backbones_3d.Backbone3D):
  """Model Garden's 3D backbone choice, extended with `r3d`."""
  type: str = 'r3d'
  r3d: R3D = dataclasses.field(default_factory=R3D)
