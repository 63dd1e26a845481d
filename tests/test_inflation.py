"""Inflated R3Ds compute their 2D / single-frame sources' features."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.vision.modeling import classification_model
from official.vision.modeling.backbones import resnet

from cvrl_tf.configs import cvrl as cvrl_cfg
from cvrl_tf.modeling import checkpoints
from cvrl_tf.modeling import inflation
from cvrl_tf.tasks import classification
from tiny_experiments import tiny_classification

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH = 0.25
SIZE = 32
# Temporal convolutions of kernel 3 before each endpoint (one per block of
# res4 and res5 with CVRL's temporal kernels (1, 1, 3, 3)).
R3D50_TEMPORAL_CONVS = {'2': 0, '3': 0, '4': 6, '5': 9}
R3D18_TEMPORAL_CONVS = {'2': 0, '3': 0, '4': 2, '5': 4}
# Enough frames for two interior frames at res5 (see interior_frames).
R3D50_FRAMES = 44
R3D18_FRAMES = 24


def model_config(model_id):
  """A CVRL model config with a narrow R3D (paper temporal kernels)."""
  config = cvrl_cfg.CVRLModel()
  config.backbone.r3d.override({'model_id': model_id,
                                'width_multiplier': WIDTH})
  return config


def randomize_batchnorm(model, seed):
  """Random gamma, beta and moving statistics, so copying them matters."""
  rng = np.random.default_rng(seed)
  for layer in model.submodules:
    if isinstance(layer, tf_keras.layers.BatchNormalization):
      gamma, beta, mean, variance = layer.weights
      n = gamma.shape[0]
      gamma.assign(rng.uniform(0.5, 1.5, n))
      beta.assign(rng.normal(0.0, 0.2, n))
      mean.assign(rng.normal(0.0, 0.2, n))
      variance.assign(rng.uniform(0.5, 2.0, n))


def resnet_2d(model_id, seed=1):
  model = inflation.build_resnet_2d(model_id, WIDTH,
                                    model_config(50).norm_activation)
  randomize_batchnorm(model, seed)
  return model


def interior_frames(num_frames, temporal_convs):
  """Output frames of an endpoint that never met temporal zero padding.

  The stem convolution (kernel 5, stride 2, 'same') pads 1 frame before and
  2 after an even clip, so its output frame i reads input frames 2i-1 ..
  2i+3: frames 1 .. T/2-2 see only real frames. Every later 'same' temporal
  convolution of kernel 3 moves that border in by one frame on each side;
  the residual shortcut does not widen it.
  """
  return slice(1 + temporal_convs, num_frames // 2 - 1 - temporal_convs)


def zero_weights(model):
  """So that a check after loading fails unless every weight was loaded."""
  model.set_weights([np.zeros_like(w) for w in model.get_weights()])


def static_clips(images, num_frames):
  """Images [B, H, W, 3] -> clips [B, T, H, W, 3] of identical frames."""
  return tf.repeat(images[:, tf.newaxis], num_frames, axis=1)


def assert_interior_frames_match(clip_endpoints, frame_endpoints, num_frames,
                                 temporal_convs):
  """Every interior frame equals the per-frame reference [B, h, w, C].

  The tolerance is 1e-4 of the reference's largest magnitude.
  """
  for endpoint, convs in temporal_convs.items():
    frames = clip_endpoints[endpoint].numpy()[
        :, interior_frames(num_frames, convs)]
    assert frames.shape[1] >= 2, endpoint
    reference = frame_endpoints[endpoint].numpy()
    for t in range(frames.shape[1]):
      np.testing.assert_allclose(frames[:, t], reference, rtol=1e-4,
                                 atol=1e-4 * np.abs(reference).max())


def assert_matches_2d(backbone_3d, backbone_2d, seed=3):
  """R3D-50 endpoints equal the 2D ones on static clips' interior frames."""
  images = tf.random.stateless_uniform([2, SIZE, SIZE, 3], seed=[seed, 0])
  expected = backbone_2d(images, training=False)
  actual = backbone_3d(static_clips(images, R3D50_FRAMES), training=False)
  assert_interior_frames_match(actual, expected, R3D50_FRAMES,
                               R3D50_TEMPORAL_CONVS)
  return actual, expected


@pytest.fixture(scope='module')
def resnet50_2d():
  return resnet_2d(50)


@pytest.fixture(scope='module')
def resnet18_2d():
  return resnet_2d(18)


@pytest.fixture(scope='module')
def r3d50():
  return inflation.build_backbone_3d(model_config(50))


