"""The results of `methods_toy`: the JSON summary and its Markdown page.

`result` summarises the runs' records (mean and sample standard deviation
per method over its finished seeds, `reproduce.summarize`), with ViCC's
stages in steps and its logged losses; `report` writes the page.
"""
import math
from typing import Any, Dict, List, Optional

from benchmarks import method_runs
from benchmarks import reproduce
from benchmarks import reproduce_runs as runs
from cvrl_tf import demo
from cvrl_tf.training import vicc_stages

# Clips through the backbone per step, from the presets' batches: CVRL 64
# videos x 2 views; TCLR 16 x (1 sparse + 4 dense clips) x 2
# augmentations; ViCC 16 x 2 views of the trained stream, plus in the
# cross-stream stages 16 x 2 of the frozen stream (no gradient).
CLIPS_PER_STEP = {'cvrl': '128', 'tclr': '160',
                  'vicc': '32 trained (+ 32 frozen in cross-stream stages)'}


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

Why they stay there (collapse), measured on these runs' checkpoints:
`benchmarks/vicc_toy_diagnostics.py`, `vicc_toy_diagnostics.json`.
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
