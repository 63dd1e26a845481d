r"""Videos/s of the SSL pretraining input pipeline against Model Garden's.

Writes (or reuses) sharded TFRecords of synthetic JPEG videos, then times, in
one process and alternating between them round by round:

  ours            `cvrl_tf.dataloaders.video_input.build_dataset`, colour
                  jitter, grayscale and blur on the host
  ours_device     the same with `device_augmentation`: the host part only
                  (colour and blur then run in the train step)
  model_garden    `official.projects.video_ssl` pretrain task `build_inputs`
  decode_only     decoding the same 2 x T sampled full frames per video

Each measurement starts a fresh iterator, discards warm-up batches (iterator
start-up, autotuning), then times a fixed number of batches; wall time gives
videos/s and process CPU time (all threads) gives CPU-ms per video. Fresh
iterators keep an idle pipeline's prefetching from running inside another
pipeline's measurement.

  python -m benchmarks.input_pipeline --cache_dir=/tmp/cvrl_bench \
      --output_json=/tmp/input_pipeline.json
"""
import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from official.core import exp_factory
from official.projects.video_ssl.configs import video_ssl  # pylint: disable=unused-import
from official.projects.video_ssl.tasks import pretrain as mg_pretrain

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.dataloaders import video_decoder
from cvrl_tf.dataloaders import video_input
from cvrl_tf.ops import spatial_augmentation
from cvrl_tf.ops import temporal_sampling

NUM_CLASSES = 400
PIPELINES = ('ours', 'ours_device', 'model_garden', 'decode_only')


@dataclasses.dataclass(frozen=True)
class Setup:
  """Records to generate and the pipeline config to time on them."""
  num_videos: int = 64
  num_frames: int = 64
  height: int = 256
  width: int = 340
  num_shards: int = 8
  num_steps: int = 16
  stride: int = 2
  crop_size: int = 224
  batch_size: int = 8
  warmup_batches: int = 4
  timed_batches: int = 10
  repetitions: int = 5


FULL = Setup()
SMOKE = Setup(num_videos=4, num_frames=12, height=64, width=80, num_shards=2,
              num_steps=4, crop_size=32, batch_size=2, warmup_batches=1,
              timed_batches=2, repetitions=1)


def synthetic_video(rng: np.random.Generator, num_frames: int, height: int,
                    width: int) -> np.ndarray:
  """uint8 [num_frames, height, width, 3] camera-like frames.

  A colour gradient background, a few coloured discs drifting across it and
  sensor-like noise, so that JPEG sizes are those of real footage (~17 KB
  per 256 x 340 frame at quality 90) rather than of flat synthetic images.
  """
  y, x = np.mgrid[0:height, 0:width].astype(np.float32)
  base = rng.uniform(40, 200, 3)
  tilt = rng.uniform(-0.4, 0.4, (3, 2))
  background = np.stack([base[c] + tilt[c, 0] * y + tilt[c, 1] * x
                         for c in range(3)], -1)
  num_discs = 4
  centres = rng.uniform([0, 0], [height, width], (num_discs, 2))
  velocities = rng.uniform(-3, 3, (num_discs, 2))
  radii = rng.uniform(0.08, 0.25, num_discs) * min(height, width)
  colours = rng.uniform(0, 255, (num_discs, 3))
  frames = []
  for t in range(num_frames):
    frame = background.copy()
    for centre, velocity, radius, colour in zip(centres, velocities, radii,
                                                colours):
      cy, cx = centre + t * velocity
      inside = (y - cy) ** 2 + (x - cx) ** 2 < radius ** 2
      frame[inside] = 0.3 * frame[inside] + 0.7 * colour
    frame += rng.normal(0, 5, frame.shape)
    frames.append(np.clip(frame, 0, 255).astype(np.uint8))
  return np.stack(frames)


def _sequence_example(frames: Sequence[bytes], label: int,
                      video_id: str) -> bytes:
  example = tf.train.SequenceExample()
  example.context.feature['clip/label/index'].int64_list.value.append(label)
  example.context.feature['video/id'].bytes_list.value.append(
      video_id.encode())
  feature_list = example.feature_lists.feature_list['image/encoded']
  for frame in frames:
    feature_list.feature.add().bytes_list.value.append(frame)
  return example.SerializeToString()


