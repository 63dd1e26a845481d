r"""TCLR next to CVRL on the toy benchmark, at the same number of steps.

Both methods train the same half-width R3D-18 on 8 x 32^2 clips of the
reproduction's toy data (`reproduce_runs.prepare_data`, the varied-appearance
motion classes) for the same number of training steps, each with its own
recipe:

  cvrl  the reproduction's `cvrl` setting (`cvrl_pretrain_toy.yaml`): batch
        64 videos x 2 clips, LARS, cosine schedule rescaled to the steps;
  tclr  `tclr_pretrain_toy.yaml`: batch 16 videos x (1 sparse + 4 dense
        clips) x 2 augmentations = 160 clips, Adam with TCLR's warm-up and
        plateau schedule, its epoch rescaled so that the run keeps the
        preset's 10 epochs.

The frozen backbones are evaluated with exactly the reproduction's probe
(`reproduce_runs.evaluate`: fast linear probe and kNN on 8-frame clips at
stride 2). Runs are keyed by their definition under `--work_dir`
(`run_keys`); the cvrl run's definition is the reproduction's, so the two
harnesses share its folder. Writes `tclr_toy.{json,md}` to `--output_dir`:

  python -m benchmarks.tclr_toy --work_dir=/tmp/tclr_toy \
      --train_steps=150 --output_dir=docs/results
"""
import argparse
import os
import sys
import time
from typing import Dict, Optional, Sequence

import tensorflow as tf

from benchmarks import input_pipeline
from benchmarks import reproduce_runs as runs
from benchmarks import run_keys
from cvrl_tf import configs
from cvrl_tf import demo
from cvrl_tf.configs import validation as config_validation

# TCLR first: its run is the new one. random_init (the reproduction's
# untrained encoder) says what training added.
METHODS = ('tclr', 'cvrl', 'random_init')
TCLR_TOY_YAML = os.path.join(configs.EXPERIMENTS_DIR,
                             'tclr_pretrain_toy.yaml')
# Steps of `tclr_pretrain_toy.yaml` and its epoch (`recipe.steps_per_epoch`):
# a shorter run keeps its 10 epochs, so warm-up and plateau keep their share.
TCLR_TOY_STEPS = 500
TCLR_TOY_EPOCHS = 10
CLIPS_PER_STEP = {'cvrl': 64 * 2, 'tclr': 16 * 5 * 2}


def check_train_steps(train_steps: int) -> None:
  """Raises ValueError unless the steps split into the preset's epochs."""
  if train_steps <= 0 or train_steps % TCLR_TOY_EPOCHS:
    raise ValueError(f'--train_steps must be a positive multiple of '
                     f'{TCLR_TOY_EPOCHS}, got {train_steps}.')


