r"""The pretraining methods side by side on the toy benchmark, at one budget.

Every method trains the same half-width R3D-18 on 8 x 32^2 clips of the
reproduction's toy data (`reproduce_runs.prepare_data`, the
varied-appearance motion classes) for the same number of training steps,
each with its own recipe:

  vicc         `vicc_pretrain_toy.yaml`: RGB alone, flow alone, then the
               streams alternating, every stage counted in the steps (its
               epoch rescaled so that the run keeps the preset's 50
               epochs); its records also hold TV-L1 flow;
  tclr         `tclr_pretrain_toy.yaml` (its epoch rescaled to keep the
               preset's 10 epochs);
  cvrl         the reproduction's `cvrl` setting (`cvrl_pretrain_toy.yaml`,
               its schedule rescaled to the steps);
  random_init  the reproduction's untrained encoder.

The frozen RGB backbones are evaluated with exactly the reproduction's probe
(`reproduce_runs.evaluate`: fast linear probe and kNN on 8-frame clips at
stride 2), for every seed; the results are the mean and sample standard
deviation over the seeds. Runs are keyed by their definition under
`--work_dir` and recorded in `--record_dir` (`run_records`): the cvrl and
random_init runs are the reproduction's, so its recorded runs are reused,
and a run recorded there is not trained again. Writes
`methods_toy.{json,md}` (`--output_name`) to `--output_dir`:

  python -m benchmarks.methods_toy --work_dir=/tmp/methods_toy \
      --methods=vicc,tclr,cvrl,random_init --seeds=0,1,2 --train_steps=450 \
      --output_dir=docs/results
"""
import argparse
import dataclasses
import math
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from benchmarks import flow_cost
from benchmarks import input_pipeline
from benchmarks import method_runs
from benchmarks import reproduce
from benchmarks import reproduce_runs as runs
from benchmarks import run_keys
from benchmarks import run_records
from cvrl_tf import demo
from cvrl_tf.data_prep import optical_flow
from cvrl_tf.training import vicc_stages

METHOD_NAMES = ('vicc', 'tclr', 'cvrl', 'random_init')
# Clips through the backbone per step, from the presets' batches: CVRL 64
# videos x 2 views; TCLR 16 x (1 sparse + 4 dense clips) x 2
# augmentations; ViCC 16 x 2 views of the trained stream, plus in the
# cross-stream stages 16 x 2 of the frozen stream (no gradient).
VICC_LOSSES = ('rgb_loss', 'flow_loss')
CLIPS_PER_STEP = {'cvrl': '128', 'tclr': '160',
                  'vicc': '32 trained (+ 32 frozen in cross-stream stages)'}


def parse_methods(text: str) -> List[str]:
  methods = text.split(',')
  unknown = sorted(set(methods) - set(METHOD_NAMES))
  if unknown or not methods:
    raise ValueError(f'--methods takes some of {",".join(METHOD_NAMES)}; '
                     f'got {text!r}.')
  return methods


def parse_seeds(text: str) -> List[int]:
  try:
    return [int(seed) for seed in text.split(',')]
  except ValueError:
    raise ValueError(f'--seeds takes integers, e.g. 0,1,2; got {text!r}.'
                     ) from None


def check_train_steps(methods: Sequence[str], train_steps: int) -> None:
  """Raises ValueError unless every method can train for `train_steps`."""
  if train_steps <= 0:
    raise ValueError(f'--train_steps must be positive, got {train_steps}.')
  for name in methods:
    if name in method_runs.METHODS:
      method_runs.check_train_steps(method_runs.METHODS[name], train_steps)


def method_of(name: str, vicc_flow: str) -> Optional[method_runs.Method]:
  """The `method_runs.Method` of `name` (ViCC with `vicc_flow`), or None
  for the reproduction's settings."""
  method = method_runs.METHODS.get(name)
  if method is not None and method.flow:
    method = dataclasses.replace(method, flow=vicc_flow)
  return method


def finished_run(name: str, budget: runs.Budget, seed: int, work_dir: str,
                 record_dir: str, vicc_flow: str,
                 train: bool = True) -> Optional[Dict[str, Any]]:
  """The record of one method's run, reused or trained (`run_records`);
  None if it is not recorded and `train` is False."""
  method = method_of(name, vicc_flow)
  if method is not None:
    return method_runs.MethodRun(method, budget, seed, work_dir).finished(
        record_dir, train)
  return run_records.finished_setting_run(budget, name, seed, work_dir,
                                          record_dir, train)


