r"""Table 1 and Table 4 of the CVRL paper at CPU scale, on the toy benchmark.

Every setting trains the toy encoder
(`cvrl_tf/configs/experiments/cvrl_pretrain_toy.yaml`) with the same budget,
for several seeds, then evaluates its frozen backbone with the fast linear
probe and kNN retrieval of `cvrl_tf.evaluation`:

  cvrl             TA + SA + TC: CVRL as proposed
  ta               temporal augmentation only (no spatial augmentation)
  sa               spatial augmentation only (both views from one clip)
  ta_sa            TA + SA with fresh spatial parameters every frame
  random_init      no training
  simclr_inflated  the same contrastive recipe on single frames (T = 1),
                   inflated to 3D by repeating kernels over time
  supervised       the same backbone trained on the toy labels

The toy variant gives every video its own colours and object scale
(`make_toy_videos --vary_appearance`). Without `--train_steps`, the budget
comes from CVRL's learning curve (`benchmarks/learning_curve.py`), trained
and evaluated first. It writes `learning_curve.{json,png}` and
`reproduce.{json,md,png}` to `--output_dir`, the latter rewritten after
every finished run and marked partial until the grid is complete. Runs are
keyed by their definition under `--work_dir` (`reproduce_runs`); the same
command resumes where it stopped:

  python -m benchmarks.reproduce --work_dir=/tmp/cvrl_reproduce \
      --output_dir=docs/results

Each finished run is also recorded in `--record_dir`
(docs/results/reproduce_runs, committed; `run_records`), and a run recorded
there is not trained again, so the grid advances across machines by
committing records. The finished runs of a work_dir written by any version
of this script are recorded, and the results rewritten from the records,
without training, by

  python -m benchmarks.reproduce --import_runs --work_dir=/tmp/cvrl_reproduce \
      --train_steps=450 --output_dir=docs/results
"""
import argparse
import dataclasses
import io
import os
import platform
import statistics
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from benchmarks import learning_curve
from benchmarks import reproduce_runs as runs
from benchmarks import run_keys
from benchmarks import run_records
from benchmarks import verdicts
from cvrl_tf import demo


def summarize(per_seed: Dict[str, List[Dict[str, float]]],
              seeds: Sequence[int]) -> Dict[str, Dict[str, object]]:
  """Mean and standard deviation over seeds of linear top-1 and kNN R@1.

  Args:
    per_seed: {setting: [metrics of each seed]}, with 'top1' and 'recall@1'
      as fractions.
    seeds: the seeds, in the order of the metric lists.

  Returns:
    {setting: {'linear_top1_mean', 'linear_top1_std', 'knn_r1_mean',
    'knn_r1_std', 'seeds', 'per_seed'}}; std is the sample standard
    deviation (0 for one seed).
  """
  summary = {}
  for name, seed_metrics in per_seed.items():
    entry = {}
    for key, metric in (('linear_top1', 'top1'), ('knn_r1', 'recall@1')):
      values = [m[metric] for m in seed_metrics]
      entry[f'{key}_mean'] = statistics.fmean(values)
      entry[f'{key}_std'] = statistics.stdev(values) if len(values) > 1 else 0.0
    entry['seeds'] = list(seeds)
    entry['per_seed'] = seed_metrics
    summary[name] = entry
  return summary


def markdown_table(summary: Dict[str, Dict[str, object]]) -> str:
  """Mean +/- std per setting in percent, next to the paper's number."""
  lines = ['| setting | linear top-1 (%) | kNN R@1 (%) | paper, K400 linear '
           'top-1 (%) |', '| --- | ---: | ---: | ---: |']
  for name, entry in summary.items():
    setting = runs.SETTINGS[name]
    paper = (f'{setting.paper:.1f} ({setting.paper_source})'
             if setting.paper is not None else '-')
    lines.append(
        f"| {setting.label} | {100 * entry['linear_top1_mean']:.1f} ± "
        f"{100 * entry['linear_top1_std']:.1f} | "
        f"{100 * entry['knn_r1_mean']:.1f} ± "
        f"{100 * entry['knn_r1_std']:.1f} | {paper} |")
  return '\n'.join(lines)


