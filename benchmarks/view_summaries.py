r"""Cost of the TensorBoard images of training views in the train loop.

Two pretraining runs of the CPU preset
(cvrl_tf/configs/experiments/cvrl_pretrain_cpu_r3d18_8x112.yaml: R3D-18,
8 x 112 x 112 clips, batch 8 videos, bfloat16), one with
`task.view_summary_videos` at its default and one with 0, each train
through orbit's controller (`cvrl_tf.train.build_controller`), alternating
one train loop each, round by round; the run that goes first changes every
round, so that a drift in the machine's load favours neither.
`summary_interval` equals `steps_per_loop`, so every timed loop of the
images run also writes the images: the worst case (the preset writes every 50 steps). A loop is timed
from its start to the end of its summaries (wall and process CPU time).
The first loop of each run (tracing) is not timed, nor are checkpoints
written. Reported: each run's median over rounds, the ratio of those
medians, and the median of the rounds' own ratios (images / no_images of
the same round, which shares its load), for wall and CPU time. On a shared
machine, CPU time is the cost the process itself pays; wall time is
meaningful only on an idle machine.

  python -m benchmarks.view_summaries --cache_dir=/tmp/cvrl_bench \
      --output_json=/tmp/view_summaries.json
"""
import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import tensorflow as tf

from benchmarks import input_pipeline
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf import train
from cvrl_tf.configs import EXPERIMENTS_DIR
from cvrl_tf.configs import cvrl as cvrl_cfg
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.training import preemption

PRESET = os.path.join(EXPERIMENTS_DIR, 'cvrl_pretrain_cpu_r3d18_8x112.yaml')
RECORDS = dataclasses.replace(input_pipeline.FULL, num_videos=32,
                              num_frames=32, height=128, width=170,
                              num_shards=4)
SMOKE_RECORDS = input_pipeline.SMOKE
DEFAULT_VIDEOS = cvrl_cfg.CVRLPretrainTask().view_summary_videos
RUNS = {'images': DEFAULT_VIDEOS, 'no_images': 0}


def experiment(pattern: str, view_summary_videos: int, steps_per_loop: int,
               smoke: bool):
  """The preset on the benchmark's records, summaries every loop."""
  override = {
      'task': {'train_data': {'input_path': pattern},
               'view_summary_videos': view_summary_videos},
      'trainer': {'steps_per_loop': steps_per_loop,
                  'summary_interval': steps_per_loop,
                  'checkpoint_interval': 10**6}}
  if smoke:
    override['task']['model'] = {
        'backbone': {'r3d': {'width_multiplier': 0.25}},
        'projection_hidden_dim': 64, 'projection_dim': 32}
    override['task']['train_data'].update(
        global_batch_size=4, feature_shape=[4, 32, 32, 3], min_image_size=36)
    override['runtime'] = {'mixed_precision_dtype': 'float32'}
  params = config_validation.experiment_params('cvrl_pretrain', [PRESET])
  params.override(override, is_strict=True)
  return params


def time_loop(controller, trainer, steps: int) -> Dict[str, float]:
  """Wall and CPU seconds per step of one train loop of `steps` steps."""
  target = int(trainer.global_step.numpy()) + steps
  wall, cpu = time.perf_counter(), time.process_time()
  controller.train(steps=target, checkpoint_at_completion=False)
  return {'wall_s_per_step': (time.perf_counter() - wall) / steps,
          'cpu_s_per_step': (time.process_time() - cpu) / steps}


def round_order(names: List[str], repetition: int) -> List[str]:
  """The runs in the order of round `repetition`: AB, BA, AB, ..."""
  return names if repetition % 2 == 0 else names[::-1]