def write_records(cache_dir: str, setup: Setup) -> Dict[str, object]:
  """Writes the record set into `cache_dir`, unless it is already there.

  Returns:
    'pattern' (file glob), 'mean_frame_kb' (mean JPEG size).
  """
  name = (f'videos{setup.num_videos}_frames{setup.num_frames}_'
          f'{setup.height}x{setup.width}_shards{setup.num_shards}')
  directory = os.path.join(cache_dir, name)
  manifest = os.path.join(directory, 'manifest.json')
  if tf.io.gfile.exists(manifest):
    with tf.io.gfile.GFile(manifest) as f:
      return json.load(f)
  tf.io.gfile.makedirs(directory)
  rng = np.random.default_rng(0)
  encode = tf.function(lambda frames: tf.map_fn(
      lambda frame: tf.io.encode_jpeg(frame, quality=90), frames,
      fn_output_signature=tf.string))
  sizes = []
  per_shard = -(-setup.num_videos // setup.num_shards)
  for shard in range(setup.num_shards):
    path = os.path.join(directory, f'train-{shard:05d}.tfrecord')
    with tf.io.TFRecordWriter(path) as writer:
      for video in range(shard * per_shard,
                         min((shard + 1) * per_shard, setup.num_videos)):
        frames = encode(synthetic_video(rng, setup.num_frames, setup.height,
                                        setup.width)).numpy()
        sizes.extend(len(frame) for frame in frames)
        writer.write(_sequence_example(frames, video % NUM_CLASSES,
                                       f'video_{video}'))
  info = {'pattern': os.path.join(directory, 'train-*.tfrecord'),
          'mean_frame_kb': float(np.mean(sizes)) / 1024}
  with tf.io.gfile.GFile(manifest, 'w') as f:
    json.dump(info, f)
  return info


def ours_config(pattern: str, setup: Setup,
                device_augmentation: bool = False) -> data_cfg.DataConfig:
  params = data_cfg.DataConfig(
      input_path=pattern, is_training=True, is_ssl=True, drop_remainder=True,
      feature_shape=(setup.num_steps, setup.crop_size, setup.crop_size, 3),
      temporal_stride=setup.stride, global_batch_size=setup.batch_size,
      num_classes=NUM_CLASSES)
  params.augmentation.device_augmentation = device_augmentation
  return params


def model_garden_experiment(pattern: str, setup: Setup):
  """Model Garden's video_ssl pretraining experiment on the same records."""
  exp = exp_factory.get_exp_config('video_ssl_pretrain_kinetics400')
  data = exp.task.train_data
  data.input_path = pattern
  data.feature_shape = (setup.num_steps, setup.crop_size, setup.crop_size, 3)
  data.temporal_stride = setup.stride
  data.global_batch_size = setup.batch_size
  return exp


def decode_only_dataset(pattern: str, setup: Setup) -> tf.data.Dataset:
  """Decodes the 2 x T frames an SSL clip pair samples, in full, per video."""
  decoder = video_decoder.Decoder()

  def decode(serialized):
    frames = decoder.decode(serialized)['frames']
    indices = temporal_sampling.sample_ssl_indices(
        tf.shape(frames)[0], setup.num_steps, setup.stride,
        tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64), True, 1.0)
    return spatial_augmentation.decode_frames(
        tf.gather(frames, tf.reshape(indices, [-1])))

  files = tf.data.Dataset.list_files(pattern, shuffle=True).repeat()
  dataset = files.interleave(tf.data.TFRecordDataset,
                             num_parallel_calls=tf.data.AUTOTUNE,
                             deterministic=False)
  dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=False)
  return dataset.batch(setup.batch_size).prefetch(tf.data.AUTOTUNE)


def build_datasets(pattern: str, setup: Setup,
                   names: Sequence[str]) -> Dict[str, tf.data.Dataset]:
  builders = {
      'ours': lambda: video_input.build_dataset(ours_config(pattern, setup)),
      'ours_device': lambda: video_input.build_dataset(
          ours_config(pattern, setup, device_augmentation=True)),
      'model_garden': lambda: _model_garden_dataset(pattern, setup),
      'decode_only': lambda: decode_only_dataset(pattern, setup),
  }
  return {name: builders[name]() for name in names}


def _model_garden_dataset(pattern: str, setup: Setup) -> tf.data.Dataset:
  exp = model_garden_experiment(pattern, setup)
  task = mg_pretrain.VideoSSLPretrainTask(exp.task)
  return task.build_inputs(exp.task.train_data)


def time_batches(dataset: tf.data.Dataset, warmup: int,
                 timed: int) -> Dict[str, float]:
  """Wall and process CPU seconds of `timed` batches after `warmup` ones."""
  iterator = iter(dataset)
  for _ in range(warmup):
    next(iterator)
  wall, cpu = time.perf_counter(), time.process_time()
  for _ in range(timed):
    next(iterator)
  result = {'wall_s': time.perf_counter() - wall,
            'cpu_s': time.process_time() - cpu}
  del iterator
  return result


def measure(datasets: Dict[str, tf.data.Dataset], setup: Setup,
            log: Callable[[str], None] = print
           ) -> Dict[str, List[Dict[str, float]]]:
  """Alternates the pipelines for `setup.repetitions` rounds."""
  samples = {name: [] for name in datasets}
  videos = setup.timed_batches * setup.batch_size
  for repetition in range(setup.repetitions):
    for name, dataset in datasets.items():
      sample = time_batches(dataset, setup.warmup_batches,
                            setup.timed_batches)
      sample['videos_per_s'] = videos / sample['wall_s']
      sample['cpu_ms_per_video'] = 1e3 * sample['cpu_s'] / videos
      samples[name].append(sample)
      log(f'round {repetition + 1}/{setup.repetitions} {name:13s} '
          f'{sample["videos_per_s"]:7.1f} videos/s '
          f'{sample["cpu_ms_per_video"]:7.1f} CPU-ms/video')
  return samples


