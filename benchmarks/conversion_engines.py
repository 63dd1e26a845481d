r"""Videos/s and CPU-seconds per video of the converter's two engines.

Runs `tools/make_tfrecords.py` as a fresh process on toy videos
(`toy_videos`, H.264, 2-6 s at 25 fps, 256 x 256, stored at the default
256-pixel short side), alternating between

  local   the worker pool, --num_workers=2
  beam    --engine=beam on Beam's DirectRunner, multi_processing, 2 workers

on a small and a larger set of videos. Wall time gives videos/s; the CPU time
of the process tree (user + system of the tool and every process it waited
for: pool workers, Beam's SDK workers and their decoding processes) gives
CPU-seconds per video. Both include a fixed start-up cost (TensorFlow
import, Beam's job service and workers), so the marginal cost per video is
also given: the difference between the two set sizes divided by the
difference in video count.

  python -m benchmarks.conversion_engines --work_dir=/tmp/cvrl_conv \
      --output_json=docs/results/conversion_engines.json
"""
import argparse
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

import apache_beam
import av
import tensorflow as tf

from cvrl_tf.data_prep import toy_videos

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOL = os.path.join(_REPO, 'tools', 'make_tfrecords.py')
ENGINE_ARGS = {
    'local': ['--num_workers=2'],
    'beam': ['--engine=beam', '--', '--runner=DirectRunner',
             '--direct_num_workers=2',
             '--direct_running_mode=multi_processing'],
}


def _run_tool(video_dir: str, output_dir: str, engine: str) -> Dict[str, float]:
  """Runs one conversion; returns its wall and CPU seconds."""
  shutil.rmtree(output_dir, ignore_errors=True)
  args = [sys.executable, _TOOL, f'--video_dir={video_dir}',
          f'--output_dir={output_dir}', '--num_shards=4',
          *ENGINE_ARGS[engine]]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  start = time.monotonic()
  with open(os.devnull, 'wb') as devnull:
    process = subprocess.Popen(args, stdout=devnull, stderr=devnull, env=env)
    _, status, usage = os.wait4(process.pid, 0)
  wall = time.monotonic() - start
  if os.waitstatus_to_exitcode(status):
    raise RuntimeError(f'{engine} conversion failed: {args}')
  return {'wall_seconds': wall, 'cpu_seconds': usage.ru_utime + usage.ru_stime}


def _video_sets(work_dir: str, sizes: List[int]) -> Dict[int, str]:
  """Writes (or reuses) one toy dataset per size (videos per class).

  Returns:
    {number of videos: folder of the videos}.
  """
  folders = {}
  for per_class in sizes:
    root = os.path.join(work_dir, f'videos_{per_class}')
    done = os.path.join(root, 'done')
    if not os.path.exists(done):
      toy_videos.make_toy_dataset(root, train_per_class=per_class,
                                  test_per_class=0, num_workers=2,
                                  size=256, fps=25)
      open(done, 'w').close()
    video_dir = os.path.join(root, 'train')
    count = len(glob.glob(os.path.join(video_dir, '*', '*.mp4')))
    folders[count] = video_dir
  return folders


def measure(work_dir: str, sizes: List[int], repeats: int,
            on_run: Callable[[dict], None]) -> dict:
  """Times both engines on every set, alternating; returns the summary.

  `on_run` gets the runs so far after each one.
  """
  folders = _video_sets(work_dir, sizes)
  runs = {engine: {count: [] for count in folders} for engine in ENGINE_ARGS}
  load = [os.getloadavg()[0]]
  for _ in range(repeats):
    for count, folder in folders.items():
      for engine in ENGINE_ARGS:
        runs[engine][count].append(_run_tool(
            folder, os.path.join(work_dir, f'out_{engine}'), engine))
        load.append(os.getloadavg()[0])
        on_run({'partial_runs': runs, 'load_average_1min': load})
  small, large = min(folders), max(folders)
  summary = {}
  for engine, by_count in runs.items():
    median = {count: {key: statistics.median(run[key] for run in by_run)
                      for key in ('wall_seconds', 'cpu_seconds')}
              for count, by_run in by_count.items()}
    extra = large - small
    summary[engine] = {
        'runs': {str(count): by_run for count, by_run in by_count.items()},
        'videos_per_second': large / median[large]['wall_seconds'],
        'cpu_seconds_per_video': median[large]['cpu_seconds'] / large,
        'marginal_videos_per_second': extra / (
            median[large]['wall_seconds'] - median[small]['wall_seconds']),
        'marginal_cpu_seconds_per_video': (
            median[large]['cpu_seconds'] - median[small]['cpu_seconds']) /
                                          extra,
    }
  return {
      'engines': summary,
      'video_counts': sorted(folders),
      'repeats': repeats,
      'load_average_1min': load,
      'cpu': platform.processor() or platform.machine(),
      'cpu_count': os.cpu_count(),
      'python': platform.python_version(),
      'versions': {'tensorflow': tf.__version__,
                   'apache_beam': apache_beam.__version__,
                   'av': av.__version__},
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--work_dir', required=True)
  parser.add_argument('--output_json', required=True)
  parser.add_argument('--videos_per_class', type=int, nargs=2,
                      default=[1, 4])
  parser.add_argument('--repeats', type=int, default=1)
  args = parser.parse_args()
  def save(result):
    with open(args.output_json, 'w') as f:
      json.dump(result, f, indent=1, sort_keys=True)

  result = measure(args.work_dir, args.videos_per_class, args.repeats, save)
  save(result)
  print(json.dumps({engine: {key: value for key, value in summary.items()
                             if key != 'runs'}
                    for engine, summary in result['engines'].items()},
                   indent=1))


if __name__ == '__main__':
  main()