def run(cache_dir: str, model_root: str, repetitions: int,
        steps_per_loop: int, smoke: bool = False
       ) -> Dict[str, Dict[str, object]]:
  """Per-step times of both runs, one loop each in turn."""
  records = input_pipeline.write_records(
      cache_dir, SMOKE_RECORDS if smoke else RECORDS)
  runs = {}
  for name, videos in RUNS.items():
    params = experiment(records['pattern'], videos, steps_per_loop, smoke)
    _, trainer, controller = train.build_controller(
        params, 'train', os.path.join(model_root, name),
        preemption.StopSignal())
    time_loop(controller, trainer, steps_per_loop)  # Traces the loop.
    runs[name] = (controller, trainer)
  samples = {name: [] for name in runs}
  for repetition in range(repetitions):
    for name in round_order(list(runs), repetition):
      controller, trainer = runs[name]
      sample = time_loop(controller, trainer, steps_per_loop)
      samples[name].append(sample)
      print(f'round {repetition + 1}/{repetitions} {name}: '
            f'{sample["wall_s_per_step"]:.3f} s/step wall, '
            f'{sample["cpu_s_per_step"]:.3f} s/step CPU', flush=True)
  return samples


TIMES = ('wall_s_per_step', 'cpu_s_per_step')


def summarize(samples: Dict[str, List[Dict[str, float]]]
             ) -> Dict[str, Dict[str, float]]:
  """Medians per run and two ratios images / no_images.

  Returns:
    {'images': medians, 'no_images': medians, 'ratio': ratio of the
    medians, 'round_ratio': median of the per-round ratios,
    'round_ratio_min' / 'round_ratio_max': their range}, each keyed by
    `TIMES`.
  """
  summary = {name: {key: statistics.median(s[key] for s in rows)
                    for key in TIMES} for name, rows in samples.items()}
  summary['ratio'] = {key: summary['images'][key] / summary['no_images'][key]
                      for key in TIMES}
  rounds = {key: [images[key] / no_images[key] for images, no_images in zip(
      samples['images'], samples['no_images'])] for key in TIMES}
  summary['round_ratio'] = {key: statistics.median(rounds[key])
                            for key in TIMES}
  summary['round_ratio_min'] = {key: min(rounds[key]) for key in TIMES}
  summary['round_ratio_max'] = {key: max(rounds[key]) for key in TIMES}
  return summary


def format_table(summary: Dict[str, Dict[str, float]]) -> str:
  lines = ['| run | median wall s/step | median CPU s/step |',
           '|---|---:|---:|']
  for name in RUNS:
    lines.append(f'| {name} | {summary[name]["wall_s_per_step"]:.3f} | '
                 f'{summary[name]["cpu_s_per_step"]:.3f} |')
  for label, key in (('images / no_images, ratio of medians', 'ratio'),
                     ('images / no_images, median of rounds', 'round_ratio')):
    lines.append(f'| {label} | {summary[key]["wall_s_per_step"]:.4f} | '
                 f'{summary[key]["cpu_s_per_step"]:.4f} |')
  low, high = summary['round_ratio_min'], summary['round_ratio_max']
  lines.append(
      f'| rounds\' ratios, range | {low["wall_s_per_step"]:.3f}-'
      f'{high["wall_s_per_step"]:.3f} | {low["cpu_s_per_step"]:.3f}-'
      f'{high["cpu_s_per_step"]:.3f} |')
  return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--cache_dir', default='/tmp/cvrl_tf_benchmark')
  parser.add_argument('--model_dir', default=None,
                      help='Where the two runs write; default a temporary '
                      'directory.')
  parser.add_argument('--output_json', default=None)
  parser.add_argument('--repetitions', type=int, default=8)
  parser.add_argument('--steps_per_loop', type=int, default=5)
  parser.add_argument('--smoke', action='store_true',
                      help='A tiny model and clips, for tests.')
  args = parser.parse_args(argv)
  start = time.perf_counter()
  with tempfile.TemporaryDirectory() as scratch:
    samples = run(args.cache_dir, args.model_dir or scratch,
                  args.repetitions, args.steps_per_loop, args.smoke)
  summary = summarize(samples)
  output = {'view_summary_videos': DEFAULT_VIDEOS,
            'steps_per_loop': args.steps_per_loop,
            'records': dataclasses.asdict(
                SMOKE_RECORDS if args.smoke else RECORDS),
            'summary': summary, 'samples': samples,
            'environment': input_pipeline.environment(),
            'wall_time_s': time.perf_counter() - start}
  print(format_table(summary))
  input_pipeline.write_json(args.output_json, output)
  return output


if __name__ == '__main__':
  main()
