"""The learning curve of CVRL on the toy benchmark, which sets the budget.

One CVRL run of the toy preset trains to `CURVE_STEPS` with its schedule
(warm-up and cosine decay) over all of them, checkpointing every
`CHECKPOINT_INTERVAL` steps. Each checkpoint is evaluated with the fast
linear probe and kNN, and so is the random encoder of the same seed. The
budget of every setting is the smallest checkpoint step at which CVRL's
linear top-1 reaches random init's plus `TARGET_GAIN`.

The run trains checkpoint to checkpoint and evaluates each as it is
saved; everything is cached under its keyed folder, so a rerun resumes.
"""
import os
from typing import Dict, List, Tuple

import numpy as np
import tensorflow as tf

from benchmarks import reproduce_runs as runs
from benchmarks import run_keys
from cvrl_tf import demo

CURVE_STEPS = 1500
CHECKPOINT_INTERVAL = 150
# Fraction of the fast probe's linear top-1 above random init that says
# CVRL has learned.
TARGET_GAIN = 0.20
RULE = ('the smallest checkpoint step at which CVRL reaches random init + '
        f'{100 * TARGET_GAIN:.0f} points of the fast probe\'s linear top-1 '
        f'({CURVE_STEPS} steps if none does)')


def curve_params(paths: demo.DemoPaths, steps: int, interval: int,
                 seed: int):
  """CVRL on the toy preset over `steps`, keeping every checkpoint."""
  params = runs.contrastive_params(paths, runs.SETTINGS['cvrl'], steps, seed)
  # Twice the checkpoints a run saves: an interrupted run adds one more.
  params.override({'trainer': {'checkpoint_interval': interval,
                               'max_to_keep': 2 * (steps // interval + 1)}},
                  is_strict=True)
  return params


def curve_definition(paths: demo.DemoPaths, budget: runs.Budget, steps: int,
                     interval: int, seed: int) -> Dict[str, object]:
  evaluation = demo.pretrain_params(paths, steps)
  return {
      'curve': 'cvrl', 'seed': seed, 'data': runs.toy_data_definition(budget),
      'train': run_keys.defining_config(
          curve_params(paths, steps, interval, seed).as_dict()),
      'evaluation': run_keys.defining_config(
          demo.eval_data(evaluation, '').as_dict()),
  }


def run_curve(work_dir: str, paths: demo.DemoPaths, budget: runs.Budget,
              steps: int = CURVE_STEPS, interval: int = CHECKPOINT_INTERVAL,
              seed: int = 0) -> Dict[str, object]:
  """Trains and evaluates the curve (resuming); returns its results.

  Returns:
    {'steps', 'linear_top1', 'knn_r1' (lists over checkpoints),
    'random_init': {'linear_top1', 'knn_r1'}, 'checkpoints': {step:
    metrics}, 'random_init_metrics', 'chosen_train_steps', 'reached',
    'target_linear_top1', 'rule', 'seed', 'data', 'definition_key',
    'wall_seconds', 'cpu_seconds'}.
  """
  definition = curve_definition(paths, budget, steps, interval, seed)
  key = run_keys.definition_key(definition)
  curve_dir = os.path.join(work_dir, 'curve', f'cvrl-seed{seed}-{key}')
  run_keys.claim_run_dir(curve_dir, definition)
  train_dir = os.path.join(curve_dir, 'train')
  params = curve_params(paths, steps, interval, seed)
  evaluation = demo.pretrain_params(paths, steps)
  timer = runs.Timer(os.path.join(curve_dir, 'time.json'))

  random_path = os.path.join(curve_dir, 'random_init.json')
  if not tf.io.gfile.exists(random_path):
    with timer:
      runs.write_json(random_path,
                      runs.evaluate(paths, evaluation, '', seed))
  checkpoints = {}
  for step in range(interval, steps + 1, interval):
    metrics_path = os.path.join(curve_dir, f'checkpoint-{step:05d}.json')
    if not tf.io.gfile.exists(metrics_path):
      with timer:
        if runs.checkpoint_step(train_dir) < step:
          segment = params.replace(trainer={'train_steps': step})
          tf.keras.utils.set_random_seed(seed)
          runs.train_until(segment, train_dir, step)
        runs.write_json(metrics_path, runs.evaluate(
            paths, evaluation, os.path.join(train_dir, f'ckpt-{step}'),
            seed))
    checkpoints[step] = runs.read_json(metrics_path)
  return summarize_curve(checkpoints, runs.read_json(random_path), steps,
                         dict(timer.recorded(), seed=seed,
                              data=definition['data'], definition_key=key))


def choose_budget(steps: List[int], linear_top1: List[float],
                  random_top1: float) -> Tuple[int, bool]:
  """(budget, reached): the first step at random + `TARGET_GAIN`, else the
  last step and False."""
  for step, top1 in zip(steps, linear_top1):
    if top1 >= random_top1 + TARGET_GAIN:
      return step, True
  return steps[-1], False


def summarize_curve(checkpoints: Dict[int, Dict[str, float]],
                    random_init: Dict[str, float], steps: int,
                    extra: Dict[str, object]) -> Dict[str, object]:
  """The curve's lists, the budget the rule chooses and `extra`."""
  ordered = sorted(checkpoints)
  linear = [checkpoints[s]['top1'] for s in ordered]
  budget, reached = choose_budget(ordered, linear, random_init['top1'])
  return dict(
      extra, steps=ordered, linear_top1=linear,
      knn_r1=[checkpoints[s]['recall@1'] for s in ordered],
      random_init={'linear_top1': random_init['top1'],
                   'knn_r1': random_init['recall@1']},
      checkpoints={str(s): checkpoints[s] for s in ordered},
      random_init_metrics=random_init, curve_steps=steps,
      target_linear_top1=random_init['top1'] + TARGET_GAIN,
      chosen_train_steps=budget, reached=reached, rule=RULE)


def plot(curve: Dict[str, object], path: str) -> None:
  """Linear top-1 and kNN R@1 against steps, random init and target (PNG)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, axes = pyplot.subplots(figsize=(7, 4))
  for key, label, color in (('linear_top1', 'CVRL linear top-1', 'C0'),
                            ('knn_r1', 'CVRL kNN R@1', 'C1')):
    axes.plot(curve['steps'], 100 * np.asarray(curve[key]), 'o-',
              color=color, label=label)
    axes.axhline(100 * curve['random_init'][key], color=color,
                 linestyle='--', label=f'random init {label[5:]}')
  axes.axhline(100 * curve['target_linear_top1'], color='gray',
               linestyle=':', label='random init + 20 (linear top-1)')
  axes.axvline(curve['chosen_train_steps'], color='black', linewidth=0.8,
               label=f"budget: {curve['chosen_train_steps']} steps")
  axes.set_xlabel('training step (schedule over '
                  f"{curve['curve_steps']} steps)")
  axes.set_ylabel('% (toy test set)')
  axes.legend(fontsize=8)
  figure.tight_layout()
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, 'wb') as f:
    figure.savefig(f, format='png', dpi=120)
  pyplot.close(figure)
