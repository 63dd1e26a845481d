"""The `make demo` pipeline: toy videos -> TFRecords -> CVRL pretraining.

Every stage writes under one output directory and is skipped when its
output is already complete, so an interrupted demo resumes.
"""
import dataclasses
import json
import os
import time
from typing import Dict

from absl import logging
import tensorflow as tf
from official.core import exp_factory
from official.modeling import hyperparams

from cvrl_tf import train as trainer_lib
from cvrl_tf.data_prep import converter
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import toy_videos
from cvrl_tf.data_prep import video_decoding

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY_PRETRAIN_YAML = os.path.join(REPO_ROOT, 'experiments',
                                 'cvrl_pretrain_toy.yaml')
SPLITS = ('train', 'test')


@dataclasses.dataclass
class DemoPaths:
  """Where each stage of the demo writes."""
  root: str

  @property
  def videos(self) -> str:
    return os.path.join(self.root, 'videos')

  @property
  def records(self) -> str:
    return os.path.join(self.root, 'records')

  @property
  def pretrain_dir(self) -> str:
    return os.path.join(self.root, 'pretrain')

  def record_pattern(self, split: str) -> str:
    return os.path.join(self.records, f'{split}-*.tfrecord')


def make_videos(paths: DemoPaths, train_per_class: int, test_per_class: int,
                seed: int) -> None:
  """Writes the toy videos unless a previous run completed them."""
  done_marker = os.path.join(paths.videos, 'classes.json')
  if tf.io.gfile.exists(done_marker):
    logging.info('Toy videos already in %s.', paths.videos)
    return
  toy_videos.make_toy_dataset(paths.videos, train_per_class=train_per_class,
                              test_per_class=test_per_class, seed=seed)


def make_records(paths: DemoPaths, num_shards: int = 4) -> Dict[str, int]:
  """Converts each split; the converter itself resumes finished shards."""
  converted = {}
  for split in SPLITS:
    videos, label_map = sources.load_videos(
        video_dir=os.path.join(paths.videos, split))
    report = converter.convert_videos(
        videos, label_map, converter.ConversionConfig(
            output_dir=paths.records, split=split, num_shards=num_shards,
            # The toy frames are small already: keep them as they are.
            decode_options=video_decoding.DecodeOptions(min_resize=128)))
    converted[split] = report.converted
  return converted


def pretrain_params(paths: DemoPaths, train_steps: int = 0):
  """The toy pretraining experiment reading the demo's records."""
  params = exp_factory.get_exp_config('cvrl_pretrain')
  params = hyperparams.override_params_dict(params, TOY_PRETRAIN_YAML,
                                            is_strict=True)
  override = {'task': {'train_data': {
      'input_path': paths.record_pattern('train'),
      'num_classes': 10}}}
  if train_steps:
    override['trainer'] = {
        'train_steps': train_steps,
        'optimizer_config': {'learning_rate': {'cosine': {
            'decay_steps': train_steps}}}}
  params.override(override, is_strict=True)
  params.validate()
  return params


def run_demo(output_dir: str, train_per_class: int = 50,
             test_per_class: int = 20, pretrain_steps: int = 0,
             seed: int = 0) -> Dict[str, object]:
  """Runs every stage and returns a summary (also written as JSON)."""
  paths = DemoPaths(output_dir)
  timings = {}
  start = time.monotonic()
  make_videos(paths, train_per_class, test_per_class, seed)
  timings['videos_seconds'] = time.monotonic() - start
  start = time.monotonic()
  converted = make_records(paths)
  timings['records_seconds'] = time.monotonic() - start
  start = time.monotonic()
  params = pretrain_params(paths, pretrain_steps)
  trainer_lib.run(params, 'train', paths.pretrain_dir)
  timings['pretrain_seconds'] = time.monotonic() - start
  summary = {'converted_videos': converted, **timings,
             'pretrain_dir': paths.pretrain_dir}
  with tf.io.gfile.GFile(os.path.join(output_dir, 'summary.json'), 'w') as f:
    json.dump(summary, f, indent=2)
  return summary
