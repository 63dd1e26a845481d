"""Training steps of the paper recipe equal those of Model Garden's video_ssl.

Our `cvrl_pretrain_kinetics600` experiment with the 200-epoch paper YAML and
Model Garden's `video_ssl_pretrain_kinetics600` with the values of the
authors' release (`published_recipe`), both in float32 on one device at
4 frames x 32^2: the same initial weights and views give the same loss, the
same trainable weights after each of two steps (the second applies SGD's
momentum) and the same BatchNorm moving statistics.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.modeling import optimization
from official.projects.video_ssl.tasks import pretrain as mg_pretrain
from official.vision.configs import backbones_3d

from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.modeling import checkpoints
from cvrl_tf.modeling import stem_conv
from cvrl_tf.tasks import pretrain
import published_recipe as published
import test_paper_recipe

PAPER_YAML = 'cvrl_pretrain_k600_r3d50_200ep.yaml'
EXPERIMENT, SCHEDULE = published.PRETRAIN_YAMLS[PAPER_YAML]
ROWS = published.PRETRAIN + SCHEDULE
PUBLISHED = {row.ours: row.value for row in ROWS if row.ours}
WARMUP_STEPS = PUBLISHED[published.OPTIMIZER + 'warmup.linear.warmup_steps']
TRAIN_STEPS = PUBLISHED['trainer.train_steps']
# R3D-50 stage depths; the release's YAML lists one kernel size per block.
R3D50_BLOCKS = (3, 4, 6, 3)
TINY = {'runtime': {'mixed_precision_dtype': 'float32'},
        'task': {'train_data': {'global_batch_size': 2,
                                'feature_shape': (4, 32, 32, 3)},
                 'validation_data': {'feature_shape': (4, 32, 32, 3)}}}
# Float32: the two compute the same operations in the same order.
RTOL, ATOL = 1e-6, 1e-7
FIRST_STEP = 10


def release_params():
  params = test_paper_recipe.model_garden_params(EXPERIMENT, ROWS)
  kernels = PUBLISHED['task.model.backbone.r3d.temporal_kernel_sizes']
  params.task.model.backbone.resnet_3d.block_specs = tuple(
      backbones_3d.ResNet3DBlock(temporal_strides=1,
                                 temporal_kernel_sizes=(kernel,) * blocks,
                                 use_self_gating=False)
      for kernel, blocks in zip(kernels, R3D50_BLOCKS))
  return params


def our_params():
  return test_paper_recipe.our_params(EXPERIMENT, PAPER_YAML)


def head_layers(model, backbone):
  """The head's Dense and BatchNorm layers, input to output."""
  return [layer for layer in model.layers
          if layer is not backbone and layer.weights]


def backbone_values(backbone, path):
  """{checkpoint key: value} of a backbone, keys shared by both models."""
  prefix = tf.train.Checkpoint(backbone=backbone).write(path)
  reader = tf.train.load_checkpoint(prefix)
  return {key: reader.get_tensor(key)
          for key in reader.get_variable_to_shape_map()
          if key.startswith('backbone/') and 'OPTIMIZER_SLOT' not in key}


def compare(ours, theirs, rtol, atol):
  """Largest difference; asserts every array within rtol / atol."""
  worst = 0.0
  for key in theirs:
    np.testing.assert_allclose(ours[key], theirs[key], rtol=rtol, atol=atol,
                               err_msg=key)
    worst = max(worst, float(np.max(np.abs(ours[key] - theirs[key]))))
  return worst


def weights(model, backbone, path):
  """({key: trainable value}, {key: BN moving statistic}) of a model."""
  values = backbone_values(backbone, path)
  for i, layer in enumerate(head_layers(model, backbone)):
    for variable in layer.weights:
      values[f'head/{i}/{variable.name.split("/")[-1]}'] = variable.numpy()
  moving = {k: v for k, v in values.items() if 'moving_' in k}
  return {k: v for k, v in values.items() if k not in moving}, moving