def vicc_losses(budget: runs.Budget, seeds: Sequence[int], work_dir: str,
                vicc_flow: str) -> Dict[str, Dict[str, List]]:
  """The logged losses of ViCC's runs trained under `work_dir`
  ({run name: {tag: [(step, loop mean)]}}; runs trained elsewhere have no
  logs here)."""
  losses = {}
  for seed in seeds:
    run = method_runs.MethodRun(method_of('vicc', vicc_flow), budget, seed,
                                work_dir)
    definition = run.definition()
    logged = method_runs.logged_scalars(
        os.path.join(runs.run_dir_of(work_dir, definition), 'train'),
        VICC_LOSSES)
    if logged:
      losses[run_keys.run_name(definition)] = logged
  return losses


def vicc_schedule(budget: runs.Budget) -> Dict[str, object]:
  """ViCC's epoch and stages at the budget, in global steps
  (`vicc_stages`)."""
  method = method_runs.METHODS['vicc']
  recipe = method_runs.training_params(method, demo.DemoPaths(''),
                                       budget.train_steps, 0).task.recipe
  return {'epochs': method_runs.preset_epochs(method),
          'steps_per_epoch': recipe.steps_per_epoch, 'stages': [
      {'trained_stream': s.kind[0], 'cross_stream': s.kind[1],
       'steps': [s.start, s.end], 'lr_decay_steps': s.lr_decay_steps,
       'queue_start': s.queue_start, 'prototypes_free': s.prototypes_free}
      for s in vicc_stages.StageTable(recipe).stages]}


def run_summary(record: Dict[str, Any]) -> Dict[str, object]:
  """What the results keep of a run's record: name, time, where, when."""
  return {'name': record['name'], 'wall_seconds': record['wall_seconds'],
          'cpu_seconds': record['cpu_seconds'],
          'code_commit': record['code_commit'], 'source': record['source'],
          'cpu': record['machine']['cpu'],
          'load_average_at_end': record['machine']['load_average_at_end']}


def result(records: Dict[str, Dict[int, Dict[str, Any]]],
           budget: runs.Budget, command: str, wall_seconds: float,
           vicc_flow: str = method_runs.TOY_VICC_FLOW,
           flow_cost: Optional[Dict[str, float]] = None,
           losses: Optional[Dict[str, Dict[str, List]]] = None
           ) -> Dict[str, object]:
  """The results file from the finished runs' records ({method: {seed:
  record}}); `losses`: ViCC's logged losses (`vicc_losses`)."""
  summary = {}
  for name, by_seed in records.items():
    seeds = [s for s in budget.seeds if s in by_seed]
    if seeds:
      summary.update(reproduce.summarize(
          {name: [by_seed[s]['metrics'] for s in seeds]}, seeds))
  missing = [f'{name} seed {seed}' for name, by_seed in records.items()
             for seed in budget.seeds if seed not in by_seed]
  return {
      'command': command, 'seeds': list(budget.seeds),
      'train_steps': budget.train_steps, 'methods': summary,
      'complete': not missing, 'missing_runs': missing,
      'runs': {name: [run_summary(by_seed[s]) for s in budget.seeds
                      if s in by_seed]
               for name, by_seed in records.items()},
      'clips_per_step': {k: v for k, v in CLIPS_PER_STEP.items()
                         if k in records},
      'vicc_schedule': vicc_schedule(budget) if 'vicc' in records else None,
      'vicc_flow': vicc_flow, 'flow_cost': flow_cost,
      'vicc_losses': losses or {},
      'vicc_chance_loss': math.log(method_runs.METHODS['vicc'].preset_params()
                                   .task.model.num_prototypes),
      'data': runs.toy_data_definition(budget),
      'wall_seconds': round(wall_seconds, 1),
  }


def loss_lines(losses: Dict[str, Dict[str, List]]) -> str:
  """One line per run and stream: its loop means, step by step."""
  return '\n'.join(
      f'- {name}, {tag}: ' + ', '.join(
          f'{value:.2f} ({step})' for step, value in curve
          if not math.isnan(value))
      for name, logged in losses.items() for tag, curve in logged.items())


def results_table(summary: Dict[str, Dict[str, object]]) -> str:
  """Mean ± sd per method in percent, and every seed's linear top-1."""
  lines = ['| method | linear top-1 (%) | kNN R@1 (%) | linear top-1 per '
           'seed (%) | kNN R@1 per seed (%) |',
           '| --- | ---: | ---: | --- | --- |']
  for name, entry in summary.items():
    per_seed = entry['per_seed']
    lines.append(
        f"| {name} | {100 * entry['linear_top1_mean']:.1f} ± "
        f"{100 * entry['linear_top1_std']:.1f} | "
        f"{100 * entry['knn_r1_mean']:.1f} ± "
        f"{100 * entry['knn_r1_std']:.1f} | "
        + ', '.join(f"{100 * m['top1']:.1f}" for m in per_seed) + ' | '
        + ', '.join(f"{100 * m['recall@1']:.1f}" for m in per_seed) + ' |')
  return '\n'.join(lines)


