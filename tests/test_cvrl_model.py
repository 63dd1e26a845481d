"""CVRL model: encoder + projection head, checkpoints, precision, factory."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.vision.modeling import factory_3d

from cvrl_tf.configs import cvrl as cvrl_cfg
from cvrl_tf.modeling import cvrl_model

INPUT_SHAPE = (2, 4, 32, 32, 3)
INPUT_SPECS = tf_keras.layers.InputSpec(shape=[None, 4, 32, 32, 3])


def small_config(num_layers=3, use_sync_bn=False):
  config = cvrl_cfg.CVRLModel(projection_num_layers=num_layers,
                              projection_hidden_dim=32, projection_dim=16)
  config.backbone.r3d.model_id = 18
  config.norm_activation.use_sync_bn = use_sync_bn
  return config


def head_layers(model, layer_type):
  return [l for l in model.layers
          if type(l) is layer_type and l.name.startswith('projection')]


def test_embeddings_and_representation_shapes():
  model = cvrl_model.build_cvrl_model(INPUT_SPECS, small_config())
  images = tf.random.uniform(INPUT_SHAPE)
  embeddings = model(images, training=True)
  assert embeddings.shape == (2, 16) and embeddings.dtype == tf.float32
  features = model.encode(images)
  assert features.shape == (2, 512) and features.dtype == tf.float32
  # The representation is the time-and-space mean of the last endpoint.
  np.testing.assert_allclose(
      features.numpy(),
      tf.reduce_mean(model.backbone(images)['5'], axis=[1, 2, 3]).numpy(),
      rtol=1e-5, atol=1e-6)


def test_head_is_dense_bn_relu_then_dense():
  model = cvrl_model.build_cvrl_model(INPUT_SPECS, small_config(3))
  dense = head_layers(model, tf_keras.layers.Dense)
  norms = head_layers(model, tf_keras.layers.BatchNormalization)
  assert [d.units for d in dense] == [32, 32, 16]
  assert [d.use_bias for d in dense] == [False, False, True]
  assert len(norms) == 2 and not any(n.synchronized for n in norms)
  # SimCLR's head, the model config's default, on R3D-50.
  default = cvrl_model.build_cvrl_model(INPUT_SPECS, cvrl_cfg.CVRLModel())
  assert [d.kernel.shape for d in head_layers(
      default, tf_keras.layers.Dense)] == [(2048, 2048), (2048, 2048),
                                           (2048, 128)]


def test_release_head_has_hidden_bias_and_its_own_bn_momentum():
  config = small_config()
  cvrl_cfg.video_ssl_head(config)
  model = cvrl_model.build_cvrl_model(INPUT_SPECS, config)
  dense = head_layers(model, tf_keras.layers.Dense)
  assert [d.units for d in dense] == [32, 32, 32, 16]
  assert all(d.use_bias for d in dense)
  norms = head_layers(model, tf_keras.layers.BatchNormalization)
  assert [n.momentum for n in norms] == [0.997] * 3
  backbone_norms = [l for l in model.backbone.submodules
                    if isinstance(l, tf_keras.layers.BatchNormalization)]
  assert {n.momentum for n in backbone_norms} == {0.9}
  config.projection_head = 'byol'
  with pytest.raises(ValueError, match='projection_head must be one of'):
    cvrl_model.build_cvrl_model(INPUT_SPECS, config)


def test_single_layer_head_is_linear():
  model = cvrl_model.build_cvrl_model(INPUT_SPECS, small_config(1))
  assert len(head_layers(model, tf_keras.layers.Dense)) == 1
  assert not head_layers(model, tf_keras.layers.BatchNormalization)


def test_sync_bn_everywhere_when_requested():
  model = cvrl_model.build_cvrl_model(
      INPUT_SPECS, small_config(use_sync_bn=True))
  norms = [l for l in model.submodules
           if isinstance(l, tf_keras.layers.BatchNormalization)]
  assert norms and all(n.synchronized for n in norms)


def test_checkpoint_items_restore_the_encoder(tmp_path):
  model = cvrl_model.build_cvrl_model(INPUT_SPECS, small_config())
  assert model.checkpoint_items == {'backbone': model.backbone}
  path = tf.train.Checkpoint(**model.checkpoint_items).write(
      str(tmp_path / 'backbone'))
  other = cvrl_model.build_cvrl_model(INPUT_SPECS, small_config())
  tf.train.Checkpoint(**other.checkpoint_items).read(
      path).assert_existing_objects_matched()
  images = tf.random.uniform(INPUT_SHAPE)
  np.testing.assert_array_equal(model.encode(images).numpy(),
                                other.encode(images).numpy())


def test_full_model_checkpoint_round_trip(tmp_path):
  model = cvrl_model.build_cvrl_model(INPUT_SPECS, small_config())
  path = tf.train.Checkpoint(model=model).write(str(tmp_path / 'model'))
  other = cvrl_model.build_cvrl_model(INPUT_SPECS, small_config())
  tf.train.Checkpoint(model=other).read(path).assert_consumed()
  images = tf.random.uniform(INPUT_SHAPE)
  np.testing.assert_array_equal(model(images).numpy(), other(images).numpy())


def test_mixed_precision_outputs_are_float32():
  tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  try:
    model = cvrl_model.build_cvrl_model(INPUT_SPECS, small_config())
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  images = tf.random.uniform(INPUT_SHAPE)
  assert model.backbone.layers[1].compute_dtype == 'bfloat16'
  assert model(images, training=True).dtype == tf.float32
  assert model.encode(images).dtype == tf.float32


def test_registered_with_model_garden_factory():
  model = factory_3d.build_model('cvrl', INPUT_SPECS, small_config(),
                                 num_classes=0)
  assert isinstance(model, cvrl_model.CVRLModel)