def test_learning_rate_equals_the_release_schedule():
  ours = optimization.OptimizerFactory(
      our_params().trainer.optimizer_config).build_learning_rate()
  theirs = optimization.OptimizerFactory(
      release_params().trainer.optimizer_config).build_learning_rate()
  steps = (0, WARMUP_STEPS // 2, WARMUP_STEPS,
           (WARMUP_STEPS + TRAIN_STEPS) // 2, TRAIN_STEPS - 1, TRAIN_STEPS)
  for step in steps:
    assert float(ours(step)) == float(theirs(step)), step
  # Model Garden's warm-up ramps to the cosine decay, which counts from 0.
  peak = PUBLISHED[published.OPTIMIZER
                   + 'learning_rate.cosine.initial_learning_rate']
  cosine = peak * 0.5 * (1 + np.cos(np.pi * WARMUP_STEPS / TRAIN_STEPS))
  assert float(theirs(WARMUP_STEPS)) == pytest.approx(cosine, rel=1e-6)
  assert float(theirs(WARMUP_STEPS // 2)) == pytest.approx(
      cosine * (WARMUP_STEPS // 2) / WARMUP_STEPS, rel=1e-6)
  assert float(theirs(TRAIN_STEPS)) == 0.0


def tiny_tasks(**our_losses):
  """((ours, params), (Model Garden's, params)): paper-recipe tasks at TINY.

  `our_losses`: overrides of our `task.losses`.
  """
  theirs_params, ours_params = release_params(), our_params()
  theirs_params.override(TINY, is_strict=True)
  ours_params.override(TINY, is_strict=True)
  ours_params.override({'task': {'losses': our_losses}}, is_strict=True)
  # Both synchronise BN, as their YAMLs say (published_recipe).
  assert ours_params.task.model.norm_activation.use_sync_bn
  assert theirs_params.task.model.norm_activation.use_sync_bn
  return ((pretrain.CVRLPretrainTask(ours_params.task), ours_params),
          (mg_pretrain.VideoSSLPretrainTask(theirs_params.task),
           theirs_params))


def models_with_the_same_weights(ours_task, theirs_task, path):
  """(ours, Model Garden's) models; Model Garden's initial weights in both.

  Builds in the current distribution strategy's scope.
  """
  theirs_model, ours_model = theirs_task.build_model(), ours_task.build_model()
  prefix = tf.train.Checkpoint(backbone=theirs_model.backbone).write(path)
  checkpoints.load_backbone(ours_model.backbone, prefix)
  theirs_head = head_layers(theirs_model, theirs_model.backbone)
  ours_head = head_layers(ours_model, ours_model.backbone)
  assert [type(l).__name__ for l in ours_head] == [
      'Dense', 'BatchNormalization'] * 3 + ['Dense']
  assert [len(l.weights) for l in ours_head] == [
      len(l.weights) for l in theirs_head]
  for ours_layer, theirs_layer in zip(ours_head, theirs_head):
    ours_layer.set_weights(theirs_layer.get_weights())
  return ours_model, theirs_model


def release_optimizer(task, params):
  """`task`'s optimizer of the paper recipe, early in the warm-up.

  At step FIRST_STEP (rate 0.0018): at the peak rate, one step on 4 random
  clips blows the weights up (the same in both).
  """
  optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                    params.runtime)
  optimizer.iterations.assign(FIRST_STEP)
  return optimizer


def conv3d_stem_everywhere() -> bool:
  """Replaces `stem_conv._has_accelerator`: our stem runs as a Conv3D.

  Model Garden's stem is a Conv3D; ours computes the same sums as a 2D
  convolution on CPU hosts, in another order (test_stem_conv.py). Training-
  mode BatchNorm over these few values per channel amplifies that float32
  rounding (at the output, about as much as a 1e-6 relative perturbation
  of the input does to either model), so the comparisons run the Conv3D
  form.
  """
  return True


def test_two_steps_equal_model_garden(tmp_path, monkeypatch):
  monkeypatch.setattr(stem_conv, '_has_accelerator', conv3d_stem_everywhere)
  tf_keras.utils.set_random_seed(0)  # Reproducible printed figures.
  (ours_task, ours_params), (theirs_task, theirs_params) = tiny_tasks()
  ours_model, theirs_model = models_with_the_same_weights(
      ours_task, theirs_task, str(tmp_path / 'init'))
  ours_optimizer = release_optimizer(ours_task, ours_params)
  theirs_optimizer = release_optimizer(theirs_task, theirs_params)

  initial, _ = weights(ours_model, ours_model.backbone, str(tmp_path / 'w0'))
  for step in range(2):
    views = tf.random.stateless_uniform([4, 4, 32, 32, 3], seed=[7, step])
    inputs = ({'image': views}, tf.zeros([2], tf.int32))
    ours_logs = ours_task.train_step(inputs, ours_model, ours_optimizer)
    theirs_logs = theirs_task.train_step(inputs, theirs_model,
                                         theirs_optimizer)
    ours_loss = float(ours_logs['loss'] + ours_logs['l2_loss'])
    theirs_loss = float(theirs_logs['loss'])
    assert ours_loss == pytest.approx(theirs_loss, rel=RTOL), step
    ours_weights, ours_moving = weights(
        ours_model, ours_model.backbone, str(tmp_path / f'ours_{step}'))
    theirs_weights, theirs_moving = weights(
        theirs_model, theirs_model.backbone, str(tmp_path / f'theirs_{step}'))
    assert sorted(ours_weights) == sorted(theirs_weights)
    update = max(float(np.max(np.abs(ours_weights[k] - initial[k])))
                 for k in initial)
    assert update > 1e-4  # The step changed the weights.
    print(f'step {step}: loss {ours_loss:.7f} vs {theirs_loss:.7f}; '
          f'largest update {update:.2e}; max |ours - theirs|: weights '
          f'{compare(ours_weights, theirs_weights, RTOL, ATOL):.2e}, BN '
          f'moving statistics '
          f'{compare(ours_moving, theirs_moving, RTOL, ATOL):.2e}')