@pytest.fixture(scope='module')
def r3d18():
  return inflation.build_backbone_3d(model_config(18))


def test_inflate_kernel_repeats_over_time_and_divides():
  kernel = np.random.default_rng(0).normal(size=[3, 3, 2, 4]).astype(
      np.float32)
  inflated = inflation.inflate_kernel(kernel, 5)
  assert inflated.shape == (5, 3, 3, 2, 4)
  assert inflated.dtype == np.float32
  for t in range(5):
    np.testing.assert_allclose(inflated[t], kernel / 5, rtol=1e-6)
  np.testing.assert_allclose(inflated.sum(axis=0), kernel, rtol=1e-5)
  np.testing.assert_array_equal(inflation.single_frame_tap(inflated),
                                inflated[2])
  with pytest.raises(ValueError, match='2D kernel'):
    inflation.inflate_kernel(inflated, 3)
  with pytest.raises(ValueError, match='temporal_size'):
    inflation.inflate_kernel(kernel, 0)


def test_inflated_resnet50_computes_2d_features_on_static_clips(
    resnet50_2d, r3d50):
  copied = inflation.inflate_resnet_2d(resnet50_2d, r3d50)
  # Stem conv + BN, then 16 blocks of 3 conv + BN pairs, 4 projections.
  assert copied == 2 + 2 * (3 * 16 + 4)
  actual, expected = assert_matches_2d(r3d50, resnet50_2d)
  # Border frames did meet the zero padding: the comparison is selective.
  assert not np.allclose(actual['5'][:, 0], expected['5'], rtol=1e-2,
                         atol=1e-2 * np.abs(expected['5']).max())


def test_resnet18_into_r3d50_names_the_first_mismatching_layer(resnet18_2d,
                                                                r3d50):
  before = [w.numpy() for w in r3d50.weights]
  with pytest.raises(inflation.InflationError) as error:
    inflation.inflate_resnet_2d(resnet18_2d, r3d50)
  message = str(error.value)
  assert message.startswith('2D ResNet res2 block 0 layer 0 (Conv2D ')
  assert 'does not match R3D res2 block 0 layer 0 (Conv3D ' in message
  assert '[1, 1, 16, 16]' in message and '[1, 1, 1, 16, 64]' in message
  assert 'kernel shapes' in message
  # Nothing is copied unless everything matched.
  for old, new in zip(before, r3d50.weights):
    np.testing.assert_array_equal(old, new.numpy())


def test_resnet18_into_r3d18_fails_on_the_res2_projection(resnet18_2d,
                                                          r3d18):
  # Model Garden's 2D basic-block ResNets project res2's first shortcut;
  # R3D-18 keeps it the identity, so the structures differ there.
  with pytest.raises(inflation.InflationError,
                     match=r'^2D ResNet res2 block 0 layer 0 .* has 6 conv/BN '
                     r'layers, the R3D res2 block 0 has 4\.$'):
    inflation.inflate_resnet_2d(resnet18_2d, r3d18)


def test_only_2d_resnets_inflate_as_2d(r3d18):
  with pytest.raises(inflation.InflationError, match='2D `resnet.ResNet`'):
    inflation.inflate_resnet_2d(r3d18, r3d18)


@pytest.mark.parametrize('option, value, expected', [
    ('stem_type', 'v1', "stem_type is 'v1'"),
    ('resnetd_shortcut', True, 'resnetd_shortcut is True'),
    ('replace_stem_max_pool', True, 'replace_stem_max_pool is True'),
    ('se_ratio', 0.25, 'squeeze-excitation'),
])
def test_unsupported_2d_resnets_are_refused(r3d18, option, value, expected):
  source = resnet.ResNet(model_id=10, depth_multiplier=WIDTH,
                         **{option: value})
  with pytest.raises(inflation.InflationError, match=expected):
    inflation.inflate_resnet_2d(source, r3d18)


def test_widths_must_match(r3d18):
  source = inflation.build_resnet_2d(10, 0.5, model_config(18).norm_activation)
  with pytest.raises(inflation.InflationError,
                     match='depth_multiplier 0.5, the R3D width_multiplier '
                     '0.25; only matching widths'):
    inflation.inflate_resnet_2d(source, r3d18)


