r"""End-to-end CPU pretraining step time: CVRL task against Model Garden's.

Both tasks train the same network, CVRL's R3D-50, on the records of
`benchmarks.input_pipeline` (8 x 112 x 112 clips, stride 2, batch 4 videos
= 8 clips), each with its own input pipeline, model code, loss and
`train_step`, alternating between them round by round. Model Garden's task
gets the backbone of its own CVRL experiment
(`official/projects/video_ssl/configs/experiments/cvrl_pretrain_k600_200ep.yaml`);
`model_garden_default` keeps the default ResNet3D-50 of
`video_ssl_pretrain_kinetics400` (I3D-style temporal kernels, self-gating,
temporal stem pooling), a different and cheaper network. A step is timed
from the previous step's end, so input waiting is included, on the wall
clock and in process CPU time (all threads: the step's and the input
pipeline's), the steadier figure on a shared machine. The bfloat16
figure of the CVRL task comes from a subprocess, as the Keras dtype policy
is global.

  python -m benchmarks.pretrain_step --cache_dir=/tmp/cvrl_bench \
      --output_json=/tmp/pretrain_step.json
"""
import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
import tf_keras

from official.core import base_task
from official.core import exp_factory
from official.projects.video_ssl.tasks import pretrain as mg_pretrain

from benchmarks import input_pipeline
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.tasks import pretrain

TASKS = ('ours', 'model_garden')
OPTIONAL_TASKS = ('ours_device', 'model_garden_default')
SETUP = dataclasses.replace(input_pipeline.FULL, num_steps=8, crop_size=112,
                            batch_size=4)


def ours_experiment(pattern: str, setup: input_pipeline.Setup):
  exp = exp_factory.get_exp_config('cvrl_pretrain')
  shape = (setup.num_steps, setup.crop_size, setup.crop_size, 3)
  for data in (exp.task.train_data, exp.task.validation_data):
    data.input_path = pattern
    data.feature_shape = shape
    data.temporal_stride = setup.stride
    data.global_batch_size = setup.batch_size
  exp.task.train_data.num_classes = input_pipeline.NUM_CLASSES
  return exp


def model_garden_experiment(pattern: str, setup: input_pipeline.Setup,
                            cvrl_backbone: bool = True):
  """Model Garden's video_ssl pretraining, with its CVRL R3D-50 by default."""
  exp = input_pipeline.model_garden_experiment(pattern, setup)
  exp.task.validation_data.feature_shape = exp.task.train_data.feature_shape
  if cvrl_backbone:
    exp.task.model.backbone.resnet_3d.override(CVRL_RESNET_3D, is_strict=True)
  return exp


# The backbone of Model Garden's cvrl_pretrain_k600_200ep.yaml: the slow
# pathway with a 5-frame, stride-2 stem convolution and no temporal pooling.
CVRL_RESNET_3D = {
    'model_id': 50,
    'block_specs': tuple(
        {'temporal_kernel_sizes': (kernel,) * blocks, 'temporal_strides': 1,
         'use_self_gating': False}
        for kernel, blocks in ((1, 3), (1, 4), (3, 6), (3, 3))),
    'stem_conv_temporal_kernel_size': 5,
    'stem_conv_temporal_stride': 2,
    'stem_pool_temporal_stride': 1,
}


def build_step(name: str, pattern: str, setup: input_pipeline.Setup,
               dtype: str):
  """Returns (dataset, step function) of one task."""
  if name in ('ours', 'ours_device'):
    exp = ours_experiment(pattern, setup)
    exp.task.train_data.augmentation.device_augmentation = (
        name == 'ours_device')
    task = pretrain.CVRLPretrainTask(exp.task)
  else:
    exp = model_garden_experiment(pattern, setup,
                                  cvrl_backbone=name == 'model_garden')
    task = mg_pretrain.VideoSSLPretrainTask(exp.task)
  exp.runtime.mixed_precision_dtype = dtype
  model = task.build_model()
  optimizer = base_task.Task.create_optimizer(exp.trainer.optimizer_config,
                                              exp.runtime)
  metrics = task.build_metrics(training=True)
  step = tf.function(
      lambda inputs: task.train_step(inputs, model, optimizer, metrics))
  return task.build_inputs(exp.task.train_data), step


def time_steps(dataset: tf.data.Dataset, step, warmup: int,
               timed: int) -> Tuple[List[float], List[float]]:
  """(wall, process CPU) seconds per step, end to end, of `timed` steps.

  Timed after `warmup` steps.
  """
  iterator = iter(dataset)
  for _ in range(warmup):
    tf.nest.map_structure(lambda x: x.numpy(), step(next(iterator)))
  times, cpu_times = [], []
  for _ in range(timed):
    start, cpu_start = time.perf_counter(), time.process_time()
    tf.nest.map_structure(lambda x: x.numpy(), step(next(iterator)))
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
  del iterator
  return times, cpu_times


