"""TCLR's model outputs: shared head on pooled clips and sparse time steps."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from cvrl_tf.configs import tclr as tclr_cfg
from cvrl_tf.modeling import input_specs
from cvrl_tf.modeling import tclr_model

FRAMES = 8  # R3D-18 halves time: 8 frames end with 4 steps, one per dense clip.
TINY_MODEL = {'backbone': {'type': 'r3d', 'r3d': {'model_id': 18,
                                                 'width_multiplier': 0.25}},
              'head_hidden_dim': 16, 'embedding_dim': 8}


@pytest.fixture(name='model', scope='module')
def fixture_model():
  tf_keras.utils.set_random_seed(0)
  config = tclr_cfg.TCLRModel()
  config.override(TINY_MODEL, is_strict=True)
  return tclr_model.build_tclr_model(
      input_specs.model_input_specs([FRAMES, 32, 32, 3]), config)


def clips(*shape, seed=0):
  return tf.random.stateless_uniform(list(shape) + [FRAMES, 32, 32, 3],
                                     seed=[seed, 0])


def numpy_head(model, features):
  """fc1 -> bn1 (inference) -> ReLU -> fc2 -> bn2 -> L2 normalise."""
  fc1, bn1, _, fc2, bn2 = model.head.layers

  def bn(layer, x):
    gamma, beta, mean, var = (w.numpy() for w in layer.weights)
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta
  x = features @ fc1.kernel.numpy() + fc1.bias.numpy()
  x = np.maximum(bn(bn1, x), 0)
  x = bn(bn2, x @ fc2.kernel.numpy())
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_outputs_shapes_and_norms(model):
  outputs = model.tclr_outputs(clips(2, 2), clips(2, 2, 4, seed=1))
  assert outputs['sparse'].shape == (2, 2, 8)
  assert outputs['sparse_time_steps'].shape == (2, 2, 4, 8)
  assert outputs['dense'].shape == (2, 2, 4, 8)
  for value in outputs.values():
    np.testing.assert_allclose(np.linalg.norm(value, axis=-1), 1.0,
                               rtol=1e-5)
  assert tclr_model.output_time_steps(model.backbone) == 4


def test_pooled_and_time_step_embeddings_share_one_head(model):
  sparse = clips(3)
  features = model.time_step_features(sparse).numpy()  # [B, T', C]
  pooled, steps = model.clip_embeddings(sparse, time_steps=True)
  np.testing.assert_allclose(pooled, numpy_head(model, features.mean(1)),
                             atol=1e-5)
  for t in range(features.shape[1]):
    np.testing.assert_allclose(steps[:, t], numpy_head(model, features[:, t]),
                               atol=1e-5)
  # The representation is the backbone's features averaged over time and
  # space, as CVRL's encoder gives.
  last = model.backbone(sparse)
  np.testing.assert_allclose(
      model.encode(sparse), last[max(last, key=int)].numpy().mean((1, 2, 3)),
      atol=1e-5)


def test_checkpoint_has_backbone_item(model):
  assert model.checkpoint_items == {'backbone': model.backbone}
  head_variables = {v.name for v in model.head.weights}
  assert len(head_variables) == 2 + 4 + 1 + 4  # fc1 (kernel, bias), bn1, fc2, bn2
