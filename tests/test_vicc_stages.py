"""ViCC's stage schedule against a step-by-step replay of the authors' runs."""
import math
import os

import numpy as np
import pytest
from official.core import exp_factory

from cvrl_tf import configs
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.configs import validation
from cvrl_tf.configs import vicc as vicc_cfg
from cvrl_tf.training import vicc_stages


def authors_steps(recipe: vicc_cfg.ViCCRecipe):
  """One row per step, as ViCC's scripts run the stages one after another.

  Each stage is a run of main_single.py / main_cross.py: `for epoch in
  range(args.epochs)`, `len(train_loader)` iterations each, `args.iteration`
  from 1; `param_group["lr"] = args.lr_schedule[args.iteration - 1]` with
  the cosine over `len(train_loader) * args.epochs`; the queue is made at
  the first epoch >= `epoch_queue_starts`; the prototypes' gradient is
  dropped while `epoch < freeze_prototypes_nepochs`.
  """
  rows = []
  for index, stage in enumerate(recipe.stages):
    per_epoch = recipe.steps_per_epoch
    total = per_epoch * stage.lr_decay_epochs
    lr_schedule = [recipe.final_learning_rate + 0.5 * (
        recipe.base_learning_rate - recipe.final_learning_rate) * (
            1 + math.cos(math.pi * t / total)) for t in range(total)]
    iteration = 1
    queue_made_at = None
    for epoch in range(stage.epochs):
      for _ in range(per_epoch):
        if queue_made_at is None and epoch >= stage.queue_start_epoch:
          queue_made_at = len(rows)
        rows.append(dict(stage=index, stream=stage.trained_stream,
                         cross=stage.cross_stream,
                         lr=lr_schedule[iteration - 1],
                         frozen=epoch < stage.freeze_prototypes_epochs,
                         queue_start=queue_made_at))
        iteration += 1
  return rows


def small_recipe():
  """The paper's stages at a tenth of their epochs, 3 steps per epoch."""
  recipe = vicc_cfg.ViCCRecipe(steps_per_epoch=3)
  for stage in recipe.stages:
    for field in ('epochs', 'lr_decay_epochs', 'queue_start_epoch',
                  'freeze_prototypes_epochs'):
      setattr(stage, field, getattr(stage, field) // 10)
  return recipe


@pytest.fixture(scope='module')
def replay():
  recipe = small_recipe()
  table = vicc_stages.StageTable(recipe)
  rows = authors_steps(recipe)
  steps = np.arange(len(rows))
  return recipe, table, rows, steps


def test_the_table_follows_the_authors_runs_step_by_step(replay):
  recipe, table, rows, steps = replay
  assert table.total_steps == len(rows) == vicc_cfg.total_steps(recipe)
  np.testing.assert_array_equal(table.stage_index(steps).numpy(),
                                [row['stage'] for row in rows])
  kinds = [table.kinds[b] for b in table.branch(steps).numpy()]
  assert kinds == [(row['stream'], row['cross']) for row in rows]
  np.testing.assert_array_equal(table.prototypes_frozen(steps).numpy(),
                                [row['frozen'] for row in rows])
  queue_starts = table.stage_value('queue_start', steps).numpy()
  for step, row in zip(steps, rows):
    if row['queue_start'] is not None:
      assert queue_starts[step] == row['queue_start'], step


def test_the_rate_restarts_its_cosine_in_every_stage(replay):
  recipe, table, rows, steps = replay
  schedule = vicc_stages.StagedCosineSchedule(
      table, recipe.base_learning_rate, recipe.final_learning_rate)
  np.testing.assert_allclose(schedule(steps).numpy(),
                             [row['lr'] for row in rows], rtol=1e-5)


def test_the_paper_schedule():
  table = vicc_stages.StageTable(vicc_cfg.ViCCRecipe())
  assert table.kinds == [('rgb', False), ('flow', False), ('rgb', True),
                         ('flow', True)]
  per_epoch = vicc_cfg.ViCCRecipe().steps_per_epoch
  assert [(s.end - s.start) // per_epoch for s in table.stages] == [
      300, 300, 100, 100, 100, 100]
  assert [(s.queue_start - s.start) // per_epoch for s in table.stages] == [
      150, 200, 25, 25, 25, 25]
  # Steps past the end count as the last stage's.
  assert int(table.stage_index(table.total_steps + 5)) == 5


@pytest.mark.parametrize('name', ['vicc_pretrain_ucf101_r3d18.yaml',
                                  'vicc_pretrain_toy.yaml'])
def test_yaml_trains_every_stage_to_its_end(name):
  params = validation.experiment_params(
      'vicc_pretrain', [os.path.join(configs.EXPERIMENTS_DIR, name)])
  assert params.trainer.train_steps == vicc_cfg.total_steps(
      params.task.recipe)
  if 'ucf101' in name:
    assert params.task.recipe.steps_per_epoch == (
        vicc_cfg.UCF101_SPLIT1_TRAIN_EXAMPLES //
        params.task.train_data.global_batch_size)
    assert params.task.recipe.as_dict() == vicc_cfg.ViCCRecipe().as_dict()


def test_training_past_the_stages_is_refused():
  params = exp_factory.get_exp_config('vicc_pretrain')
  params.trainer.train_steps = vicc_cfg.total_steps(params.task.recipe) + 1
  with pytest.raises(validation.ConfigError, match='exceeds the'):
    validation._check_stages(params, 'train')  # pylint: disable=protected-access
