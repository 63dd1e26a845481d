r"""Videos/s and CPU-seconds per video of the converter's two engines.

Runs `tools/make_tfrecords.py` as a fresh process on toy videos
(`toy_videos`, H.264, 2-6 s at 25 fps, 256 x 256, stored at the default
256-pixel short side), alternating between

  local   the worker pool, --num_workers=2
  beam    --engine=beam on Beam's DirectRunner, multi_processing, 2 workers

on a small and a larger set of videos. Wall time gives videos/s; the CPU time
of every process of the run (the tool, pool workers, Beam's job service, SDK
workers and their decoding processes), counted by a cgroup v1 `cpuacct`
group where one can be created (root), else by the tool's rusage, gives
CPU-seconds per video. Both include a fixed start-up cost (TensorFlow
import, Beam's job service and workers), so the marginal cost per video is
also given: the difference between the two set sizes divided by the
difference in video count.

  python -m benchmarks.conversion_engines --work_dir=/tmp/cvrl_conv \
      --output_json=docs/results/conversion_engines.json
"""
import argparse
import contextlib
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

import apache_beam
import av

from benchmarks import input_pipeline
from cvrl_tf.data_prep import toy_videos

_CPUACCT_ROOT = '/sys/fs/cgroup/cpuacct'
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOL = os.path.join(_REPO, 'tools', 'make_tfrecords.py')
ENGINE_ARGS = {
    'local': ['--num_workers=2'],
    'beam': ['--engine=beam', '--', '--runner=DirectRunner',
             '--direct_num_workers=2',
             '--direct_running_mode=multi_processing'],
}


@contextlib.contextmanager
def _cpu_accounting_group():
  """Yields a new cgroup (v1 cpuacct) folder, or None where none can be made.

  Beam's DirectRunner does not wait for every process it starts, so the
  rusage of the tool misses their CPU time; a cgroup counts every process
  started in it.
  """
  path = os.path.join(_CPUACCT_ROOT, f'cvrl_conversion_{os.getpid()}')
  try:
    os.mkdir(path)
  except OSError:
    yield None
    return
  try:
    yield path
  finally:
    os.rmdir(path)


def _cpu_seconds_when_done(group: str) -> float:
  """CPU seconds of the group once its processes, which may outlive the
  tool by a moment, have exited."""
  deadline = time.monotonic() + 60
  while time.monotonic() < deadline and _read(group, 'tasks').strip():
    time.sleep(0.5)
  return int(_read(group, 'cpuacct.usage')) / 1e9


def _read(group: str, name: str) -> str:
  with open(os.path.join(group, name)) as f:
    return f.read()


def _run_tool(video_dir: str, output_dir: str, engine: str) -> Dict[str, float]:
  """Runs one conversion; returns its wall and CPU seconds."""
  shutil.rmtree(output_dir, ignore_errors=True)
  args = [sys.executable, _TOOL, f'--video_dir={video_dir}',
          f'--output_dir={output_dir}', '--num_shards=4',
          *ENGINE_ARGS[engine]]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  with _cpu_accounting_group() as group:
    def join_group():
      if group:
        with open(os.path.join(group, 'tasks'), 'w') as f:
          f.write(str(os.getpid()))
    start = time.monotonic()
    with open(os.devnull, 'wb') as devnull:
      process = subprocess.Popen(args, stdout=devnull, stderr=devnull,
                                 env=env, preexec_fn=join_group)
      _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    result = {'wall_seconds': wall,
              'rusage_cpu_seconds': usage.ru_utime + usage.ru_stime}
    if group:
      result['cgroup_cpu_seconds'] = _cpu_seconds_when_done(group)
  if os.waitstatus_to_exitcode(status):
    raise RuntimeError(f'{engine} conversion failed: {args}')
  result['cpu_seconds'] = result.get('cgroup_cpu_seconds',
                                     result['rusage_cpu_seconds'])
  return result


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
      'environment': input_pipeline.environment(),
      'versions': {'apache_beam': apache_beam.__version__,
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