def tclr_params(paths: demo.DemoPaths, train_steps: int, seed: int,
                clip_batches: str = 'separate'):
  """The TCLR toy experiment on the toy records, its schedule rescaled.

  `clip_batches` is `TCLRModel.clip_batches` ('separate': TCLR's).
  """
  check_train_steps(train_steps)
  params = config_validation.experiment_params('tclr_pretrain',
                                               [TCLR_TOY_YAML])
  steps_per_loop = params.trainer.steps_per_loop
  # A checkpoint every loop: a run killed without warning loses one loop.
  params.override({
      'task': {'model': {'clip_batches': clip_batches},
               'train_data': {'input_path': paths.record_pattern('train'),
                              'seed': seed},
               'validation_data': {'input_path': paths.record_pattern('test')},
               'recipe': {'steps_per_epoch': train_steps // TCLR_TOY_EPOCHS}},
      'trainer': {'train_steps': train_steps,
                  'checkpoint_interval': steps_per_loop},
  }, is_strict=True)
  params.validate()
  return params


def evaluation_params(paths: demo.DemoPaths, budget: runs.Budget):
  """The reproduction's evaluation, whose backbone TCLR's toy shares."""
  params = demo.pretrain_params(paths, budget.train_steps)
  tclr_backbone = config_validation.experiment_params(
      'tclr_pretrain', [TCLR_TOY_YAML]).task.model.backbone
  if tclr_backbone.as_dict() != params.task.model.backbone.as_dict():
    raise ValueError('The toy presets of CVRL and TCLR must share their '
                     'backbone for one probe to evaluate both.')
  return params


def tclr_definition(paths: demo.DemoPaths, budget: runs.Budget, seed: int,
                    clip_batches: str = 'separate') -> Dict[str, object]:
  """Everything that defines the TCLR run's result (`run_keys`)."""
  return {
      'setting': {'name': 'tclr', 'experiment': 'tclr_pretrain'},
      'seed': seed, 'data': runs.toy_data_definition(budget),
      'train': run_keys.defining_config(tclr_params(
          paths, budget.train_steps, seed, clip_batches).as_dict()),
      'evaluation': run_keys.defining_config(demo.eval_data(
          evaluation_params(paths, budget), '').as_dict()),
  }


def tclr_run_dir(paths: demo.DemoPaths, budget: runs.Budget, seed: int,
                 work_dir: str, clip_batches: str = 'separate') -> str:
  """The TCLR run's keyed folder, claimed for its definition."""
  definition = tclr_definition(paths, budget, seed, clip_batches)
  run_dir = runs.run_dir_of(work_dir, definition)
  run_keys.claim_run_dir(run_dir, definition)
  return run_dir


def evaluate_tclr(paths: demo.DemoPaths, budget: runs.Budget, seed: int,
                  work_dir: str,
                  clip_batches: str = 'separate') -> Dict[str, float]:
  """Trains TCLR (resuming), evaluates it; cached like the CVRL settings."""
  run_dir = tclr_run_dir(paths, budget, seed, work_dir, clip_batches)

  def train_and_evaluate():
    train_dir = os.path.join(run_dir, 'train')
    tf.keras.utils.set_random_seed(seed)
    runs.train_until(tclr_params(paths, budget.train_steps, seed,
                                 clip_batches),
                     train_dir, budget.train_steps)
    return runs.evaluate(paths, evaluation_params(paths, budget), train_dir,
                         seed)
  return runs.timed_metrics(run_dir, train_and_evaluate)


def evaluate_method(method: str, paths: demo.DemoPaths, budget: runs.Budget,
                    seed: int, work_dir: str) -> Dict[str, float]:
  if method == 'tclr':
    return evaluate_tclr(paths, budget, seed, work_dir)
  return runs.evaluate_setting(paths, runs.SETTINGS[method], budget, seed,
                               work_dir)


def result(metrics: Dict[str, Dict[str, float]], budget: runs.Budget,
           seed: int, command: str, wall_seconds: float) -> Dict[str, object]:
  """The results file: metrics per method, the budget and the run."""
  return {
      'command': command, 'seed': seed, 'train_steps': budget.train_steps,
      'clips_per_step': CLIPS_PER_STEP,
      'data': runs.toy_data_definition(budget), 'metrics': metrics,
      'wall_seconds': round(wall_seconds, 1),
  }


def report(outcome: Dict[str, object]) -> str:
  """The Markdown page of `outcome` (`result`)."""
  metrics = outcome['metrics']
  times = '\n'.join(
      f"- {name}: {m['wall_seconds']:.0f} s wall, {m['cpu_seconds']:.0f} "
      'CPU-s (training and evaluation)' for name, m in metrics.items())
  env = outcome['environment']
  clips = outcome['clips_per_step']
  return f"""# TCLR and CVRL on the toy benchmark

Seed {outcome['seed']}, {outcome['train_steps']} training steps each, on the
reproduction's varied-appearance toy data (`docs/results/reproduce.md`).
Frozen backbones, the same fast linear probe and kNN (8-frame clips at
stride 2, 4 clips per video), percent:

{demo.results_table(metrics)}

"Same budget" is the same number of optimizer steps of the same backbone
(half-width R3D-18, 8 x 32^2 clips). Per step CVRL sees 64 videos x 2 clips
= {clips['cvrl']} clips, TCLR 16 videos x (1 sparse + 4 dense clips) x 2
augmentations = {clips['tclr']} clips: TCLR sees 1.25x the clips but a
quarter of the videos. Each method keeps its own preset's recipe (CVRL:
LARS, cosine decay and warm-up rescaled to the steps; TCLR: Adam 1e-3 with
its warm-up and plateau schedule, an epoch of steps / 10: 5 warm-up
epochs, then 1e-3, as a drop needs 9 epochs without improvement). TCLR
trains on sparse clips at stride 4 and dense clips at stride 1; the probe
sees both encoders on CVRL's clips (stride 2). random_init is the same
backbone untrained. One seed: a difference of a few points is within the
seed-to-seed spread that `reproduce.md` measures.
Why TCLR ends below the untrained encoder here, term by term:
`tclr_toy_diagnostics.md`.

Time per run:
{times}

Whole command: {outcome['wall_seconds']:.0f} s wall (runs found finished are
not retrained). Load average at the end: {env['load_average_at_end']} on
{env['cpu_count']} cores shared with other jobs.

    {outcome['command']}

Commit {outcome['commit']}; {env['cpu']} (AVX512-BF16:
{env['avx512_bf16']}), no GPU; TensorFlow {env['tensorflow']},
tf-models-official {env['tf_models_official']}, Python {env['python']}.
The figures are in `tclr_toy.json`.
"""


def run(work_dir: str, output_dir: str, budget: runs.Budget, seed: int,
        command: str) -> Dict[str, object]:
  start = time.monotonic()
  paths = runs.prepare_data(work_dir, budget)
  metrics = {method: evaluate_method(method, paths, budget, seed, work_dir)
             for method in METHODS}
  outcome = result(metrics, budget, seed, command, time.monotonic() - start)
  outcome.update(environment=input_pipeline.environment(),
                 commit=input_pipeline.code_commit())
  runs.write_json(os.path.join(output_dir, 'tclr_toy.json'), outcome)
  with open(os.path.join(output_dir, 'tclr_toy.md'), 'w') as f:
    f.write(report(outcome))
  return outcome


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--work_dir', required=True)
  parser.add_argument('--output_dir', default='docs/results')
  parser.add_argument('--train_steps', type=int, required=True)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  budget = runs.Budget(train_steps=args.train_steps, seeds=(args.seed,))
  command = 'python -m benchmarks.tclr_toy ' + ' '.join(
      sys.argv[1:] if argv is None else argv)
  try:
    check_train_steps(args.train_steps)
    run(args.work_dir, args.output_dir, budget, args.seed, command)
  except (ValueError, run_keys.DefinitionMismatchError) as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  main()
