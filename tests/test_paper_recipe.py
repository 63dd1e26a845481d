"""The paper experiments hold CVRL's published values, field by field.

Our configs are loaded as the trainer loads them (registered experiment +
YAML); Model Garden's as the release runs them (its experiment + the
release's values), so a published row also fails if Model Garden's own
defaults move away from it.
"""
import os

import pytest
from official.core import exp_factory
# Registers Model Garden's video_ssl experiments.
from official.projects.video_ssl.configs import video_ssl  # pylint: disable=unused-import

from cvrl_tf import configs
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.configs import validation
import published_recipe as published

# {our experiment: Model Garden's experiment it mirrors}.
MODEL_GARDEN_EXPERIMENT = {
    'cvrl_pretrain': 'video_ssl_pretrain_kinetics400',
    'cvrl_pretrain_kinetics600': 'video_ssl_pretrain_kinetics600',
    'cvrl_linear_eval': 'video_ssl_linear_eval_kinetics400',
    'cvrl_linear_eval_kinetics600': 'video_ssl_linear_eval_kinetics600',
}


def lookup(config, dotted_key: str):
  value = config
  for name in dotted_key.split('.'):
    value = getattr(value, name)
  return tuple(value) if isinstance(value, (list, tuple)) else value


def our_params(experiment: str, yaml_name):
  files = ([os.path.join(configs.EXPERIMENTS_DIR, yaml_name)] if yaml_name
           else [])
  return validation.experiment_params(experiment, files)


def model_garden_params(experiment: str, rows):
  """Model Garden's experiment with the release's values of `rows` set."""
  params = exp_factory.get_exp_config(MODEL_GARDEN_EXPERIMENT[experiment])
  for row in rows:
    if row.model_garden and row.source.startswith('release'):
      *parents, name = row.model_garden.split('.')
      parent = lookup(params, '.'.join(parents)) if parents else params
      setattr(parent, name, row.value)
  return params


def check(params, rows):
  mismatches = [f'{row.ours} = {lookup(params, row.ours)!r}, published '
                f'{row.to_ours(row.value)!r} ({row.source})'
                for row in rows if row.ours is not None
                and lookup(params, row.ours) != row.to_ours(row.value)]
  assert not mismatches, '\n'.join(mismatches)


def cases(yamls, common_rows):
  return [pytest.param(experiment, yaml_name, common_rows + rows,
                       id=yaml_name or experiment)
          for yaml_name, (experiment, rows) in yamls.items()]


PAPER_CASES = (cases(published.PRETRAIN_YAMLS, published.PRETRAIN)
               + cases(published.LINEAR_EVAL_YAMLS, published.LINEAR_EVAL)
               + cases(published.SEMI_SUPERVISED_YAMLS,
                       published.SEMI_SUPERVISED))


@pytest.mark.parametrize('experiment, yaml_name, rows', PAPER_CASES)
def test_paper_experiment_holds_published_values(experiment, yaml_name, rows):
  check(our_params(experiment, yaml_name), rows)


@pytest.mark.parametrize('experiment, yaml_name, rows', [
    case for case in PAPER_CASES
    if case.values[0] in MODEL_GARDEN_EXPERIMENT])
def test_model_garden_release_holds_published_values(experiment, yaml_name,
                                                     rows):
  """The published values are those of Model Garden's code and release."""
  del yaml_name
  params = model_garden_params(experiment, rows)
  mismatches = [f'{row.model_garden} = {lookup(params, row.model_garden)!r}, '
                f'written {row.value!r} ({row.source})'
                for row in rows if row.model_garden
                and row.source != published.DERIVED
                and lookup(params, row.model_garden) != row.value]
  assert not mismatches, '\n'.join(mismatches)


@pytest.mark.parametrize('yaml_name, batch_size', [
    ('cvrl_pretrain_cpu_r3d18_8x112.yaml', 8),
    ('cvrl_pretrain_gpu_r3d18_16x112.yaml', 64)])
def test_small_batch_presets_scale_the_rate_linearly(yaml_name, batch_size):
  params = our_params('cvrl_pretrain', yaml_name)
  assert params.task.train_data.global_batch_size == batch_size
  rate = lookup(params, published.OPTIMIZER
                + 'learning_rate.cosine.initial_learning_rate')
  assert rate == pytest.approx(0.32 * batch_size / 1024)
  # One-device presets need no synchronised BatchNorm; several replicas
  # switch it on (CVRLPretrainTask.build_model).
  check(params, [row for row in published.PRETRAIN
                 if row.ours and 'learning_rate' not in row.ours
                 and not row.ours.startswith(('task.train_data', 'runtime',
                                              'task.model.backbone',
                                              'task.model.norm_activation.'
                                              'use_sync_bn'))])
