"""TPU readiness on CPU: XLA compiles the training steps of the paper YAMLs.

Each case loads a YAML of cvrl_tf/configs/experiments/ through the
trainer's own config path (experiment factory + YAML + --params_override),
shrinks only the shapes, and compiles one train step with `jit_compile=True` in bfloat16
(float32 where the CPU lacks native bfloat16, with the reason printed).
A new method adds its (experiment, YAML, overrides) case to `STEP_CASES`.
ViCC's step is one of per-stage branches: its case compiles the branch of a
global step in its cross-stream stage, with the queues in use.
"""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from official.core import task_factory

import cvrl_tf.registry_imports  # pylint: disable=unused-import
from cvrl_tf.configs import EXPERIMENTS_DIR
from cvrl_tf.ops import device_augmentation
from cvrl_tf.training import vicc_stages
from test_experiment_yamls import experiment_for
from toy_records import write_toy_records
import xla_step

# Small shapes; everything else (optimizer, schedule, head, BN, augmentation)
# stays as the YAML says. The backbone keeps its depth and block type.
TINY_SHAPES = {'feature_shape': [4, 32, 32, 3], 'global_batch_size': 2,
               'min_image_size': 36, 'shuffle_buffer_size': 4}
TINY_R3D50 = {'backbone': {'r3d': {'width_multiplier': 0.125}}}
TINY_CLASSIFICATION = {
    'model': TINY_R3D50,
    'train_data': {**TINY_SHAPES, 'num_classes': 10},
    'validation_data': {**TINY_SHAPES, 'num_classes': 10,
                        'num_test_clips': 1, 'num_test_crops': 1}}
# The pretraining case compiles R3D-50's backward pass; the fine-tuning
# steps compile theirs through R3D-18 (the same layer types, in basic
# blocks, and fewer of them), which keeps the compile short.
TINY_FINETUNE = {**TINY_CLASSIFICATION, 'model': {'backbone': {'r3d': {
    'model_id': 18, 'width_multiplier': 0.125}}}}

STEP_CASES = {
    'cvrl_pretrain': (
        'cvrl_pretrain_kinetics600', 'cvrl_pretrain_k600_r3d50_200ep.yaml',
        {'model': {**TINY_R3D50, 'projection_hidden_dim': 32,
                   'projection_dim': 16},
         'train_data': {**TINY_SHAPES,
                        'augmentation': {'device_augmentation': True}},
         'validation_data': TINY_SHAPES}),
    'cvrl_linear_eval': (
        'cvrl_linear_eval', 'cvrl_linear_eval_k400_r3d50.yaml',
        TINY_CLASSIFICATION),
    # All layers trained, with dropout: the backward pass through the
    # backbone, which linear evaluation does not compile.
    'cvrl_finetune': (
        'cvrl_finetune_ucf101_split1', 'cvrl_finetune_ucf101_split1.yaml',
        TINY_FINETUNE),
    # TCLR's four terms over one sparse and four dense clips per video. The
    # toy YAML's clips (8 x 32^2) already fit the toy records; 'joint' runs
    # the backbone once on all clips, the same ops as 'separate' at a third
    # of the compile (49 against 151 CPU-s, measured).
    'tclr_pretrain': (
        'tclr_pretrain', 'tclr_pretrain_toy.yaml',
        {'model': {'clip_batches': 'joint',
                   'backbone': {'r3d': {'width_multiplier': 0.125}}},
         'train_data': {'global_batch_size': 2, 'shuffle_buffer_size': 4},
         'validation_data': {'global_batch_size': 2}}),
}

# Fine-tuning on a class-balanced subset, chosen on the host: the same task
# and step as fine-tuning's, without dropout or warm-up, so no op of its own.
# Its batches run through the fine-tuning case's compiled step.
SEMI_SUPERVISED = (
    'cvrl_semi_supervised', 'cvrl_semi_supervised_k400_1pct.yaml',
    {**TINY_FINETUNE, 'train_subset': {}})