def test_single_frame_r3d18_inflates_to_its_clip_features(tmp_path, r3d18):
  source = r3d18
  randomize_batchnorm(source, seed=5)
  target = inflation.build_backbone_3d(model_config(18))
  assert inflation.inflate_single_frame(source, target) == 2 + 2 * (2 * 8 + 3)

  images = tf.random.stateless_uniform([2, SIZE, SIZE, 3], seed=[7, 0])
  # The reference: the source on single-frame clips, as it was trained.
  expected = source(images[:, tf.newaxis], training=False)
  expected = {k: v[:, 0] for k, v in expected.items()}
  actual = target(static_clips(images, R3D18_FRAMES), training=False)
  assert_interior_frames_match(actual, expected, R3D18_FRAMES,
                               R3D18_TEMPORAL_CONVS)

  # The same through checkpoints, as after single-frame pretraining.
  source_path = tf.train.Checkpoint(backbone=source).write(
      str(tmp_path / 'frames' / 'ckpt'))
  prefix = inflation.inflate_checkpoint(model_config(18), source_path,
                                        str(tmp_path / 'r3d'),
                                        source='single_frame')
  zero_weights(target)
  checkpoints.load_backbone(target, prefix)
  assert_interior_frames_match(
      target(static_clips(images, R3D18_FRAMES), training=False), expected,
      R3D18_FRAMES, R3D18_TEMPORAL_CONVS)


def test_inflated_checkpoint_initialises_linear_eval(tmp_path, resnet50_2d,
                                                     r3d50):
  # Model Garden's image classification trainer checkpoint layout.
  model = classification_model.ClassificationModel(
      resnet50_2d, num_classes=3,
      input_specs=tf_keras.layers.InputSpec(shape=[None, SIZE, SIZE, 3]))
  tf.train.Checkpoint(model=model, **model.checkpoint_items).save(
      str(tmp_path / '2d' / 'ckpt'))
  config = model_config(50)
  prefix = inflation.inflate_checkpoint(config, str(tmp_path / '2d'),
                                        str(tmp_path / 'r3d'))
  assert prefix == str(tmp_path / 'r3d' / 'inflated-1')

  params = tiny_classification(
      'cvrl_linear_eval', 'unused', 'unused',
      init_checkpoint=str(tmp_path / 'r3d'),
      backbone={'type': 'r3d', 'r3d': config.backbone.r3d.as_dict()})
  task = classification.ClassificationTask(params.task)
  classifier = task.build_model()
  task.initialize(classifier)
  # The task's backbone takes 4-frame clips; check its weights on longer.
  zero_weights(r3d50)
  checkpoints.load_backbone(r3d50, tf.train.Checkpoint(
      backbone=classifier.backbone).write(str(tmp_path / 'task' / 'ckpt')))
  assert_matches_2d(r3d50, resnet50_2d)

  with pytest.raises(FileExistsError, match='already holds checkpoint'):
    inflation.inflate_checkpoint(config, str(tmp_path / '2d'),
                                 str(tmp_path / '2d'))


def test_save_backbone_replaces_only_its_own_output(tmp_path, r3d18):
  first = inflation.save_backbone(r3d18, str(tmp_path))
  assert inflation.save_backbone(r3d18, str(tmp_path)) == first
  assert tf.train.latest_checkpoint(str(tmp_path)) == first
  tf.train.Checkpoint(backbone=r3d18).save(str(tmp_path / 'ckpt'))
  with pytest.raises(FileExistsError, match='ckpt-1; choose another'):
    inflation.save_backbone(r3d18, str(tmp_path))


def run_tool(*flags):
  return subprocess.run(
      [sys.executable, 'tools/inflate_2d_checkpoint.py',
       '--experiment=cvrl_linear_eval', *flags],
      cwd=REPO, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))


def test_tool_writes_a_checkpoint_that_loads_strictly(tmp_path, resnet50_2d,
                                                      r3d50):
  source_path = tf.train.Checkpoint(backbone=resnet50_2d).write(
      str(tmp_path / '2d' / 'ckpt'))
  result = run_tool(
      f'--params_override=task.model.backbone.r3d.model_id=50,'
      f'task.model.backbone.r3d.width_multiplier={WIDTH}',
      f'--checkpoint_path={source_path}', f'--output_dir={tmp_path / "r3d"}')
  assert result.returncode == 0, result.stderr[-3000:]
  prefix = str(tmp_path / 'r3d' / 'inflated-1')
  assert result.stdout.strip().splitlines() == [
      f'Wrote the inflated R3D-50 backbone to {prefix} '
      f'(resnet2d checkpoint {source_path}).']

  zero_weights(r3d50)
  assert checkpoints.load_backbone(r3d50, str(tmp_path / 'r3d')) == prefix
  assert_matches_2d(r3d50, resnet50_2d)
