"""Inflates 2D ResNets, and R3Ds trained on single frames, into R3Ds.

CVRL's "ImageNet inflated" and "SimCLR inflated" baselines start a 3D-ResNet
from 2D weights the I3D way: every 2D kernel [kh, kw, C_in, C_out] is
repeated over the t taps of the corresponding 3D kernel and divided by t.
On a clip of identical frames each 3D convolution then sums t copies of the
2D response divided by t, so the 3D network computes the 2D network's
features on every frame whose temporal receptive field lies inside the clip
(near the clip's ends, 'same' padding feeds zeros to the outer taps).

An R3D trained on single frames (T=1 clips) is a 2D network in disguise:
with 'same' padding, the one frame only ever meets the centre tap of each
temporal kernel. Inflating it takes that tap and proceeds as above.

Layers are matched by structure, not by name (`layer_matching`).
BatchNorm's gamma, beta and moving statistics are copied. BatchNorm's
epsilon is not stored in checkpoints; the R3D uses its own config's.
"""
import os
from typing import Optional

import numpy as np
import tensorflow as tf
import tf_keras

from official.modeling import hyperparams
from official.vision.configs import backbones as backbones_2d_cfg
from official.vision.modeling.backbones import factory as backbone_factory
from official.vision.modeling.backbones import resnet
from official.vision.modeling.backbones import resnet_3d

from cvrl_tf.modeling import checkpoints
from cvrl_tf.modeling import layer_matching
from cvrl_tf.modeling import r3d
# Raised here and by the layer matching; callers catch it from here.
from cvrl_tf.modeling.layer_matching import InflationError

SOURCES = ('resnet2d', 'single_frame')
OUTPUT_PREFIX = 'inflated'

def inflate_kernel(kernel_2d, temporal_size: int) -> np.ndarray:
  """I3D inflation: [kh, kw, C_in, C_out] -> [t, kh, kw, C_in, C_out] / t."""
  kernel_2d = np.asarray(kernel_2d)
  if kernel_2d.ndim != 4:
    raise ValueError('Expected a 2D kernel [kh, kw, C_in, C_out], got shape '
                     f'{list(kernel_2d.shape)}.')
  if temporal_size < 1:
    raise ValueError(f'temporal_size must be >= 1, got {temporal_size}.')
  return np.repeat(kernel_2d[np.newaxis], temporal_size, axis=0) / np.asarray(
      temporal_size, kernel_2d.dtype)


