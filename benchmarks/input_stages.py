r"""Host CPU time per video of each stage of the SSL training input.

Runs the stages of `spatial_augmentation.decode_and_augment_clip` (host
augmentation)
cumulatively, each prefix in its own parallel `tf.data` map over the records
of `benchmarks.input_pipeline`, and reports the CPU-ms per video each stage
adds:

  gather     parse the record, sample the 2 x T frame indices
  decode     decode the crop window of every sampled frame
  flip       random horizontal flip
  resize     bilinear resize to the crop size
  colour     colour jitter and grayscale
  blur       Gaussian blur

  python -m benchmarks.input_stages --cache_dir=/tmp/cvrl_bench \
      --output_json=/tmp/input_stages.json
"""
import argparse
import dataclasses
import statistics
import time
from typing import Dict, Optional, Sequence

import tensorflow as tf

from benchmarks import input_pipeline
from cvrl_tf.dataloaders import video_decoder
from cvrl_tf.ops import color_ops
from cvrl_tf.ops import color_ops_cpu
from cvrl_tf.ops import gaussian_blur
from cvrl_tf.ops import spatial_augmentation
from cvrl_tf.ops import temporal_sampling

STAGES = ('gather', 'decode', 'flip', 'resize', 'colour', 'blur')


def _augmented_view(encoded: tf.Tensor, seed: tf.Tensor, last_stage: str,
                    setup: input_pipeline.Setup, spatial) -> tf.Tensor:
  """One view through `decode_and_augment_clip`'s steps up to `last_stage`."""
  stages = iter(STAGES[1:STAGES.index(last_stage) + 1])
  if next(stages, None) is None:
    return encoded
  crop_seed, flip_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3)[:2])
  window = spatial_augmentation.random_crop_window(
      spatial_augmentation.jpeg_size(encoded[0]), crop_seed,
      spatial.crop_area_range, spatial.crop_aspect_ratio_range)
  frames = spatial_augmentation.decode_crop(encoded, window)
  output_size = (setup.crop_size, setup.crop_size)
  params = spatial_augmentation.clip_photometric_params(seed, spatial)
  steps = {
      'flip': lambda x: spatial_augmentation.random_flip_left_right(
          x, flip_seed),
      'resize': lambda x: spatial_augmentation.resize_unscaled(x, output_size),
      'colour': lambda x: color_ops_cpu.distort_colors_cpu(x, params, 1 / 255),
      'blur': lambda x: color_ops.blur(
          x, params, gaussian_blur.gaussian_kernel_size(setup.crop_size),
          cpu=True),
  }
  for stage in stages:
    frames = steps[stage](frames)
  if last_stage in ('decode', 'flip'):
    # Crop windows differ in size; a corner of each batches.
    frames = frames[:, :8, :8]
  return frames


def stage_dataset(serialized: Sequence[bytes], last_stage: str,
                  setup: input_pipeline.Setup) -> tf.data.Dataset:
  """Batches of both views of every video, processed up to `last_stage`."""
  params = input_pipeline.ours_config('', setup)
  decoder = video_decoder.Decoder()

  def views(decoded, seed):
    frames = decoded['frames']
    sample_seed, *view_seeds = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    indices = temporal_sampling.sample_ssl_indices(
        tf.shape(frames)[0], setup.num_steps, setup.stride, sample_seed,
        True, 1.0)
    return tuple(
        _augmented_view(tf.gather(frames, indices[i]), view_seed, last_stage,
                        setup, params.augmentation.spatial)
        for i, view_seed in enumerate(view_seeds))

  videos = tf.data.Dataset.from_tensor_slices(list(serialized)).repeat().map(
      decoder.decode)
  dataset = tf.data.Dataset.zip(
      (videos, tf.data.Dataset.random(seed=0).batch(2)))
  dataset = dataset.map(views, num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=False)
  return dataset.batch(setup.batch_size).prefetch(tf.data.AUTOTUNE)


def run(cache_dir: str, setup: input_pipeline.Setup,
        output_json: Optional[str] = None) -> Dict[str, object]:
  """Times every cumulative stage; prints and returns the table."""
  start = time.perf_counter()
  records = input_pipeline.write_records(cache_dir, setup)
  serialized = [record.numpy() for record in tf.data.TFRecordDataset(
      tf.io.gfile.glob(records['pattern']))]
  datasets = {stage: stage_dataset(serialized, stage, setup)
              for stage in STAGES}
  samples = input_pipeline.measure(datasets, setup, log=lambda _: None)
  cumulative = {stage: statistics.median(s['cpu_ms_per_video']
                                         for s in samples[stage])
                for stage in STAGES}
  added = {stage: cumulative[stage] - (cumulative[STAGES[i - 1]] if i else 0)
           for i, stage in enumerate(STAGES)}
  lines = ['| stage | CPU-ms / video (added) | cumulative |', '|---|---:|---:|']
  lines += [f'| {stage} | {added[stage]:.1f} | {cumulative[stage]:.1f} |'
            for stage in STAGES]
  print('\n'.join(lines))
  result = {'setup': dataclasses.asdict(setup),
            'environment': input_pipeline.environment(),
            'cumulative_cpu_ms_per_video': cumulative,
            'added_cpu_ms_per_video': added, 'samples': samples,
            'wall_time_s': time.perf_counter() - start}
  input_pipeline.write_json(output_json, result)
  return result


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--cache_dir', default='/tmp/cvrl_tf_benchmark',
                      help='Where the records are written and reused.')
  parser.add_argument('--output_json', default=None)
  parser.add_argument('--smoke', action='store_true',
                      help='Tiny records and one round, for tests.')
  parser.add_argument('--repetitions', type=int, default=3)
  args = parser.parse_args(argv)
  setup = input_pipeline.SMOKE if args.smoke else dataclasses.replace(
      input_pipeline.FULL, repetitions=args.repetitions)
  return run(args.cache_dir, setup, args.output_json)


if __name__ == '__main__':
  main()
