"""R3D backbones: parameter counts, layout, and Model Garden compatibility."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.vision.configs import common
from official.vision.modeling.backbones import factory
from official.vision.modeling.backbones import resnet_3d

from cvrl_tf.configs import backbones as backbone_cfg
from cvrl_tf.modeling import r3d
from cvrl_tf.modeling.basic_block_3d import BasicBlock3D

INPUT_SHAPE = (1, 4, 32, 32, 3)
# Stage layout of the slow pathway: (block type, blocks per stage).
DEPTHS = {
    18: ('basic', (2, 2, 2, 2)),
    34: ('basic', (3, 4, 6, 3)),
    50: ('bottleneck', (3, 4, 6, 3)),
    152: ('bottleneck', (3, 8, 36, 3)),
}


def analytic_num_params(model_id, width=1, temporal_kernels=(1, 1, 3, 3)):
  """Sums convolution kernels and BatchNorm variables (4 per channel).

  Every stage's blocks carry its temporal kernel on their first conv; the
  stem is a 5x7x7 conv; shortcuts are 1x1x1 convs where the width changes.
  """
  def conv(kt, ks, c_in, c_out):
    return kt * ks * ks * c_in * c_out + 4 * c_out

  block_type, repeats = DEPTHS[model_id]
  c_in = 64 * width
  total = conv(5, 7, 3, c_in)
  for stage, (n, kt) in enumerate(zip(repeats, temporal_kernels)):
    w = 64 * width * 2**stage
    c_out = 4 * w if block_type == 'bottleneck' else w
    for _ in range(n):
      if block_type == 'bottleneck':
        total += conv(kt, 1, c_in, w) + conv(1, 3, w, w) + conv(1, 1, w, c_out)
      else:
        total += conv(kt, 3, c_in, w) + conv(1, 3, w, w)
      if c_in != c_out:
        total += conv(1, 1, c_in, c_out)
      c_in = c_out
  return total


def build(model_id=50, width_multiplier=1, shape=INPUT_SHAPE):
  """Builds through the registered 'r3d' factory entry, as training does."""
  config = backbone_cfg.Backbone3D(
      type='r3d', r3d=backbone_cfg.R3D(model_id=model_id,
                                       width_multiplier=width_multiplier))
  return factory.build_backbone(
      input_specs=tf_keras.layers.InputSpec(shape=[None] + list(shape[1:])),
      backbone_config=config,
      norm_activation_config=common.NormActivation(norm_momentum=0.9,
                                                   norm_epsilon=1e-5))


def model_garden_r3d50():
  """CVRL's R3D-50 expressed with Model Garden's own ResNet3D."""
  return resnet_3d.ResNet3D(
      model_id=50,
      temporal_strides=[1, 1, 1, 1],
      temporal_kernel_sizes=[(1,) * 3, (1,) * 4, (3,) * 6, (3,) * 3],
      use_self_gating=[False] * 4,
      input_specs=tf_keras.layers.InputSpec(shape=[None, 4, 32, 32, 3]),
      stem_conv_temporal_kernel_size=5,
      stem_conv_temporal_stride=2,
      stem_pool_temporal_stride=1,
      norm_momentum=0.9,
      norm_epsilon=1e-5)


def test_r3d50_has_the_papers_31_7m_parameters():
  # The paper's count includes BatchNorm moving statistics (Keras' "total
  # params"): 31,725,248; trainable alone is 31,672,128.
  backbone = build(50)
  assert isinstance(backbone, r3d.R3D)
  assert abs(backbone.count_params() - 31.7e6) < 0.1e6
  assert backbone.count_params() == analytic_num_params(50)


@pytest.mark.parametrize('model_id,width', [(18, 1), (34, 1), (18, 2)])
def test_parameter_counts_match_analytic_counts(model_id, width):
  assert build(model_id, width).count_params() == analytic_num_params(
      model_id, width)


def test_r3d152_2x_has_the_papers_328m_parameters():
  # Built in a graph, its variables are declared but never allocated
  # (eagerly it would take ~2.4 GB).
  with tf.Graph().as_default():
    num_params = build(152, 2).count_params()
  assert num_params == analytic_num_params(152, 2)
  assert abs(num_params - 328e6) < 0.1e6


@pytest.mark.parametrize('model_id', [18, 50, 152])
def test_width_multiplier_scales_parameters_quadratically(model_id):
  # The analytic count is checked against built widened models above.
  ratio = analytic_num_params(model_id, 2) / analytic_num_params(model_id)
  assert 3.9 < ratio < 4.0  # 4x minus the 3-channel input of the stem.


@pytest.mark.parametrize('model_id,channels', [(18, 512), (50, 2048)])
def test_endpoints(model_id, channels):
  backbone = build(model_id)
  endpoints = backbone(tf.random.uniform(INPUT_SHAPE), training=False)
  assert sorted(endpoints) == ['2', '3', '4', '5']
  for level, spec in backbone.output_specs.items():
    assert endpoints[level].shape[1:] == spec[1:]
  # Only the stem strides in time (4 -> 2 frames); space halves per level.
  assert endpoints['2'].shape == (1, 2, 8, 8, channels // 8)
  assert endpoints['5'].shape == (1, 2, 1, 1, channels)


def test_slow_pathway_temporal_kernels():
  """Stem 5x7x7 / 2; res2, res3 1x1x1 and res4, res5 3x1x1 first convs."""
  backbone = build(50)
  stem = backbone.layers[1]
  assert stem.kernel.shape == (5, 7, 7, 3, 64)
  assert stem.strides == (2, 2, 2)
  blocks = [l for l in backbone.layers if 'bottleneck' in l.name]
  assert [b._temporal_conv.kernel.shape[0] for b in blocks] == (
      [1] * 3 + [1] * 4 + [3] * 6 + [3] * 3)
  assert not any(b._self_gating or b._squeeze_excitation for b in blocks)


def test_basic_block_puts_the_temporal_kernel_on_the_first_conv():
  block = BasicBlock3D(filters=16, temporal_kernel_size=3,
                       temporal_strides=2, spatial_strides=2)
  outputs = block(tf.random.uniform([1, 4, 8, 8, 8]))
  assert outputs.shape == (1, 2, 4, 4, 16)
  assert block._conv1.kernel.shape == (3, 3, 3, 8, 16)
  assert block._conv2.kernel.shape == (1, 3, 3, 16, 16)


def test_basic_block_options_and_config():
  block = BasicBlock3D(filters=8, temporal_kernel_size=1, temporal_strides=1,
                       spatial_strides=2, se_ratio=0.25, use_self_gating=True,
                       stochastic_depth_drop_rate=0.1)
  inputs = tf.random.uniform([2, 2, 8, 8, 8])
  assert block(inputs, training=True).shape == (2, 2, 4, 4, 8)
  assert not hasattr(block, '_shortcut_conv')  # Same width: pooled identity.
  clone = BasicBlock3D.from_config(block.get_config())
  assert clone.get_config() == block.get_config()


def test_config_round_trip_keeps_width():
  backbone = build(18, 2)
  clone = r3d.R3D.from_config(backbone.get_config())
  assert clone.count_params() == backbone.count_params()


def assert_same_outputs(model_a, model_b):
  images = tf.random.uniform(INPUT_SHAPE, seed=1)
  outputs_a = model_a(images, training=False)
  outputs_b = model_b(images, training=False)
  # On CPU our stem runs as a 2D convolution (`stem_conv`), which sums in
  # another order than Model Garden's Conv3D: equal to float32 rounding.
  for level in outputs_a:
    a, b = outputs_a[level].numpy(), outputs_b[level].numpy()
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())


@pytest.mark.parametrize('direction', ['model_garden_to_ours',
                                       'ours_to_model_garden'])
def test_checkpoints_are_interchangeable_with_model_garden(tmp_path,
                                                           direction):
  ours, model_garden = build(50), model_garden_r3d50()
  source, target = ((model_garden, ours) if direction == 'model_garden_to_ours'
                    else (ours, model_garden))
  assert len(source.variables) == len(target.variables)
  path = tf.train.Checkpoint(backbone=source).write(str(tmp_path / 'ckpt'))
  status = tf.train.Checkpoint(backbone=target).read(path)
  status.assert_existing_objects_matched()
  status.assert_consumed()
  assert_same_outputs(source, target)


def test_unsupported_configurations_raise():
  with pytest.raises(ValueError):
    r3d.R3D(model_id=26, temporal_strides=[1] * 4,
            temporal_kernel_sizes=[(1,)] * 4)
  with pytest.raises(ValueError):
    r3d.block_temporal_kernel_sizes(50, (1, 1, 3))
  with pytest.raises(ValueError):
    r3d.R3D(model_id=18, temporal_strides=[1] * 4,
            temporal_kernel_sizes=r3d.block_temporal_kernel_sizes(
                18, (1, 1, 3, 3)), stem_type='v1')
