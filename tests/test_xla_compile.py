"""TPU readiness on CPU: XLA compiles the training steps of the paper YAMLs.

Each case loads a YAML of cvrl_tf/configs/experiments/ through the
trainer's own config path (experiment factory + YAML + --params_override),
shrinks only the shapes, and compiles one train step with `jit_compile=True` in bfloat16
(float32 where the CPU lacks native bfloat16, with the reason printed).
A new method adds its (experiment, YAML, overrides) case to `STEP_CASES`.
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
    # Fine-tuning on a class-balanced subset, chosen on the host.
    'cvrl_semi_supervised': (
        'cvrl_semi_supervised', 'cvrl_semi_supervised_k400_1pct.yaml',
        {**TINY_FINETUNE, 'train_subset': {}}),
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


@pytest.fixture(scope='module')
def records(tmp_path_factory):
  return write_toy_records(str(tmp_path_factory.mktemp('records')),
                           videos_per_class=1, size=40)


def _case_params(name, records):
  experiment, yaml_name, task = STEP_CASES[name]
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


@pytest.mark.parametrize('name', sorted(STEP_CASES))
def test_train_step_compiles_with_xla(name, records):
  params = _case_params(name, records)
  if name == 'cvrl_pretrain':
    assert params.runtime.distribution_strategy == 'tpu'
    assert params.task.train_data.augmentation.device_augmentation
  if name in ('cvrl_finetune', 'cvrl_semi_supervised'):
    assert not params.task.freeze_backbone
  if name == 'cvrl_finetune':
    assert params.task.model.dropout_rate > 0
  logs = xla_step.compile_train_step(params)
  assert np.isfinite(logs['loss']), logs
  if name == 'tclr_pretrain':
    np.testing.assert_allclose(
        logs['loss'], logs['instance_loss'] + logs['local_local_loss'] +
        logs['global_local_loss'] + logs['l2_loss'], rtol=1e-5)
  if name == 'cvrl_semi_supervised':
    # The YAML's 1% of each class: one of the toy records' videos each.
    with open(_subset_ids_file(records, name)) as f:
      assert len(f.read().split()) == 10


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