def schedule_table(schedule: List[Dict[str, object]]) -> str:
  lines = ['| stage | trains | other stream | steps | cosine over | queues '
           'from step | prototypes learn from step |',
           '| ---: | --- | --- | --- | ---: | ---: | ---: |']
  for index, stage in enumerate(schedule):
    start, end = stage['steps']
    lines.append(
        f"| {index + 1} | {stage['trained_stream']} | "
        + ('frozen, in the loss' if stage['cross_stream'] else 'unused')
        + f" | {start}-{end} | {stage['lr_decay_steps']} | "
        f"{stage['queue_start']} | {stage['prototypes_free']} |")
  return '\n'.join(lines)


def runs_list(outcome: Dict[str, object]) -> str:
  """One line per run: name, time, code commit, CPU."""
  return '\n'.join(
      f"- {run['name']}: {run['wall_seconds']:.0f} s wall, "
      f"{run['cpu_seconds']:.0f} CPU-s, commit {run['code_commit']}, "
      f"{run['cpu']}, load {run['load_average_at_end']} at the end"
      for method_runs_ in outcome['runs'].values() for run in method_runs_)


def report(outcome: Dict[str, object]) -> str:
  """The Markdown page of `outcome` (`result`, with environment, commit)."""
  env = outcome['environment']
  seeds = ', '.join(str(s) for s in outcome['seeds'])
  clips = '; '.join(f'{name} {count}' for name, count
                    in outcome['clips_per_step'].items())
  vicc = ''
  if outcome['vicc_schedule']:
    cost = outcome['flow_cost']
    deviation = ('' if outcome['vicc_flow'] == 'tvl1' else
                 ", not ViCC's TV-L1: a deviation (`--vicc_flow`) for its "
                 'cost, TV-L1 taking about 35 CPU-min for the toy data\'s '
                 '~70k flows, more than ten ViCC toy runs')
    vicc = f"""
## ViCC's schedule at {outcome['train_steps']} steps

The stages of `vicc_pretrain_toy.yaml` (ViCC's order and ratios, see
there) with its {outcome['vicc_schedule']['epochs']} epochs kept, an epoch being
{outcome['vicc_schedule']['steps_per_epoch']} steps; every stage
counts in the budget. Each stage restarts its cosine rate (LARC, 0.6 to
0.0006), its momentum and its queues (320 embeddings per view, 20
batches):

{schedule_table(outcome['vicc_schedule']['stages'])}

ViCC's flow here is {outcome['vicc_flow']}, computed by the converter on the
stored 40 x 40 frames (`--flow={outcome['vicc_flow']}`){deviation}. At
that size TV-L1 costs {cost['tvl1']:.1f} CPU-ms per flow and Farneback
{cost['farneback']:.1f} (`benchmarks/flow_cost.py` at 40 x 40, 4 flows x 9
repetitions, in this run). The probe reads the RGB of
the toy records without flow, the same records as the other methods'.
"""
    if outcome['vicc_losses']:
      vicc += f"""
ViCC's logged losses, the mean over each loop of 50 steps ending at the
step in brackets (loops in which a stream did not train are left out),
against {outcome['vicc_chance_loss']:.2f} = ln(prototypes), the loss when
every view's prediction is uniform over the prototypes:

{loss_lines(outcome['vicc_losses'])}
"""
  status = ''
  if not outcome['complete']:
    status = ('**PARTIAL: not finished: ' + ', '.join(
        outcome['missing_runs']) + '. The means are over the finished '
              'seeds of each method.**\n\n')
  return f"""# The pretraining methods on the toy benchmark

{outcome['train_steps']} training steps per method, seeds {seeds}, on the
reproduction's varied-appearance toy data (`docs/results/reproduce.md`).
Frozen RGB backbones, the reproduction's fast linear probe and kNN (8-frame
clips at stride 2, 4 clips per video); mean ± sample standard deviation
over the seeds, test set of {outcome['data']['test_per_class'] *
demo.NUM_TOY_CLASSES} videos, {demo.NUM_TOY_CLASSES} classes:

{status}{results_table(outcome['methods'])}

"Same budget" is the same number of optimizer steps of the same backbone
(half-width R3D-18, 8 x 32^2 clips), each method with its own preset's
recipe and batch. Clips through the backbone per step: {clips}.
random_init is the same backbone untrained.
{vicc}
## Runs

Runs found recorded (`docs/results/reproduce_runs/`) or finished under the
work folder are not trained again; each keeps the commit and machine that
trained it:

{runs_list(outcome)}

Whole command: {outcome['wall_seconds']:.0f} s wall. Load average at the
end: {env['load_average_at_end']} on {env['cpu_count']} cores shared with
other jobs.

    {outcome['command']}

Commit {outcome['commit']}; {env['cpu']} (AVX512-BF16:
{env['avx512_bf16']}), no GPU; TensorFlow {env['tensorflow']},
tf-models-official {env['tf_models_official']}, Python {env['python']}.
The figures are in `{outcome['output_name']}.json`.
"""