def run(cache_dir: str, names: Sequence[str], dtype: str, repetitions: int,
        timed_steps: int) -> Dict[str, Dict[str, object]]:
  """Median step time per task, alternating tasks round by round."""
  if dtype == 'bfloat16':
    tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  records = input_pipeline.write_records(cache_dir, SETUP)
  steps = {name: build_step(name, records['pattern'], SETUP, dtype)
           for name in names}
  samples = {name: ([], []) for name in names}
  for repetition in range(repetitions):
    for name, (dataset, step) in steps.items():
      times, cpu_times = time_steps(dataset, step, warmup=1,
                                    timed=timed_steps)
      samples[name][0].extend(times)
      samples[name][1].extend(cpu_times)
      print(f'round {repetition + 1}/{repetitions} {name} {dtype}: '
            + ' '.join(f'{t:.2f}' for t in times) + ' s/step, CPU '
            + ' '.join(f'{t:.2f}' for t in cpu_times) + ' s/step',
            flush=True)
  return {
      f'{name}_{dtype}': {
          'median_step_s': statistics.median(times),
          'videos_per_s': SETUP.batch_size / statistics.median(times),
          'median_cpu_s': statistics.median(cpu_times),
          'step_s': times,
          'cpu_s': cpu_times,
      } for name, (times, cpu_times) in samples.items()
  }


def run_in_subprocess(cache_dir: str, names: Sequence[str], dtype: str,
                      repetitions: int, timed_steps: int
                     ) -> Dict[str, Dict[str, object]]:
  with tempfile.NamedTemporaryFile(suffix='.json') as output:
    subprocess.run(
        [sys.executable, '-m', 'benchmarks.pretrain_step',
         f'--cache_dir={cache_dir}', f'--tasks={",".join(names)}',
         f'--dtype={dtype}', f'--repetitions={repetitions}',
         f'--timed_steps={timed_steps}', '--no_bfloat16',
         f'--output_json={output.name}'], check=True)
    with open(output.name) as f:
      return json.load(f)['results']


def format_table(results: Dict[str, Dict[str, object]]) -> str:
  reference = results.get('model_garden_float32')
  lines = ['| task | median step (s) | videos/s | vs Model Garden fp32 | '
           'median CPU (s/step) | CPU vs Model Garden fp32 |',
           '|---|---:|---:|---:|---:|---:|']
  for name, row in results.items():
    ratio, cpu_ratio = ((reference['median_step_s'] / row['median_step_s'],
                         reference['median_cpu_s'] / row['median_cpu_s'])
                        if reference else (float('nan'), float('nan')))
    lines.append(f'| {name} | {row["median_step_s"]:.2f} | '
                 f'{row["videos_per_s"]:.2f} | {ratio:.2f}x | '
                 f'{row["median_cpu_s"]:.2f} | {cpu_ratio:.2f}x |')
  return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--cache_dir', default='/tmp/cvrl_tf_benchmark')
  parser.add_argument('--output_json', default=None)
  parser.add_argument('--tasks', default=','.join(TASKS),
                      help='Comma-separated subset of '
                      + ', '.join(TASKS + OPTIONAL_TASKS))
  parser.add_argument('--dtype', default='float32',
                      choices=['float32', 'bfloat16'])
  parser.add_argument('--repetitions', type=int, default=2)
  parser.add_argument('--timed_steps', type=int, default=3)
  parser.add_argument('--no_bfloat16', action='store_true',
                      help='Skip the bfloat16 run of the CVRL task.')
  args = parser.parse_args(argv)
  unknown = sorted(set(args.tasks.split(',')) - set(TASKS + OPTIONAL_TASKS))
  if unknown:
    parser.error(f'unknown task {", ".join(unknown)} in --tasks; choose from '
                 + ', '.join(TASKS + OPTIONAL_TASKS))
  start = time.perf_counter()
  results = run(args.cache_dir, args.tasks.split(','), args.dtype,
                args.repetitions, args.timed_steps)
  if not args.no_bfloat16 and args.dtype == 'float32':
    results.update(run_in_subprocess(args.cache_dir, ['ours'], 'bfloat16',
                                     args.repetitions, args.timed_steps))
  output = {'setup': dataclasses.asdict(SETUP), 'results': results,
            'environment': input_pipeline.environment(),
            'wall_time_s': time.perf_counter() - start}
  print(format_table(results))
  input_pipeline.write_json(args.output_json, output)
  return output


if __name__ == '__main__':
  main()
