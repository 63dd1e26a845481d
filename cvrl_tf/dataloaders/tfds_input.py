"""TensorFlow Datasets as the video source: a TFDS split -> checked videos.

A DataConfig names its videos either by `input_path` (TFRecords) or, with
Model Garden's field names, by `tfds_name`, `tfds_split` and `tfds_data_dir`
(a TFDS video dataset of an image sequence `video` plus a `label`, such as
`ucf101/ucf101_1`). Stages, each a graph function:

  read_split        TFDS split -> examples: 'video' string [N] (JPEG frames,
                    left encoded by `tfds.decode.SkipDecoding`), 'label'
                    int64 [], 'tfds_id' string [], shuffled by file when
                    training and sharded per input pipeline
  decode_example    example -> 'frames' string [N], 'label' int64 [1],
                    'video_id' string [] (the example's `tfds_id`), the
                    form `video_decoder.Decoder` gives a TFRecord
  record_checks     no frames, a frame that is not a JPEG, a label outside
                    [0, num_classes): the input stops, or with
                    `skip_bad_records` the video is reported and dropped

`video_input.build_dataset` then samples frames, decodes only the crop
windows of the selected ones, augments and batches exactly as for TFRecords.
Nothing is downloaded: the data must have been built (`tfds build`).
"""
from typing import List, Optional, Tuple

import tensorflow as tf
import tensorflow_datasets as tfds
from official.vision.dataloaders import video_input as mg_video_input

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.dataloaders import record_checks

VIDEO_FEATURE = 'video'
LABEL_FEATURE = 'label'
ID_FEATURE = 'tfds_id'

Features = record_checks.Features


class SourceError(ValueError):
  """A TFDS source that cannot be read; one line naming the field."""


def _first_line(error: Exception) -> str:
  return (str(error).strip().splitlines() or [type(error).__name__])[0]


def builder(params: data_cfg.DataConfig) -> tfds.core.DatasetBuilder:
  """The builder of `params.tfds_name` in `params.tfds_data_dir`.

  Raises:
    SourceError: no such dataset or builder config.
  """
  try:
    return tfds.builder(params.tfds_name,
                        data_dir=params.tfds_data_dir or None)
  except ValueError as e:  # DatasetNotFoundError is one.
    raise SourceError(f'tfds_name {params.tfds_name!r} is not a TFDS dataset: '
                      f'{_first_line(e)}') from e


def _check_features(params: data_cfg.DataConfig,
                    dataset_builder: tfds.core.DatasetBuilder) -> None:
  """The dataset must hold JPEG frames and a label that fits num_classes."""
  features = dataset_builder.info.features
  video = features[VIDEO_FEATURE] if VIDEO_FEATURE in features else None
  if not isinstance(video, tfds.features.Video) or getattr(
      video, '_encoding_format', None) != 'jpeg':
    raise SourceError(
        f'tfds_name {params.tfds_name!r} has no JPEG-encoded video feature '
        f'{VIDEO_FEATURE!r} (features: {", ".join(features.keys())}).')
  if LABEL_FEATURE not in features:
    raise SourceError(f'tfds_name {params.tfds_name!r} has no feature '
                      f'{LABEL_FEATURE!r}.')
  label = features[LABEL_FEATURE]
  num_labels = getattr(label, 'num_classes', None)
  if num_labels and 0 < params.num_classes < num_labels:
    raise SourceError(
        f'num_classes={params.num_classes} but {params.tfds_name} has '
        f'{num_labels} classes.')


def check_source(params: data_cfg.DataConfig) -> None:
  """Raises SourceError unless the TFDS split of `params` can be read.

  Checks the dataset name, its features, the split and that the data has
  been built in `tfds_data_dir` (or TFDS's default directory).
  """
  if not params.tfds_split:
    raise SourceError(f'tfds_split is empty: name the split of '
                      f'{params.tfds_name} to read (e.g. train or test).')
  if params.tfds_as_supervised:
    raise SourceError(
        f'tfds_as_supervised must be false: the input reads the features '
        f'{VIDEO_FEATURE!r} and {LABEL_FEATURE!r} by name.')
  if params.tfds_skip_decoding_feature not in ('', VIDEO_FEATURE):
    raise SourceError(
        f'tfds_skip_decoding_feature must be empty or {VIDEO_FEATURE!r} '
        f'(frames always stay encoded until the crop windows are decoded), '
        f'got {params.tfds_skip_decoding_feature!r}.')
  dataset_builder = builder(params)
  _check_features(params, dataset_builder)
  try:
    dataset_builder.as_dataset(split=params.tfds_split,
                               decoders=_skip_video_decoding())
  except AssertionError as e:  # TFDS's way of saying "not built".
    raise SourceError(
        f'tfds_name {params.tfds_name!r} has no data in '
        f'{dataset_builder.data_dir}: build it with '
        f'`{build_command(dataset_builder)}` and set tfds_data_dir to '
        'that DIR.') from e
  except (KeyError, ValueError) as e:
    raise SourceError(f'tfds_split {params.tfds_split!r} of '
                      f'{params.tfds_name}: {_first_line(e)}') from e


