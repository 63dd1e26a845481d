"""The `make demo` pipeline: toy videos -> TFRecords -> CVRL pretraining ->
linear evaluation and kNN retrieval against a randomly initialised encoder.

Every stage writes under one output directory and is skipped when its
output is already complete, so an interrupted demo resumes.
"""
import dataclasses
import json
import os
import time
from typing import Dict, Optional

from absl import logging
import tensorflow as tf

from cvrl_tf import configs
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf import train
from cvrl_tf.configs import data as data_cfg
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.data_prep import converter
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import toy_videos
from cvrl_tf.data_prep import video_decoding
from cvrl_tf.evaluation import extract
from cvrl_tf.evaluation import protocols
from cvrl_tf.modeling import cvrl_model
from cvrl_tf.modeling import input_specs

TOY_PRETRAIN_YAML = os.path.join(configs.EXPERIMENTS_DIR,
                                 'cvrl_pretrain_toy.yaml')
SPLITS = ('train', 'test')
NUM_TOY_CLASSES = 10
# Frames are stored at this short side: the toy preset sees 32 x 32 clips,
# so larger JPEGs would only cost decoding time.
RECORD_MIN_RESIZE = 40


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

  @property
  def results(self) -> str:
    return os.path.join(self.root, 'results.json')

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


def make_records(paths: DemoPaths, num_shards: int = 4,
                 flow: Optional[str] = None,
                 video_dir: str = '') -> Dict[str, int]:
  """Converts each split; the converter itself resumes finished shards.

  Args:
    paths: the records go to `paths.records`.
    num_shards: shards per split.
    flow: also store optical flow (`optical_flow.FLOW_METHODS`), or None.
    video_dir: the videos to convert; default `paths.videos`.
  """
  converted = {}
  for split in SPLITS:
    videos, label_map = sources.load_videos(
        video_dir=os.path.join(video_dir or paths.videos, split))
    report = converter.convert_videos(
        videos, label_map, converter.ConversionConfig(
            output_dir=paths.records, split=split, num_shards=num_shards,
            decode_options=video_decoding.DecodeOptions(
                min_resize=RECORD_MIN_RESIZE, flow=flow)))
    converted[split] = report.converted
  return converted


def pretrain_params(paths: DemoPaths, train_steps: int = 0):
  """The toy pretraining experiment reading the demo's records.

  `train_steps` (0: the preset's) rescales the whole schedule: the cosine
  decay and the warm-up keep their share of the training steps. (A warm-up
  as long as the decay would train at a learning rate of 0: Model Garden's
  warm-up ramps towards the decayed rate at its last step.)
  """
  params = config_validation.experiment_params('cvrl_pretrain',
                                               [TOY_PRETRAIN_YAML])
  override = {'task': {'train_data': {
      'input_path': paths.record_pattern('train'),
      'num_classes': NUM_TOY_CLASSES}}}
  if train_steps:
    warmup_share = (params.trainer.optimizer_config.warmup.linear.warmup_steps
                    / params.trainer.train_steps)
    override['trainer'] = {
        'train_steps': train_steps,
        'optimizer_config': {
            'learning_rate': {'cosine': {'decay_steps': train_steps}},
            'warmup': {'linear': {
                'warmup_steps': round(warmup_share * train_steps)}}}}
  params.override(override, is_strict=True)
  params.validate()
  return params


def eval_data(params, input_path: str) -> data_cfg.DataConfig:
  """Labelled evaluation data shaped like the pretraining clips."""
  return params.task.train_data.replace(
      input_path=input_path, num_classes=NUM_TOY_CLASSES, num_test_clips=4,
      num_test_crops=1, min_image_size=params.task.train_data.feature_shape[1],
      global_batch_size=32)


def build_encoder(params, checkpoint_dir: str = '', seed: int = 0):
  """The pretraining model, restored from `checkpoint_dir` when given.

  `seed` draws the initial weights, which are those of the random encoder.
  """
  tf.keras.utils.set_random_seed(seed)
  feature_shape = params.task.train_data.feature_shape
  if checkpoint_dir:
    model = extract.restore_model(params.task.model, feature_shape,
                                  checkpoint_dir)
  else:
    model = cvrl_model.build_cvrl_model(
        input_specs.model_input_specs(feature_shape), params.task.model)
  return cvrl_model.inference_encoder(model)


def evaluate(paths: DemoPaths, params) -> Dict[str, Dict[str, float]]:
  """Linear probe and kNN of the CVRL encoder and of a random one."""
  train_data = eval_data(params, paths.record_pattern('train'))
  test_data = eval_data(params, paths.record_pattern('test'))
  metrics = {}
  for name, checkpoint_dir in (('cvrl', paths.pretrain_dir), ('random', '')):
    encode = build_encoder(params, checkpoint_dir)
    metrics[name] = protocols.evaluate_encoder(encode, train_data, test_data,
                                               NUM_TOY_CLASSES)
  return metrics


def results_table(metrics: Dict[str, Dict[str, float]]) -> str:
  """A Markdown table of the headline numbers, in percent."""
  lines = ['| encoder | linear top-1 | linear top-5 | kNN R@1 | kNN R@5 | '
           'kNN top-1 |', '| --- | --- | --- | --- | --- | --- |']
  for name, m in metrics.items():
    lines.append(f"| {name} | {100 * m['top1']:.1f} | {100 * m['top5']:.1f} "
                 f"| {100 * m['recall@1']:.1f} | {100 * m['recall@5']:.1f} | "
                 f"{100 * m['knn_top1']:.1f} |")
  return '\n'.join(lines)


def run_demo(output_dir: str, train_per_class: int = 50,
             test_per_class: int = 20, pretrain_steps: int = 0,
             seed: int = 0) -> Dict[str, object]:
  """Runs every stage; returns the results also written to results.json."""
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
  train.run(params, 'train', paths.pretrain_dir)
  timings['pretrain_seconds'] = time.monotonic() - start
  start = time.monotonic()
  metrics = evaluate(paths, params)
  timings['evaluate_seconds'] = time.monotonic() - start
  results = {
      'cvrl_linear_top1': metrics['cvrl']['top1'],
      'random_linear_top1': metrics['random']['top1'],
      'cvrl_knn_r1': metrics['cvrl']['recall@1'],
      'random_knn_r1': metrics['random']['recall@1'],
      'metrics': metrics, 'converted_videos': converted, 'timings': timings,
      'pretrain_steps': params.trainer.train_steps,
  }
  with tf.io.gfile.GFile(paths.results, 'w') as f:
    json.dump(results, f, indent=2)
  return results