def summarize(samples: Dict[str, List[Dict[str, float]]]
             ) -> Dict[str, Dict[str, float]]:
  """Medians per pipeline and ratios to Model Garden and the decode bound."""
  summary = {
      name: {key: statistics.median(s[key] for s in runs)
             for key in ('videos_per_s', 'cpu_ms_per_video')}
      for name, runs in samples.items()
  }
  for name, row in summary.items():
    for reference in ('model_garden', 'decode_only'):
      if reference in summary:
        row[f'vs_{reference}'] = (
            row['videos_per_s'] / summary[reference]['videos_per_s'])
        row[f'cpu_vs_{reference}'] = (
            summary[reference]['cpu_ms_per_video'] / row['cpu_ms_per_video'])
  return summary


def format_table(summary: Dict[str, Dict[str, float]]) -> str:
  lines = ['| pipeline | videos/s | CPU-ms/video | vs Model Garden (videos/s, '
           'CPU) | vs decode-only (videos/s) |', '|---|---:|---:|---:|---:|']
  for name, row in summary.items():
    lines.append(
        f'| {name} | {row["videos_per_s"]:.1f} | '
        f'{row["cpu_ms_per_video"]:.1f} | '
        f'{row.get("vs_model_garden", float("nan")):.2f}x, '
        f'{row.get("cpu_vs_model_garden", float("nan")):.2f}x | '
        f'{row.get("vs_decode_only", float("nan")):.2f} |')
  return '\n'.join(lines)


def environment() -> Dict[str, object]:
  """Versions, machine and its load when the run ends, for the results file.

  The load average (1, 5 and 15 minutes) tells whether other jobs shared the
  cores during the run.
  """
  import official  # pylint: disable=import-outside-toplevel
  from importlib import metadata  # pylint: disable=import-outside-toplevel
  cpu, flags = platform.processor(), []
  if os.path.exists('/proc/cpuinfo'):
    with open('/proc/cpuinfo') as f:
      info = [line.split(':', 1) for line in f if ':' in line]
    cpu = next((v.strip() for k, v in info if k.strip() == 'model name'), cpu)
    flags = next((v.split() for k, v in info if k.strip() == 'flags'), [])
  del official
  return {
      'tensorflow': tf.__version__,
      'tf_models_official': metadata.version('tf-models-official'),
      'python': platform.python_version(),
      'cpu': cpu,
      'avx512_bf16': 'avx512_bf16' in flags,
      'cpu_count': os.cpu_count(),
      'load_average_at_end': [round(x, 2) for x in os.getloadavg()],
  }


def code_commit() -> str:
  """The checked-out commit of this code ('' outside a git checkout)."""
  return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                        capture_output=True, text=True, check=False,
                        cwd=os.path.dirname(__file__)).stdout.strip()


def write_json(path: Optional[str], result: Dict[str, object]) -> None:
  """Writes a benchmark's results file (local or gs://) when a path is given."""
  if path:
    with tf.io.gfile.GFile(path, 'w') as f:
      json.dump(result, f, indent=2)


def run(cache_dir: str, setup: Setup, names: Sequence[str] = PIPELINES,
        output_json: Optional[str] = None) -> Dict[str, object]:
  """Generates or reuses the records, times the pipelines, reports."""
  start = time.perf_counter()
  records = write_records(cache_dir, setup)
  datasets = build_datasets(records['pattern'], setup, names)
  samples = measure(datasets, setup)
  summary = summarize(samples)
  result = {
      'setup': dataclasses.asdict(setup),
      'records': records,
      'environment': environment(),
      'summary': summary,
      'samples': samples,
      'wall_time_s': time.perf_counter() - start,
  }
  print(format_table(summary))
  print(f'mean JPEG frame: {records["mean_frame_kb"]:.1f} KB; '
        f'wall time {result["wall_time_s"]:.0f} s')
  write_json(output_json, result)
  return result


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--cache_dir', default='/tmp/cvrl_tf_benchmark',
                      help='Where the records are written and reused.')
  parser.add_argument('--output_json', default=None)
  parser.add_argument('--smoke', action='store_true',
                      help='Tiny records and one round, for tests.')
  parser.add_argument('--repetitions', type=int, default=None)
  parser.add_argument('--pipelines', default=','.join(PIPELINES),
                      help='Comma-separated subset of ' + ', '.join(PIPELINES))
  args = parser.parse_args(argv)
  setup = SMOKE if args.smoke else FULL
  if args.repetitions:
    setup = dataclasses.replace(setup, repetitions=args.repetitions)
  return run(args.cache_dir, setup, args.pipelines.split(','),
             args.output_json)


if __name__ == '__main__':
  main()
