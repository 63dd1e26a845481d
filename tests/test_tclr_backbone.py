"""The R3D options that express TCLR's torchvision r3d_18; defaults unchanged."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.vision.configs import common
from official.vision.modeling.backbones import factory

from cvrl_tf.configs import backbones as backbone_cfg
from cvrl_tf.modeling import r3d
from cvrl_tf.modeling.dilated_conv_3d import TemporallyDilatedConv3D

# Variable names and shapes, and checkpoint keys and shapes, of the default
# R3D-18 and R3D-50 backbones, written before these options existed.
DEFAULT_LAYOUT = os.path.join(os.path.dirname(__file__), 'testdata',
                              'r3d_default_layout.json')


def build(r3d_config, frames=4, size=32):
  return factory.build_backbone(
      input_specs=tf_keras.layers.InputSpec(shape=[None, frames, size, size,
                                                   3]),
      backbone_config=backbone_cfg.Backbone3D(type='r3d', r3d=r3d_config),
      norm_activation_config=common.NormActivation(norm_momentum=0.9,
                                                   norm_epsilon=1e-5))


@pytest.mark.parametrize('model_id', [18, 50])
def test_default_backbones_keep_their_variables_and_checkpoints(
    model_id, tmp_path):
  expected = json.load(open(DEFAULT_LAYOUT))[str(model_id)]
  tf_keras.backend.clear_session()
  model = build(backbone_cfg.R3D(model_id=model_id))
  assert [[v.name, v.shape.as_list()] for v in model.variables] == (
      expected['variables'])
  path = tf.train.Checkpoint(backbone=model).write(str(tmp_path / 'ckpt'))
  keys = [[k, s] for k, s in tf.train.list_variables(path)
          if k != '_CHECKPOINTABLE_OBJECT_GRAPH']
  assert keys == expected['checkpoint']


def torchvision_r3d18_trainable_params():
  """Counted from torchvision's r3d_18 spec (TCLR's `r3d.py`) without fc.

  BasicStem 3x7x7 conv + BN; BasicBlock: two 3x3x3 convs + BNs, and a
  1x1x1 conv + BN downsample where the width changes; BN has 2 trainable
  values per channel. TCLR's dilation adds no parameters.
  """
  def conv_bn(kernel, c_in, c_out):
    return int(np.prod(kernel)) * c_in * c_out + 2 * c_out

  total = conv_bn((3, 7, 7), 3, 64)
  c_in = 64
  for width in (64, 128, 256, 512):
    for block in range(2):
      total += conv_bn((3, 3, 3), c_in, width) + conv_bn((3, 3, 3), width,
                                                         width)
      if block == 0 and c_in != width:
        total += conv_bn((1, 1, 1), c_in, width)
      c_in = width
  return total


def test_torchvision_r3d18_ends_a_16_frame_clip_with_4_time_steps():
  model = build(backbone_cfg.torchvision_r3d_18(), frames=16, size=32)
  endpoints = model(tf.random.uniform([1, 16, 32, 32, 3]), training=False)
  # No stem max-pool: space halves in the stem and in res3..res5 only;
  # time halves in res3 and res4 and is dilated, not strided, in res5.
  assert endpoints['2'].shape == (1, 16, 16, 16, 64)
  assert endpoints['3'].shape == (1, 8, 8, 8, 128)
  assert endpoints['4'].shape == (1, 4, 4, 4, 256)
  assert endpoints['5'].shape == (1, 4, 2, 2, 512)
  trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
  assert trainable == torchvision_r3d18_trainable_params() == 33_166_272
  convs = [l for l in model.submodules
           if isinstance(l, tf_keras.layers.Conv3D)]
  assert sorted({tuple(c.kernel.shape[:3]) for c in convs}) == [
      (1, 1, 1), (3, 3, 3), (3, 7, 7)]
  dilated = [c for c in convs if isinstance(c, TemporallyDilatedConv3D)]
  assert len(dilated) == 1 and dilated[0].temporal_dilation == 2
  assert dilated[0].strides == (1, 2, 2) and dilated[0].filters == 512
  clone = r3d.R3D.from_config(model.get_config())
  assert clone.count_params() == model.count_params()


@pytest.mark.parametrize('frames', [4, 5])
def test_dilated_conv_equals_dilated_conv_subsampled_in_space(frames):
  conv = TemporallyDilatedConv3D(2, filters=4, kernel_size=3,
                                 strides=(1, 2, 2), padding='same')
  x = tf.random.uniform([2, frames, 8, 8, 3], seed=1)
  got = conv(x)
  reference = tf.nn.convolution(x, conv.kernel, strides=1, padding='SAME',
                                dilations=[2, 1, 1])
  # A stride-2 'same' conv of an even size centres output i on input 2i + 1.
  np.testing.assert_allclose(got.numpy(), reference[:, :, 1::2, 1::2].numpy(),
                             atol=1e-5)


def test_options_of_basic_blocks_only_and_tiling_dilation():
  with pytest.raises(ValueError, match='basic-block'):
    build(backbone_cfg.R3D(model_id=50, stage_temporal_dilations=(1, 1, 1, 2)))
  with pytest.raises(ValueError, match='temporal stride 1'):
    TemporallyDilatedConv3D(2, filters=4, kernel_size=3, strides=2,
                            padding='same')