def toy_flow_cost() -> Dict[str, float]:
  """CPU-ms per flow of each method on frames of the toy records' size
  (`flow_cost`)."""
  size = demo.RECORD_MIN_RESIZE
  # 4 flows a repetition: the moving square stays inside 40 x 40.
  measured = flow_cost.run(list(optical_flow.FLOW_METHODS), size, size,
                           frames_per_rep=4, repetitions=9)
  return {method: m['cpu_ms_per_frame_median']
          for method, m in measured['methods'].items()}


def run(work_dir: str, output_dir: str, record_dir: str, budget: runs.Budget,
        methods: Sequence[str], command: str,
        vicc_flow: str = method_runs.TOY_VICC_FLOW,
        output_name: str = 'methods_toy',
        train: bool = True) -> Dict[str, object]:
  """Reuses or trains every method's runs; writes `output_name`.{json,md}.

  Without `train`, only the recorded runs count (the page says which are
  missing).
  """
  start = time.monotonic()
  records = {}
  for name in methods:
    records[name] = {}
    for seed in budget.seeds:
      record = finished_run(name, budget, seed, work_dir, record_dir,
                            vicc_flow, train)
      if record is not None:
        records[name][seed] = record
  with_vicc = 'vicc' in methods
  outcome = result(
      records, budget, command, time.monotonic() - start, vicc_flow,
      toy_flow_cost() if with_vicc else None,
      vicc_losses(budget, sorted(records['vicc']), work_dir, vicc_flow)
      if with_vicc else None)
  outcome.update(environment=input_pipeline.environment(),
                 commit=input_pipeline.code_commit(), output_name=output_name)
  runs.write_json(os.path.join(output_dir, f'{output_name}.json'), outcome)
  with open(os.path.join(output_dir, f'{output_name}.md'), 'w') as f:
    f.write(report(outcome))
  return outcome


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--work_dir', required=True,
                      help='Videos, records, checkpoints; reruns resume.')
  parser.add_argument('--output_dir', default='docs/results')
  parser.add_argument('--output_name', default='methods_toy',
                      help='Results go to <output_name>.{json,md}.')
  parser.add_argument('--record_dir', default=run_records.RECORD_DIR,
                      help='Records of finished runs, committed: a run '
                      'recorded there is not trained again.')
  parser.add_argument('--methods', default=','.join(METHOD_NAMES))
  parser.add_argument('--seeds', default='0')
  parser.add_argument('--train_steps', type=int, required=True)
  parser.add_argument('--vicc_flow', default=method_runs.TOY_VICC_FLOW,
                      choices=optical_flow.FLOW_METHODS,
                      help="ViCC's optical flow; tvl1 is the authors' "
                      '(costly at toy size, see benchmarks/method_runs.py).')
  parser.add_argument('--only_recorded', action='store_true',
                      help='Train nothing: report the runs recorded in '
                      '--record_dir.')
  parser.add_argument('--quick', action='store_true',
                      help="A smoke run on the reproduction's quick data "
                      '(2 training and 1 test video per class).')
  args = parser.parse_args(argv)
  command = 'python -m benchmarks.methods_toy ' + ' '.join(
      sys.argv[1:] if argv is None else argv)
  try:
    methods = parse_methods(args.methods)
    budget = dataclasses.replace(
        runs.QUICK if args.quick else runs.Budget(),
        train_steps=args.train_steps, seeds=tuple(parse_seeds(args.seeds)))
    check_train_steps(methods, args.train_steps)
    outcome = run(args.work_dir, args.output_dir, args.record_dir, budget,
                  methods, command, args.vicc_flow, args.output_name,
                  train=not args.only_recorded)
  except (ValueError, run_keys.DefinitionMismatchError) as e:
    sys.exit(f'error: {e}')
  except runs.TrainingInterrupted as e:
    sys.exit(f'stopped: {e} Run the same command to resume.')
  print(results_table(outcome['methods']))


if __name__ == '__main__':
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  main()