def build_command(dataset_builder: tfds.core.DatasetBuilder) -> str:
  """The `tfds build` command that prepares the dataset in a DIR."""
  config = dataset_builder.builder_config
  return (f'tfds build {dataset_builder.name}'
          + (f' --config {config.name}' if config else '')
          + ' --data_dir=DIR')


def _skip_video_decoding():
  return {VIDEO_FEATURE: tfds.decode.SkipDecoding()}


def _num_files(dataset_builder: tfds.core.DatasetBuilder, split: str) -> int:
  """Files of `split`; 1 when TFDS does not know (e.g. under its mock)."""
  try:
    return len(dataset_builder.info.splits[split].file_instructions)
  except (KeyError, ValueError):
    return 1


def shard_examples(dataset: tf.data.Dataset,
                   input_context: tf.distribute.InputContext
                  ) -> tf.data.Dataset:
  """Every `num_input_pipelines`-th example, from `input_pipeline_id` on.

  For splits with fewer files than input pipelines, as `InputReader` does
  for TFRecords: every pipeline reads all files and keeps its share.
  """
  return dataset.shard(input_context.num_input_pipelines,
                       input_context.input_pipeline_id)


def read_split(params: data_cfg.DataConfig,
               input_context: Optional[tf.distribute.InputContext] = None
              ) -> tf.data.Dataset:
  """The examples of one TFDS split, frames left JPEG-encoded.

  Files are shuffled when training (with `seed`, reproducibly) and split
  among input pipelines by TFDS, or, when there are fewer files than
  pipelines, examples by `shard_examples`.

  Returns:
    Dataset of 'video' string [N], 'label' int64 [], 'tfds_id' string [].
  """
  dataset_builder = builder(params)
  if not (params.sharding and input_context
          and input_context.num_input_pipelines > 1):
    input_context = None
  shard_after_reading = bool(input_context) and _num_files(
      dataset_builder, params.tfds_split) < input_context.num_input_pipelines
  read_config = tfds.ReadConfig(
      add_tfds_id=True, shuffle_seed=params.seed, skip_prefetch=True,
      input_context=None if shard_after_reading else input_context)
  if params.cycle_length:
    read_config.interleave_cycle_length = params.cycle_length
  dataset = dataset_builder.as_dataset(
      split=params.tfds_split, shuffle_files=params.is_training,
      decoders=_skip_video_decoding(), read_config=read_config)
  if shard_after_reading:
    dataset = shard_examples(dataset, input_context)
  return dataset


_TFDS_DECODER = mg_video_input.VideoTfdsDecoder(image_key='frames',
                                                label_key='label')


def decode_example(example: Features) -> Features:
  """A TFDS example as `video_decoder.Decoder` decodes a record.

  Args:
    example: 'video' string [N], 'label' int64 [], 'tfds_id' string [].

  Returns:
    'frames' string [N], 'label' int64 [1], 'video_id' string [].
  """
  decoded = _TFDS_DECODER.decode(example)
  return {'frames': decoded['frames'],
          'label': tf.reshape(tf.cast(decoded['label'], tf.int64), [1]),
          'video_id': example[ID_FEATURE]}


def source_name(params: data_cfg.DataConfig) -> str:
  """How messages name the split, e.g. 'TFDS ucf101/ucf101_1 split train'."""
  return f'TFDS {params.tfds_name} split {params.tfds_split}'


def checked_videos(params: data_cfg.DataConfig,
                   input_context: Optional[tf.distribute.InputContext] = None
                  ) -> tf.data.Dataset:
  """Decoded, checked videos of the split; repeated when training.

  Returns:
    What `record_checks.read_checked_file` gives for one file: good videos
    ('frames', 'label', 'video_id'), and with `skip_bad_records` also the
    reports of bad ones, for `skipped_records.drop_bad_records`.
  """
  source = source_name(params)
  checked = read_split(params, input_context).map(decode_example).map(
      lambda video: record_checks.check_video(
          video, source, params.num_classes, VIDEO_FEATURE))
  videos = record_checks.keep_good_videos(checked, params.skip_bad_records)
  return videos.repeat() if params.is_training else videos


def read_ids_and_labels(params: data_cfg.DataConfig
                       ) -> Tuple[List[str], List[int]]:
  """Video ids (`tfds_id`) and labels of every example, in split order."""
  params = params.replace(is_training=False)
  ids, labels = [], []
  for example in read_split(params).map(decode_example):
    ids.append(example['video_id'].numpy().decode())
    labels.append(int(example['label'].numpy()[0]))
  return ids, labels