def single_frame_table(single_frame: Dict[str, Dict[str, float]]) -> str:
  """Linear top-1 and kNN R@1 on one-frame clips, in percent."""
  lines = ['| encoder | linear top-1, 1 frame (%) | kNN R@1, 1 frame (%) |',
           '| --- | ---: | ---: |']
  lines += [f"| {runs.SETTINGS[name].label} | {100 * m['linear_top1']:.1f} | "
            f"{100 * m['knn_r1']:.1f} |" for name, m in single_frame.items()]
  return '\n'.join(lines)


def bar_chart(summary: Dict[str, Dict[str, object]], path: str) -> None:
  """Grouped bars of linear top-1 and kNN R@1 with std error bars (PNG)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  names = list(summary)
  positions = np.arange(len(names))
  figure, axes = pyplot.subplots(figsize=(9, 4))
  for offset, (key, label) in ((-0.2, ('linear_top1', 'linear top-1')),
                               (0.2, ('knn_r1', 'kNN R@1'))):
    axes.bar(positions + offset,
             [100 * summary[n][f'{key}_mean'] for n in names], width=0.4,
             yerr=[100 * summary[n][f'{key}_std'] for n in names],
             capsize=3, label=label)
  axes.axhline(100 / demo.NUM_TOY_CLASSES, color='gray', linestyle=':',
               label='chance')
  axes.set_xticks(positions)
  axes.set_xticklabels([runs.SETTINGS[n].label for n in names], rotation=20)
  axes.set_ylabel('% (toy test set, mean ± std over seeds)')
  axes.legend()
  figure.tight_layout()
  buffer = io.BytesIO()
  figure.savefig(buffer, format='png', dpi=120)
  pyplot.close(figure)
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(buffer.getvalue())


def versions() -> Dict[str, str]:
  import av  # pylint: disable=g-import-not-at-top
  import official  # pylint: disable=g-import-not-at-top,unused-import
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  return {'python': platform.python_version(), 'tensorflow': tf.__version__,
          'tf-models-official': metadata.version('tf-models-official'),
          'numpy': np.__version__, 'av': av.__version__}


def grid_order(settings: Sequence[str], seeds: Sequence[int]):
  """(setting, seed) pairs, seed by seed: every finished seed compares all
  settings, so a partial grid is balanced."""
  return [(name, seed) for seed in seeds for name in settings]


def write_outputs(result: Dict[str, object], output_dir: str) -> None:
  runs.write_json(os.path.join(output_dir, 'reproduce.json'), result)
  with tf.io.gfile.GFile(os.path.join(output_dir, 'reproduce.md'), 'w') as f:
    f.write(report(result))
  if result['settings']:
    bar_chart(result['settings'], os.path.join(output_dir, 'reproduce.png'))


def grid_result(per_seed: Dict[str, Dict[int, Dict[str, float]]],
                budget: runs.Budget, settings: Sequence[str],
                curve: Optional[Dict[str, object]],
                single_frame: Dict[str, Dict[str, float]],
                command: str) -> Dict[str, object]:
  """reproduce.json from the finished runs ({setting: {seed: metrics}})."""
  finished = {name: per_seed[name] for name in settings if per_seed.get(name)}
  summary = {}
  for name, by_seed in finished.items():
    seeds = sorted(by_seed)
    summary.update(summarize({name: [by_seed[s] for s in seeds]}, seeds))
  total = len(settings) * len(budget.seeds)
  done = sum(len(v) for v in finished.values())
  return {
      'settings': summary,
      'complete': done == total and len(single_frame) == len(settings),
      'finished_runs': done, 'total_runs': total,
      'verdicts': verdicts.judge(
          {n: [m['top1'] for m in by_seed.values()]
           for n, by_seed in finished.items()}, len(budget.seeds)),
      'verdict_rule': verdicts.RULE,
      'single_frame': {
          name: {'linear_top1': m['top1'], 'knn_r1': m['recall@1'],
                 'seed': budget.seeds[0]}
          for name, m in single_frame.items()},
      'command': command,
      # Summed over the finished runs (training and evaluation, including
      # interrupted attempts); the learning curve's own time is in
      # learning_curve.json.
      'wall_seconds': sum(m['wall_seconds'] for v in finished.values()
                          for m in v.values()),
      'cpu_seconds': sum(m['cpu_seconds'] for v in finished.values()
                         for m in v.values()),
      'budget': dataclasses.asdict(budget),
      'toy_variant': runs.toy_data_definition(budget),
      'learning_curve': None if curve is None else {
          k: curve[k] for k in ('chosen_train_steps', 'reached',
                                'target_linear_top1', 'rule')},
      'versions': versions(),
  }


def run(work_dir: str, output_dir: str, budget: runs.Budget,
        settings: Sequence[str] = runs.SETTING_NAMES, command: str = '',
        curve_only: bool = False,
        record_dir: Optional[str] = run_records.RECORD_DIR,
        train: bool = True) -> Dict[str, object]:
  """Runs (or resumes) every setting and seed, writing results as it goes.

  With `budget.train_steps` 0, the learning curve runs first and sets it.
  A run recorded in `record_dir` is not trained again; a run finished here
  is recorded there (`run_records`). Without `train`, only recorded runs
  count (the results are partial until every run is recorded).
  Returns the last reproduce.json written (the learning curve's results
  with `curve_only`).
  """
  curve = None
  if not budget.train_steps:
    paths = runs.prepare_data(work_dir, budget)
    curve = learning_curve.run_curve(work_dir, paths, budget)
    curve.update(command=command, versions=versions())
    runs.write_json(os.path.join(output_dir, 'learning_curve.json'), curve)
    learning_curve.plot(curve, os.path.join(output_dir, 'learning_curve.png'))
    budget = dataclasses.replace(budget,
                                 train_steps=curve['chosen_train_steps'])
    if curve_only:
      return curve
  per_seed = {name: {} for name in settings}
  single_frame = {}
  for name, seed in grid_order(settings, budget.seeds):
    metrics = run_records.finished_metrics(budget, name, seed, work_dir,
                                           record_dir, train)
    if metrics is None:
      continue
    per_seed[name][seed] = metrics
    # Measured while this machine holds the encoder, and recorded with it.
    if seed == budget.seeds[0]:
      probe = run_records.single_frame_metrics(budget, name, seed, work_dir,
                                               record_dir, train)
      if probe is not None:
        single_frame[name] = probe
    if train:
      write_outputs(grid_result(per_seed, budget, settings, curve,
                                single_frame, command), output_dir)
  result = grid_result(per_seed, budget, settings, curve, single_frame,
                       command)
  write_outputs(result, output_dir)
  return result


def verdict_table(judged: List[Dict[str, object]]) -> str:
  """One row per comparison: effect in pooled std, Welch p, verdict."""
  lines = ['| claim | verdict | comparison (paper: A > B) | A - B (points) '
           '| effect (pooled std) | p (one-sided Welch, A > B) |',
           '| --- | --- | --- | ---: | ---: | ---: |']
  for claim in judged:
    if not claim['comparisons']:
      lines.append(f"| {claim['claim']} | {claim['verdict']} | | | | |")
    for index, c in enumerate(claim['comparisons']):
      lines.append(
          '| ' + (f"{claim['claim']} | **{claim['verdict']}**" if index == 0
                  else ' | ') +
          f" | {runs.SETTINGS[c['a']].label} > {runs.SETTINGS[c['b']].label}"
          f" ({c['verdict']}) | {100 * c['difference']:+.1f} | "
          f"{c['effect_size']:+.1f} | {c['p_greater']:.3f} |")
  return '\n'.join(lines)


def report(result: Dict[str, object]) -> str:
  """The Markdown results page: status, table, verdicts, rule, budget."""
  budget = result['budget']
  toy = result['toy_variant']
  curve = result['learning_curve']
  status = ('' if result['complete'] else
            f"**PARTIAL: {result['finished_runs']} of "
            f"{result['total_runs']} runs finished. The grid is still "
            'running; these numbers are not the result.**\n\n')
  lines = [
      '# CVRL paper claims at CPU scale (toy benchmark)', '',
      status + markdown_table(result['settings']), '',
      'Mean ± sample std over the finished seeds of each setting (of '
      f"{list(budget['seeds'])}); linear top-1 of the fast linear probe and "
      'kNN Recall@1 on the toy test set '
      f"({budget['test_per_class'] * demo.NUM_TOY_CLASSES} videos, "
      f'{demo.NUM_TOY_CLASSES} classes, chance '
      f'{100 // demo.NUM_TOY_CLASSES}%). The paper column is Kinetics-400 '
      'linear top-1, for the direction of each comparison only.', '',
      '## Verdicts', '', verdict_table(result['verdicts']), '',
      '## Verdict rule', '', result['verdict_rule'], '',
      '## Budget and data', '',
      f"Budget: {budget['train_steps']} training steps per setting, "
      f"{budget['train_per_class']} training and {budget['test_per_class']} "
      'test videos per class.' + (
          '' if curve is None else
          f" Chosen from the learning curve (learning_curve.json): "
          f"{curve['rule']}; "
          + ('reached' if curve['reached'] else 'not reached') + '.'), '',
      'Toy variant: ' + ', '.join(f'{k} {v}' for k, v in toy.items()) + (
          ' (every video its own colours and object scale).'
          if toy['vary'] else ' (the demo\'s toy).'), '',
      f"Command: `{result['command']}`", '',
      f"Time: {result['wall_seconds'] / 60:.1f} wall-min and "
      f"{result['cpu_seconds'] / 60:.1f} CPU-min, summed over the finished "
      'runs (training and evaluation), on 2 shared cores (Intel Xeon with '
      'AVX512-BF16) at the lowest priority. Versions: '
      + ', '.join(f'{k} {v}' for k, v in result['versions'].items()) + '.',
      '']
  if result['single_frame']:
    lines += [
        '## One frame per clip', '',
        single_frame_table(result['single_frame']), '',
        f"The encoders above (seed {budget['seeds'][0]}) on clips of one "
        'frame, 4 per video: what the appearance of a single frame tells '
        'each of them about the motion class.', '']
  return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--work_dir', default='/tmp/cvrl_reproduce',
                      help='Videos, records, checkpoints; reruns resume.')
  parser.add_argument('--output_dir', default='docs/results')
  parser.add_argument('--quick', action='store_true',
                      help='A tiny smoke run (one seed, a few steps).')
  parser.add_argument('--settings', default=','.join(runs.SETTING_NAMES))
  parser.add_argument('--train_steps', type=int, default=0,
                      help='Steps of every setting; 0: from the learning '
                      'curve, which then runs first.')
  parser.add_argument('--curve_only', action='store_true',
                      help='Stop after the learning curve.')
  parser.add_argument('--record_dir', default=run_records.RECORD_DIR,
                      help='Records of finished runs, committed: a run '
                      'recorded there is not trained again.')
  parser.add_argument('--import_runs', action='store_true',
                      help='Record every finished run under --work_dir in '
                      '--record_dir and train nothing; with --train_steps '
                      'or --quick, also write the results of the recorded '
                      'runs.')
  parser.add_argument('--code_commit', default=None,
                      help='With --import_runs: the commit of the code that '
                      'trained runs finished without a provenance file.')
  args = parser.parse_args(argv)
  budget = (runs.QUICK if args.quick else
            runs.Budget(train_steps=args.train_steps))
  command = 'python -m benchmarks.reproduce ' + ' '.join(
      argv if argv is not None else sys.argv[1:])
  try:
    if args.import_runs:
      counts = run_records.import_runs(args.work_dir, args.record_dir,
                                       args.code_commit)
      print('Imported: ' + ', '.join(f'{n} {k}' for k, n in counts.items())
            + f' (records in {args.record_dir}).')
      if not budget.train_steps:
        return
    result = run(args.work_dir, args.output_dir, budget,
                 args.settings.split(','), command=command,
                 curve_only=args.curve_only, record_dir=args.record_dir,
                 train=not args.import_runs)
  except run_keys.DefinitionMismatchError as e:
    sys.exit(f'error: {e}')
  except runs.TrainingInterrupted as e:
    sys.exit(f'stopped: {e} Run the same command to resume.')
  if args.curve_only:
    print(f"Budget: {result['chosen_train_steps']} steps; curve in "
          f'{args.output_dir}.')
    return
  print(markdown_table(result['settings']))
  print(f'Results in {args.output_dir}.')


if __name__ == '__main__':
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  main()
