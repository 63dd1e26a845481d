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

It writes `reproduce.json`, `reproduce.md` and `reproduce.png` to
`--output_dir`:

  python -m benchmarks.reproduce --work_dir=/tmp/cvrl_reproduce \
      --output_dir=docs/results
"""
import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from cvrl_tf import demo
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf import train
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.evaluation import protocols
from cvrl_tf.modeling import inflation

SETTING_NAMES = ('cvrl', 'ta', 'sa', 'ta_sa', 'random_init',
                 'simclr_inflated', 'supervised')


@dataclasses.dataclass(frozen=True)
class Setting:
  """One row of the results: how its encoder is trained.

  Attributes:
    name: key in reproduce.json.
    label: what the Markdown table and chart call it.
    paper: the paper's Kinetics-400 linear top-1 (%), or None.
    paper_source: which table of the paper `paper` comes from.
    kind: 'contrastive', 'frames' (contrastive on T = 1, then inflated),
      'supervised' or 'random'.
    augmentation: override of `task.train_data.augmentation`.
  """
  name: str
  label: str
  paper: Optional[float]
  paper_source: str
  kind: str
  augmentation: Dict[str, Dict[str, object]] = dataclasses.field(
      default_factory=dict)


SETTINGS = {s.name: s for s in (
    Setting('cvrl', 'CVRL (TA+SA+TC)', 58.8, 'Table 4; Table 1: 66.1',
            'contrastive'),
    Setting('ta', 'TA', 24.8, 'Table 4', 'contrastive',
            {'spatial': {'enabled': False}}),
    Setting('sa', 'SA', 40.4, 'Table 4', 'contrastive',
            {'temporal': {'enabled': False}}),
    Setting('ta_sa', 'TA+SA', 49.2, 'Table 4', 'contrastive',
            {'spatial': {'temporally_consistent': False}}),
    Setting('random_init', 'random init', None, '', 'random'),
    Setting('simclr_inflated', 'SimCLR inflated', 46.9, 'Table 1', 'frames'),
    Setting('supervised', 'supervised', 75.8, 'Table 1', 'supervised'),
)}


@dataclasses.dataclass(frozen=True)
class Budget:
  """The data and training budget shared by all settings.

  Six settings train, three seeds each: 70 steps of the toy preset (its
  schedule shortened from 1500 steps: 5 warm-up steps, cosine decay over
  the 70; 9 epochs of the 500 training videos). At ~1.6 s a step on two
  idle cores, plus evaluation, that keeps the whole run near 45 minutes.
  """
  train_per_class: int = 50
  test_per_class: int = 20
  train_steps: int = 70
  seeds: Sequence[int] = (0, 1, 2)


FULL = Budget()
QUICK = Budget(train_per_class=2, test_per_class=1, train_steps=2,
               seeds=(0,))


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
  for name, runs in per_seed.items():
    entry = {}
    for key, metric in (('linear_top1', 'top1'), ('knn_r1', 'recall@1')):
      values = [run[metric] for run in runs]
      entry[f'{key}_mean'] = statistics.fmean(values)
      entry[f'{key}_std'] = statistics.stdev(values) if len(values) > 1 else 0.0
    entry['seeds'] = list(seeds)
    entry['per_seed'] = runs
    summary[name] = entry
  return summary


def markdown_table(summary: Dict[str, Dict[str, object]]) -> str:
  """Mean +/- std per setting in percent, next to the paper's number."""
  lines = ['| setting | linear top-1 (%) | kNN R@1 (%) | paper, K400 linear '
           'top-1 (%) |', '| --- | ---: | ---: | ---: |']
  for name, entry in summary.items():
    setting = SETTINGS[name]
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
  lines += [f"| {SETTINGS[name].label} | {100 * m['linear_top1']:.1f} | "
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
  axes.set_xticklabels([SETTINGS[n].label for n in names], rotation=20)
  axes.set_ylabel('% (toy test set, mean ± std over seeds)')
  axes.legend()
  figure.tight_layout()
  buffer = __import__('io').BytesIO()
  figure.savefig(buffer, format='png', dpi=120)
  pyplot.close(figure)
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(buffer.getvalue())


def contrastive_params(paths: demo.DemoPaths, setting: Setting,
                       budget: Budget, seed: int):
  """The toy pretraining experiment with the setting's augmentation."""
  params = demo.pretrain_params(paths, budget.train_steps)
  override = {'train_data': {'seed': seed,
                             'augmentation': setting.augmentation}}
  if setting.kind == 'frames':
    frame_shape = [1] + list(params.task.train_data.feature_shape[1:])
    override['train_data']['feature_shape'] = frame_shape
    override['validation_data'] = {'feature_shape': frame_shape}
  params.override({'task': override}, is_strict=True)
  return params


def supervised_params(paths: demo.DemoPaths, budget: Budget, seed: int):
  """The toy backbone trained from scratch on the toy labels.

  Same clips, budget and batch as pretraining; random crop and flip only,
  momentum SGD as in fine-tuning.
  """
  toy = demo.pretrain_params(paths, budget.train_steps)
  clips = {'feature_shape': toy.task.train_data.feature_shape,
           'temporal_stride': toy.task.train_data.temporal_stride,
           'min_image_size': toy.task.train_data.min_image_size,
           'num_classes': demo.NUM_TOY_CLASSES}
  params = config_validation.experiment_params('cvrl_finetune')
  params.override({
      'runtime': toy.runtime.as_dict(),
      'task': {
          'model': {'backbone': toy.task.model.backbone.as_dict(),
                    'norm_activation': toy.task.model.norm_activation.as_dict(),
                    'dropout_rate': 0.0},
          'train_data': dict(
              clips, input_path=paths.record_pattern('train'), seed=seed,
              global_batch_size=toy.task.train_data.global_batch_size),
          'validation_data': dict(clips, input_path=paths.record_pattern(
              'test'), num_test_clips=1, num_test_crops=1),
      },
      'trainer': {
          'train_steps': budget.train_steps,
          'steps_per_loop': toy.trainer.steps_per_loop,
          'summary_interval': toy.trainer.summary_interval,
          'checkpoint_interval': toy.trainer.checkpoint_interval,
          'optimizer_config': {
              'learning_rate': {'cosine': {'initial_learning_rate': 0.1,
                                           'decay_steps': budget.train_steps}},
              'warmup': {'linear': {
                  'warmup_steps': toy.trainer.optimizer_config.warmup
                                  .linear.warmup_steps}}}},
  }, is_strict=True)
  params.validate()
  return params


def train_encoder(paths: demo.DemoPaths, setting: Setting, budget: Budget,
                  seed: int, run_dir: str) -> tuple:
  """Trains the setting's encoder; returns (params, checkpoint or '').

  `params` describes the encoder to evaluate (clips of the toy preset); a
  finished run directory is reused, so an interrupted run resumes.
  """
  evaluation_params = demo.pretrain_params(paths, budget.train_steps)
  if setting.kind == 'random':
    return evaluation_params, ''
  if setting.kind == 'supervised':
    params = supervised_params(paths, budget, seed)
  else:
    params = contrastive_params(paths, setting, budget, seed)
  train_dir = os.path.join(run_dir, 'train')
  tf.keras.utils.set_random_seed(seed)
  train.run(params, 'train', train_dir)
  encoder_dir = encoder_checkpoint(setting, run_dir)
  if setting.kind == 'frames' and not tf.io.gfile.exists(
      os.path.join(encoder_dir, 'checkpoint')):
    inflation.inflate_checkpoint(evaluation_params.task.model, train_dir,
                                 encoder_dir, source='single_frame')
  return evaluation_params, encoder_dir


def encoder_checkpoint(setting: Setting, run_dir: str) -> str:
  """Where the encoder a run evaluates is saved ('' for random weights)."""
  if setting.kind == 'random':
    return ''
  return os.path.join(run_dir,
                      'inflated' if setting.kind == 'frames' else 'train')


def evaluate_setting(paths: demo.DemoPaths, setting: Setting, budget: Budget,
                     seed: int, work_dir: str) -> Dict[str, float]:
  """Linear top-1 and kNN metrics of one setting and seed (cached)."""
  run_dir = os.path.join(work_dir, 'runs', f'{setting.name}-seed{seed}')
  metrics_path = os.path.join(run_dir, 'metrics.json')
  if tf.io.gfile.exists(metrics_path):
    with tf.io.gfile.GFile(metrics_path) as f:
      return json.load(f)
  params, checkpoint = train_encoder(paths, setting, budget, seed, run_dir)
  encode = demo.build_encoder(params, checkpoint, seed=seed)
  metrics = protocols.evaluate_encoder(
      encode, demo.eval_data(params, paths.record_pattern('train')),
      demo.eval_data(params, paths.record_pattern('test')),
      demo.NUM_TOY_CLASSES, seed=seed)
  tf.io.gfile.makedirs(run_dir)
  with tf.io.gfile.GFile(metrics_path, 'w') as f:
    json.dump(metrics, f, indent=2)
  return metrics


def single_frame_probe(paths: demo.DemoPaths, setting: Setting,
                       budget: Budget, seed: int,
                       work_dir: str) -> Dict[str, float]:
  """Linear top-1 and kNN metrics of a run's encoder on one-frame clips.

  A frame shows where the object is and its size and orientation, not how
  it moves: this measures how much of the class one frame's appearance
  gives away to each encoder. The run must have finished (`evaluate_setting`).
  """
  run_dir = os.path.join(work_dir, 'runs', f'{setting.name}-seed{seed}')
  metrics_path = os.path.join(run_dir, 'single_frame_metrics.json')
  if tf.io.gfile.exists(metrics_path):
    with tf.io.gfile.GFile(metrics_path) as f:
      return json.load(f)
  params = demo.pretrain_params(paths, budget.train_steps)
  params.task.train_data.feature_shape = (
      [1] + list(params.task.train_data.feature_shape[1:]))
  encode = demo.build_encoder(params, encoder_checkpoint(setting, run_dir),
                              seed=seed)
  metrics = protocols.evaluate_encoder(
      encode, demo.eval_data(params, paths.record_pattern('train')),
      demo.eval_data(params, paths.record_pattern('test')),
      demo.NUM_TOY_CLASSES, seed=seed)
  with tf.io.gfile.GFile(metrics_path, 'w') as f:
    json.dump(metrics, f, indent=2)
  return metrics


def versions() -> Dict[str, str]:
  import av  # pylint: disable=g-import-not-at-top
  import official  # pylint: disable=g-import-not-at-top,unused-import
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  return {'python': platform.python_version(), 'tensorflow': tf.__version__,
          'tf-models-official': metadata.version('tf-models-official'),
          'numpy': np.__version__, 'av': av.__version__}


def run(work_dir: str, output_dir: str, budget: Budget,
        settings: Sequence[str] = SETTING_NAMES,
        command: str = '') -> Dict[str, object]:
  """Runs every setting and seed, then writes the JSON, table and chart."""
  start, start_cpu = time.monotonic(), time.process_time()
  paths = demo.DemoPaths(work_dir)
  demo.make_videos(paths, budget.train_per_class, budget.test_per_class,
                   seed=0)
  demo.make_records(paths)
  per_seed = {name: [evaluate_setting(paths, SETTINGS[name], budget, seed,
                                      work_dir) for seed in budget.seeds]
              for name in settings}
  single_frame = {
      name: single_frame_probe(paths, SETTINGS[name], budget, budget.seeds[0],
                               work_dir) for name in settings}
  result = {
      'settings': summarize(per_seed, budget.seeds),
      'single_frame': {
          name: {'linear_top1': m['top1'], 'knn_r1': m['recall@1'],
                 'seed': budget.seeds[0]}
          for name, m in single_frame.items()},
      'command': command,
      'wall_seconds': time.monotonic() - start,
      'cpu_seconds': time.process_time() - start_cpu,
      'budget': dataclasses.asdict(budget),
      'versions': versions(),
  }
  tf.io.gfile.makedirs(output_dir)
  with tf.io.gfile.GFile(os.path.join(output_dir, 'reproduce.json'),
                         'w') as f:
    json.dump(result, f, indent=2)
  with tf.io.gfile.GFile(os.path.join(output_dir, 'reproduce.md'), 'w') as f:
    f.write(report(result))
  bar_chart(result['settings'], os.path.join(output_dir, 'reproduce.png'))
  return result


def report(result: Dict[str, object]) -> str:
  """The Markdown results page: table, command, budget, versions, time."""
  budget = result['budget']
  return '\n'.join([
      '# CVRL paper claims at CPU scale (toy benchmark)', '',
      markdown_table(result['settings']), '',
      f"Mean ± sample std over seeds {list(budget['seeds'])}; linear top-1 "
      'of the fast linear probe and kNN Recall@1 on the toy test set '
      f"({budget['test_per_class'] * demo.NUM_TOY_CLASSES} videos, "
      f'{demo.NUM_TOY_CLASSES} classes, chance '
      f'{100 // demo.NUM_TOY_CLASSES}%). The paper column is Kinetics-400 '
      'linear top-1, for the direction of each comparison only.', '',
      f"Budget: {budget['train_steps']} training steps per setting, "
      f"{budget['train_per_class']} training and {budget['test_per_class']} "
      'test videos per class.', '',
      f"Command: `{result['command']}`", '',
      f"Wall time: {result['wall_seconds'] / 60:.1f} min "
      f"({result['cpu_seconds'] / 60:.1f} CPU-min in this process). "
      'Versions: '
      + ', '.join(f'{k} {v}' for k, v in result['versions'].items()) + '.',
      '', '## One frame per clip', '',
      single_frame_table(result['single_frame']), '',
      f"The encoders above (seed {budget['seeds'][0]}) on clips of one "
      'frame, 4 per video: what the appearance of a single frame tells each '
      'of them about the motion class.', ''])


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--work_dir', default='/tmp/cvrl_reproduce',
                      help='Videos, records, checkpoints; reruns resume.')
  parser.add_argument('--output_dir', default='docs/results')
  parser.add_argument('--quick', action='store_true',
                      help='A tiny smoke run (one seed, a few steps).')
  parser.add_argument('--settings', default=','.join(SETTING_NAMES))
  args = parser.parse_args(argv)
  budget = QUICK if args.quick else FULL
  result = run(args.work_dir, args.output_dir, budget,
               args.settings.split(','),
               command='python -m benchmarks.reproduce ' + ' '.join(
                   argv if argv is not None else sys.argv[1:]))
  print(markdown_table(result['settings']))
  print(f"Wall time {result['wall_seconds']:.0f} s; results in "
        f'{args.output_dir}.')


if __name__ == '__main__':
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  main()