# ViCC's step depends on the stage (cvrl_tf/tasks/vicc_pretrain.py): the
# case compiles one branch, picked on the host as the trainer picks it, of
# the paper YAML's first cross-stream stage (RGB trained): four views, the
# flow stream frozen (inference-mode BatchNorm, no gradient), Sinkhorn-Knopp
# with every view's queue. A single-stream step runs a subset of its ops
# (no frozen stream; frozen prototypes and an unused queue are values, not
# other ops) and would double the case's compile. The R3D-18 is at 1/8
# width; prototypes, embedding and queue stay the YAML's.
VICC_CROSS_STREAM = 'vicc_pretrain_cross_stream'
VICC_STAGE = 2
STEP_CASES[VICC_CROSS_STREAM] = (
    'vicc_pretrain', 'vicc_pretrain_ucf101_r3d18.yaml',
    {'model': {'backbone': {'r3d': {'width_multiplier': 0.125}}},
     'train_data': TINY_SHAPES, 'validation_data': TINY_SHAPES})


@pytest.fixture(scope='module')
def records(tmp_path_factory):
  return write_toy_records(str(tmp_path_factory.mktemp('records')),
                           videos_per_class=1, size=40)


@pytest.fixture(scope='module')
def flow_records(tmp_path_factory):
  return write_toy_records(str(tmp_path_factory.mktemp('flow_records')),
                           videos_per_class=1, size=40, flow='farneback')


def _case_params(name, records):
  experiment, yaml_name, task = (SEMI_SUPERVISED if name == SEMI_SUPERVISED[0]
                                 else STEP_CASES[name])
  task = {key: dict(value) for key, value in task.items()}
  for key in ('train_data', 'validation_data'):
    task[key]['input_path'] = records
  if 'train_subset' in task:
    task['train_subset']['ids_file'] = _subset_ids_file(records, name)
  dtype = xla_step.step_dtype()
  return xla_step.parse_experiment(
      experiment, os.path.join(EXPERIMENTS_DIR, yaml_name),
      {'task': task, 'runtime': {'mixed_precision_dtype': dtype}})


def _subset_ids_file(records, name):
  return os.path.join(os.path.dirname(records), f'{name}_subset_ids.txt')


@pytest.fixture(scope='module')
def compiled_steps(records):
  """name -> (params, compiled step, logs of its first run), compiled once."""
  steps = {}

  def compiled(name):
    if name not in steps:
      params = _case_params(name, records)
      steps[name] = (params, *xla_step.compile_train_step(params))
    return steps[name]
  return compiled


@pytest.mark.parametrize('name', sorted(set(STEP_CASES) - {VICC_CROSS_STREAM}))
def test_train_step_compiles_with_xla(name, compiled_steps):
  params, _, logs = compiled_steps(name)
  if name == 'cvrl_pretrain':
    assert params.runtime.distribution_strategy == 'tpu'
    assert params.task.train_data.augmentation.device_augmentation
  if name == 'cvrl_finetune':
    assert not params.task.freeze_backbone
    assert params.task.model.dropout_rate > 0
  assert np.isfinite(logs['loss']), logs
  if name == 'tclr_pretrain':
    np.testing.assert_allclose(
        logs['loss'], logs['instance_loss'] + logs['local_local_loss'] +
        logs['global_local_loss'] + logs['l2_loss'], rtol=1e-5)


def test_semi_supervised_batches_run_in_the_compiled_finetune_step(
    records, compiled_steps):
  name = SEMI_SUPERVISED[0]
  params = _case_params(name, records)
  finetune, step, _ = compiled_steps('cvrl_finetune')
  assert not params.task.freeze_backbone
  # The step's ops are fine-tuning's less dropout and warm-up: nothing the
  # fine-tuning compile leaves out.
  assert type(params.task) is type(finetune.task)
  assert params.task.model.dropout_rate == 0
  assert params.task.model.replace(
      dropout_rate=finetune.task.model.dropout_rate).as_dict() == (
          finetune.task.model.as_dict())
  assert params.task.losses.as_dict() == finetune.task.losses.as_dict()
  assert params.runtime.as_dict() == finetune.runtime.as_dict()
  optimizer = params.trainer.optimizer_config
  finetune_optimizer = finetune.trainer.optimizer_config
  assert (optimizer.optimizer.as_dict() ==
          finetune_optimizer.optimizer.as_dict())
  assert optimizer.learning_rate.type == finetune_optimizer.learning_rate.type
  assert optimizer.warmup.type in (None, finetune_optimizer.warmup.type)
  task = task_factory.get_task(params.task)
  dataset = task.build_inputs(params.task.train_data)
  assert not xla_step.non_static_shapes(dataset.element_spec)
  logs = xla_step.run_compiled(step, next(iter(dataset)))
  assert np.isfinite(logs['loss']), logs
  # The YAML's 1% of each class: one of the toy records' videos each.
  with open(_subset_ids_file(records, name)) as f:
    assert len(f.read().split()) == 10


