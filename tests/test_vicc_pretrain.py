"""ViCC's model and its staged training step on toy records with flow."""
import numpy as np
import pytest
import tensorflow as tf
from official.core import task_factory

from tiny_experiments import TINY_VICC_MODEL
from tiny_experiments import tiny_vicc_pretrain
from toy_records import write_toy_records

# Single-stream RGB for two steps (prototypes frozen in the first), then
# cross-stream flow for one.
STAGES = [
    {'trained_stream': 'rgb', 'cross_stream': False, 'epochs': 2,
     'lr_decay_epochs': 2, 'queue_start_epoch': 0,
     'freeze_prototypes_epochs': 1},
    {'trained_stream': 'flow', 'cross_stream': True, 'epochs': 1,
     'lr_decay_epochs': 1, 'queue_start_epoch': 0,
     'freeze_prototypes_epochs': 0},
]


@pytest.fixture(scope='module')
def trainer_parts(tmp_path_factory):
  pattern = write_toy_records(str(tmp_path_factory.mktemp('records')),
                              videos_per_class=1, flow='farneback')
  params = tiny_vicc_pretrain(pattern, stages=STAGES)
  task = task_factory.get_task(params.task)
  model = task.build_model()
  optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                    params.runtime)
  inputs = iter(task.build_inputs(params.task.train_data))
  return task, model, optimizer, inputs


def _values(layers):
  return [w.numpy() for layer in layers for w in layer.weights]


def _changed(before, after) -> float:
  """The fraction of the arrays that changed."""
  return np.mean([not np.array_equal(b, a) for b, a in zip(before, after)])


def _stream_parts(model, stream):
  """Backbone (with BatchNorm statistics), projection, prototypes."""
  # pylint: disable=protected-access
  return [model._backbones[stream], model._projections[stream],
          model.prototypes(stream)]


def test_model_outputs_and_checkpoint_items(trainer_parts):
  _, model, _, inputs = trainer_parts
  features, _ = next(inputs)
  batch = features['image'].shape[0]
  assert features['flow'].shape == features['image'].shape
  for stream, key in (('rgb', 'image'), ('flow', 'flow')):
    embeddings = model.embed(stream, features[key])
    assert embeddings.shape == (batch, TINY_VICC_MODEL['embedding_dim'])
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0,
                               rtol=1e-5)
    scores = model.prototypes(stream)(embeddings)
    assert scores.shape == (batch, TINY_VICC_MODEL['num_prototypes'])
  assert model.encode(features['image']).shape[0] == batch
  assert model.checkpoint_items['backbone'] is model.backbone
  assert model.checkpoint_items['flow_backbone'] is not model.backbone
  rgb = {v.ref() for v in model.stream_variables('rgb')}
  flow = {v.ref() for v in model.stream_variables('flow')}
  assert not rgb & flow
  assert rgb | flow == {v.ref() for v in model.trainable_variables}


def test_each_step_updates_only_the_trained_stream(trainer_parts):
  task, model, optimizer, inputs = trainer_parts
  metrics = task.build_metrics()
  step = tf.function(lambda x: task.train_step(x, model, optimizer, metrics))
  rgb, flow = _stream_parts(model, 'rgb'), _stream_parts(model, 'flow')
  prototypes = model.prototypes('rgb').kernel

  # Step 0, RGB alone, prototypes frozen: they are only normalised.
  before_rgb, before_flow = _values(rgb), _values(flow)
  normalised = tf.math.l2_normalize(prototypes, axis=0).numpy()
  logs = step(next(inputs))
  assert np.isfinite(logs['rgb_loss']) and np.isnan(logs['flow_loss'])
  assert _changed(before_rgb[:-1], _values(rgb)[:-1]) > 0.5
  np.testing.assert_allclose(prototypes.numpy(), normalised, rtol=1e-6)
  for old, new in zip(before_flow, _values(flow)):
    np.testing.assert_array_equal(old, new)

  # Step 1, RGB alone, prototypes free.
  normalised = tf.math.l2_normalize(prototypes, axis=0).numpy()
  step(next(inputs))
  assert not np.allclose(prototypes.numpy(), normalised, atol=1e-7)

  # Step 2, flow across streams: RGB runs in inference mode, untouched.
  before_rgb, before_flow = _values(rgb), _values(flow)
  logs = step(next(inputs))
  assert np.isfinite(logs['flow_loss'])
  for old, new in zip(before_rgb, _values(rgb)):
    np.testing.assert_array_equal(old, new)
  assert _changed(before_flow, _values(flow)) > 0.5
  assert int(optimizer.iterations) == 3


def test_validation_scores_both_streams(trainer_parts):
  task, model, _, inputs = trainer_parts
  metrics = task.build_metrics(training=False)
  logs = task.validation_step(next(inputs), model, metrics)
  assert np.isfinite(logs['rgb_loss']) and np.isfinite(logs['flow_loss'])
  np.testing.assert_allclose(
      logs['loss'], (logs['rgb_loss'] + logs['flow_loss']) / 2, rtol=1e-6)