def single_frame_tap(kernel_3d) -> np.ndarray:
  """The tap [kh, kw, C_in, C_out] of a 'same'-padded kernel that T=1 meets.

  TensorFlow pads (t - 1) // 2 zero frames before the clip, so the one frame
  sits under tap (t - 1) // 2: the centre for odd t.
  """
  kernel_3d = np.asarray(kernel_3d)
  if kernel_3d.ndim != 5:
    raise ValueError('Expected a 3D kernel [t, kh, kw, C_in, C_out], got '
                     f'shape {list(kernel_3d.shape)}.')
  return kernel_3d[(kernel_3d.shape[0] - 1) // 2]


def _copy(pairs) -> int:
  """Assigns inflated kernels and copied BatchNorms; returns layers copied."""
  for source, target in pairs:
    if isinstance(source, layer_matching.CONV_TYPES):
      kernel = source.kernel.numpy()
      if kernel.ndim == 5:
        kernel = single_frame_tap(kernel)
      target.kernel.assign(inflate_kernel(kernel, target.kernel.shape[0]))
      if source.use_bias:
        target.bias.assign(source.bias)
    else:
      for source_weight, target_weight in zip(source.weights, target.weights):
        target_weight.assign(source_weight)
  return len(pairs)


def _check_r3d(backbone: tf_keras.Model, role: str) -> dict:
  """The config of a 3D-ResNet that inflation supports, else raises."""
  if not isinstance(backbone, resnet_3d.ResNet3D):
    raise InflationError(f'The {role} must be an R3D / ResNet3D, got '
                         f'{type(backbone).__name__}.')
  config = backbone.get_config()
  if config['stem_type'] != 'v0':
    raise InflationError(f"The {role} must have the 'v0' stem, got "
                         f"{config['stem_type']!r}.")
  if config['se_ratio'] or any(config['use_self_gating'] or ()):
    raise InflationError(f'The {role} must have no squeeze-excitation or '
                         'self-gating layers.')
  return config


def _check_same(source_config: dict, target_config: dict, source_label: str,
                source_width_key: str):
  """Activation and width must agree; other shapes are checked per layer."""
  if source_config['activation'] != target_config['activation']:
    raise InflationError(
        f"The {source_label} uses activation {source_config['activation']!r}"
        f", the R3D {target_config['activation']!r}.")
  source_width = source_config.get(source_width_key, 1.0)
  target_width = target_config.get('width_multiplier', 1.0)
  if float(source_width) != float(target_width):
    raise InflationError(
        f'Widths differ: the {source_label} has {source_width_key} '
        f'{source_width}, the R3D width_multiplier {target_width}; only '
        'matching widths can be inflated.')


def inflate_resnet_2d(resnet_2d: tf_keras.Model,
                      target: tf_keras.Model) -> int:
  """Copies a 2D ResNet into a 3D one, inflating every kernel (I3D).

  Supports Model Garden's default ResNet: 'v0' stem with its max-pool, no
  ResNet-D shortcut, no squeeze-excitation. Its 'residual' depths (18, 34)
  always project the shortcut of res2's first block, which R3D-18/34 do
  not, so only bottleneck depths (50 and deeper) match.

  Args:
    resnet_2d: a built `resnet.ResNet`.
    target: a built `R3D` (or Model Garden `ResNet3D`), modified in place.

  Returns:
    The number of conv and BatchNorm layers copied.

  Raises:
    InflationError: unsupported options, or naming the first layer that
      does not match; `target` is then left unchanged.
  """
  if not isinstance(resnet_2d, resnet.ResNet):
    raise InflationError('The source must be a 2D `resnet.ResNet`, got '
                         f'{type(resnet_2d).__name__}.')
  config = resnet_2d.get_config()
  for option, default in (('stem_type', 'v0'), ('resnetd_shortcut', False),
                          ('replace_stem_max_pool', False)):
    if config[option] != default:
      raise InflationError(f'Only the default 2D ResNet can be inflated: '
                           f'{option} is {config[option]!r}, not {default!r}.')
  if config['se_ratio'] and 0 < config['se_ratio'] <= 1:
    raise InflationError('Only the default 2D ResNet can be inflated: it has '
                         f"squeeze-excitation (se_ratio {config['se_ratio']}).")
  target_config = _check_r3d(target, 'target')
  _check_same(config, target_config, '2D ResNet', 'depth_multiplier')
  pairs = layer_matching.match_layers(
      resnet_2d, resnet.RESNET_SPECS[config['model_id']], target,
      r3d.RESNET_SPECS[target_config['model_id']], '2D ResNet')
  return _copy(pairs)


def inflate_single_frame(source: tf_keras.Model,
                         target: tf_keras.Model) -> int:
  """Inflates an R3D trained on T=1 clips into an R3D for longer clips.

  Every target kernel becomes the source kernel's single-frame tap repeated
  over time and divided by t, so the target computes on a clip of
  identical frames what the source computes on one of them.

  Args:
    source: a built `R3D` whose weights were trained on single frames.
    target: a built `R3D` of the same depth and width (its temporal kernel
      sizes may differ), modified in place.

  Returns:
    The number of conv and BatchNorm layers copied.

  Raises:
    InflationError: unsupported options, or naming the first layer that
      does not match; `target` is then left unchanged.
  """
  source_config = _check_r3d(source, 'single-frame source')
  target_config = _check_r3d(target, 'target')
  _check_same(source_config, target_config, 'single-frame R3D',
              'width_multiplier')
  pairs = layer_matching.match_layers(
      source, r3d.RESNET_SPECS[source_config['model_id']], target,
      r3d.RESNET_SPECS[target_config['model_id']], 'single-frame R3D')
  return _copy(pairs)


def build_resnet_2d(model_id: int, depth_multiplier: float,
                    norm_activation: hyperparams.Config) -> tf_keras.Model:
  """Model Garden's default 2D ResNet, on images [B, H, W, 3] of any size."""
  if model_id not in resnet.RESNET_SPECS:
    raise InflationError(f'Unknown 2D ResNet depth {model_id}; known: '
                         f'{sorted(resnet.RESNET_SPECS)}.')
  return backbone_factory.build_backbone(
      input_specs=tf_keras.layers.InputSpec(shape=[None, None, None, 3]),
      backbone_config=backbones_2d_cfg.Backbone(
          type='resnet', resnet=backbones_2d_cfg.ResNet(
              model_id=model_id, depth_multiplier=depth_multiplier)),
      norm_activation_config=norm_activation)


def build_backbone_3d(model_config: hyperparams.Config) -> tf_keras.Model:
  """`model_config.backbone` on clips [B, T, H, W, 3] of any size."""
  return backbone_factory.build_backbone(
      input_specs=tf_keras.layers.InputSpec(shape=[None, None, None, None, 3]),
      backbone_config=model_config.backbone,
      norm_activation_config=model_config.norm_activation)


def check_output_dir(output_dir: str):
  """Refuses a directory whose latest checkpoint is not an earlier output."""
  if tf.io.gfile.isdir(output_dir):
    latest = tf.train.latest_checkpoint(output_dir)
    if latest and not os.path.basename(latest).startswith(OUTPUT_PREFIX + '-'):
      raise FileExistsError(f'{output_dir} already holds checkpoint {latest}; '
                            'choose another output directory.')


def save_backbone(backbone: tf_keras.Model, output_dir: str) -> str:
  """Writes {'backbone': backbone} to `output_dir`; returns the prefix.

  The directory's 'checkpoint' file then names it, so the directory itself
  can be an `init_checkpoint`. A directory holding other checkpoints is
  refused rather than re-pointed; an earlier output is replaced.
  """
  check_output_dir(output_dir)
  tf.io.gfile.makedirs(output_dir)
  return tf.train.Checkpoint(backbone=backbone).save(
      os.path.join(output_dir, OUTPUT_PREFIX))


def inflate_checkpoint(model_config: hyperparams.Config, checkpoint_path: str,
                       output_dir: str, source: str = 'resnet2d',
                       resnet_model_id: Optional[int] = None,
                       resnet_depth_multiplier: Optional[float] = None) -> str:
  """Inflates a checkpoint's backbone into `model_config.backbone` and saves.

  The source is read from the checkpoint's `backbone` item, which Model
  Garden's trainer writes for image classification (and this package's for
  pretraining), strictly. The output holds the inflated backbone under
  `backbone/`: an `init_checkpoint` for `init_checkpoint_modules: backbone`.

  Args:
    model_config: a task's model config (`backbone`, `norm_activation`)
      describing the target R3D.
    checkpoint_path: source checkpoint prefix or directory (latest is
      used), local or gs://.
    output_dir: directory for the output, local or gs://.
    source: 'resnet2d' for a 2D ResNet, 'single_frame' for an R3D of
      `model_config.backbone` trained on T=1 clips.
    resnet_model_id: depth of the 2D ResNet; default the R3D's.
    resnet_depth_multiplier: width of the 2D ResNet; default the R3D's.

  Returns:
    The prefix of the written checkpoint.

  Raises:
    ValueError: unknown `source`.
    FileExistsError: `output_dir` holds other checkpoints.
    checkpoints.CheckpointMismatchError: the checkpoint does not hold the
      described source backbone.
    InflationError: the source does not map onto the R3D.
  """
  if source not in SOURCES:
    raise ValueError(f'source must be one of {SOURCES}, got {source!r}.')
  check_output_dir(output_dir)  # Before the slow part.
  target = build_backbone_3d(model_config)
  if source == 'resnet2d':
    backbone_config = model_config.backbone.get()
    source_backbone = build_resnet_2d(
        resnet_model_id or backbone_config.model_id,
        resnet_depth_multiplier or getattr(backbone_config,
                                           'width_multiplier', 1.0),
        model_config.norm_activation)
    inflate = inflate_resnet_2d
  else:
    source_backbone = build_backbone_3d(model_config)
    inflate = inflate_single_frame
  checkpoints.load_backbone(source_backbone, checkpoint_path)
  inflate(source_backbone, target)
  return save_backbone(target, output_dir)