class _ViCCQueueFill:
  """Fills every view's queue and keeps the state a ViCC step changes."""

  def __init__(self, global_step, queue_start):
    self.global_step = global_step
    self.queue_start = queue_start

  def __call__(self, task, model, optimizer):
    del task, optimizer  # The optimizer's iterations are the global step.
    self.model = model
    queue = model.queue
    queue.embeddings.assign(tf.math.l2_normalize(tf.random.stateless_normal(
        queue.embeddings.shape, seed=[0, 1]), axis=-1))
    self.queue = queue.embeddings.numpy()
    self.queue_in_use = [
        bool(queue.read(view, self.global_step, self.queue_start)[1])
        for view in range(queue.num_views)]
    self.variables = {name: [v.numpy() for v in variables]
                      for name, variables in self.stream_state().items()}

  def stream_state(self):
    """The RGB stream's trainable variables; the flow stream's, with its
    backbone's BatchNorm statistics (frozen: inference mode)."""
    flow_backbone = self.model.checkpoint_items['flow_backbone']
    return {'rgb': self.model.stream_variables('rgb'),
            'flow': (self.model.stream_variables('flow') +
                     flow_backbone.non_trainable_variables)}

  def changed(self, name):
    return [not np.array_equal(v.numpy(), old) for v, old in
            zip(self.stream_state()[name], self.variables[name])]


def test_vicc_cross_stream_step_compiles_with_xla(flow_records):
  params = _case_params(VICC_CROSS_STREAM, flow_records)
  stage = params.task.recipe.stages[VICC_STAGE]
  assert (stage.trained_stream, stage.cross_stream) == ('rgb', True)
  assert params.task.model.num_prototypes == 300
  queue_start = vicc_stages.StageTable(
      params.task.recipe).stages[VICC_STAGE].queue_start
  # The queues start filling at queue_start; once full (filled here) they
  # join Sinkhorn-Knopp from the next step on.
  fill = _ViCCQueueFill(queue_start + 1, queue_start)
  _, logs = xla_step.compile_train_step(params, fill.global_step, prepare=fill)
  assert fill.queue_in_use == [True] * 4
  assert np.isfinite(logs['loss']), logs
  assert logs['rgb_loss'] == logs['loss']
  assert np.isnan(logs['flow_loss'])  # No flow step in the interval.
  # Only the trained stream moved; the frozen one ran in inference mode.
  assert fill.model.checkpoint_items['flow_backbone'].non_trainable_variables
  assert not any(fill.changed('flow'))
  assert all(fill.changed('rgb'))
  # Every view pushed this step's embeddings in front of its old rows.
  queue = fill.model.queue.embeddings.numpy()
  batch = params.task.train_data.global_batch_size
  np.testing.assert_array_equal(queue[:, batch:], fill.queue[:, :-batch])
  np.testing.assert_allclose(np.linalg.norm(queue[:, :batch], axis=-1), 1,
                             rtol=1e-5)


def test_yaml_recipe_reaches_the_compiled_step(records):
  # The override changes shapes only: the optimizer is the YAML's.
  params = _case_params('cvrl_pretrain', records)
  assert params.trainer.optimizer_config.learning_rate.get().decay_steps == (
      params.trainer.train_steps)
  assert params.task.model.backbone.r3d.model_id == 50


def _tpu_training_yamls():
  paths = sorted(glob.glob(os.path.join(EXPERIMENTS_DIR, '*.yaml')))
  return [path for path in paths if 'tpu' in open(path).read()]


@pytest.mark.parametrize('path', _tpu_training_yamls(), ids=os.path.basename)
def test_tpu_yaml_training_batches_have_static_shapes(path, records):
  params = xla_step.parse_experiment(
      experiment_for(os.path.basename(path)), path,
      {'task': {'train_data': {'input_path': records},
                'validation_data': {'input_path': records}}})
  train_data = params.task.train_data
  assert train_data.drop_remainder
  task = task_factory.get_task(params.task)
  # The YAML's own shapes and batch size: only the spec is built, nothing
  # is read.
  spec = task.build_inputs(train_data).element_spec
  assert not xla_step.non_static_shapes(spec)
  image = spec[0]['image']
  views = 2 if train_data.is_ssl else 1
  assert image.shape[0] == views * train_data.global_batch_size
  if train_data.augmentation.device_augmentation:
    params_spec = spec[0][device_augmentation.PARAMS_KEY]
    assert params_spec['blur'].shape == image.shape[:1]
