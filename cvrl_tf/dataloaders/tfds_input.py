"""TensorFlow Datasets as the video source: a TFDS split -> checked videos.

A DataConfig names its videos either by `input_path` (TFRecords) or, with
Model Garden's field names, by `tfds_name`, `tfds_split` and `tfds_data_dir`
(a TFDS video dataset that `configs.tfds_source` checks before any data is
read). Stages, each a graph function:

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
  tfds_files        a file that gave fewer examples than it holds (a
                    damaged or truncated file): reported, by file, after
                    each pass, in the same way

`video_input.build_dataset` then samples frames, decodes only the crop
windows of the selected ones, augments and batches exactly as for TFRecords.
Nothing is downloaded: the data must have been built (`tfds build`).
"""
from typing import List, Optional, Tuple

import tensorflow as tf
import tensorflow_datasets as tfds
from official.vision.dataloaders import video_input as mg_video_input

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.configs import tfds_source
from cvrl_tf.dataloaders import record_checks
from cvrl_tf.dataloaders import tfds_files
from cvrl_tf.dataloaders import video_checks

Features = video_checks.Features


def _num_files(dataset_builder: tfds.core.DatasetBuilder, split: str) -> int:
  """Files of `split`; 1 when TFDS does not know (e.g. under its mock)."""
  try:
    return len(dataset_builder.info.splits[split].file_instructions)
  except (KeyError, ValueError):
    return 1


def _pipeline_context(params: data_cfg.DataConfig,
                      input_context: Optional[tf.distribute.InputContext]
                     ) -> Optional[tf.distribute.InputContext]:
  """`input_context` if the input is sharded over several pipelines."""
  if (params.sharding and input_context
      and input_context.num_input_pipelines > 1):
    return input_context
  return None


def _shards_files(dataset_builder: tfds.core.DatasetBuilder,
                  params: data_cfg.DataConfig,
                  input_context: Optional[tf.distribute.InputContext]) -> bool:
  """Whether TFDS splits the files among the input pipelines."""
  return bool(input_context) and _num_files(
      dataset_builder, params.tfds_split) >= input_context.num_input_pipelines


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
  among input pipelines by TFDS when there are at least as many files as
  pipelines; otherwise every pipeline reads every file (`checked_videos`
  then keeps its share with `shard_examples`). The number of examples is
  not asserted, so that a damaged file ends early instead of failing the
  whole split at its end (`tfds_files`).

  Returns:
    Dataset of 'video' string [N], 'label' int64 [], 'tfds_id' string [].
  """
  dataset_builder = tfds_source.builder(params)
  input_context = _pipeline_context(params, input_context)
  read_config = tfds.ReadConfig(
      add_tfds_id=True, shuffle_seed=params.seed, skip_prefetch=True,
      assert_cardinality=False,
      input_context=input_context if _shards_files(
          dataset_builder, params, input_context) else None)
  if params.cycle_length:
    read_config.interleave_cycle_length = params.cycle_length
  return dataset_builder.as_dataset(
      split=params.tfds_split, shuffle_files=params.is_training,
      decoders=tfds_source.skip_video_decoding(), read_config=read_config)


def files_read(params: data_cfg.DataConfig,
               input_context: Optional[tf.distribute.InputContext] = None
              ) -> Optional[List[tfds_files.FileCount]]:
  """The files `read_split` reads for this pipeline, with example counts.

  TFDS gives pipeline p of N the files p, p + N, p + 2N, ... of the split.
  None when TFDS knows no files (see `tfds_files.file_counts`).
  """
  dataset_builder = tfds_source.builder(params)
  files = tfds_files.file_counts(dataset_builder, params.tfds_split)
  input_context = _pipeline_context(params, input_context)
  if files and _shards_files(dataset_builder, params, input_context):
    files = files[input_context.input_pipeline_id::
                  input_context.num_input_pipelines]
  return files


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
          'video_id': example[tfds_source.ID_FEATURE]}


def source_name(params: data_cfg.DataConfig) -> str:
  """How messages name the split, e.g. 'TFDS ucf101/ucf101_1 split train'."""
  return f'TFDS {params.tfds_name} split {params.tfds_split}'


def checked_videos(params: data_cfg.DataConfig,
                   input_context: Optional[tf.distribute.InputContext] = None,
                   min_frames: int = 1) -> tf.data.Dataset:
  """Decoded, checked videos of the split; repeated when training.

  Videos with fewer than `min_frames` frames are bad records.

  Returns:
    What `record_checks.read_checked_file` gives for one file: good videos
    ('frames', 'label', 'video_id'), and with `skip_bad_records` also the
    reports of bad ones, for `skipped_records.drop_bad_records`.
  """
  source = source_name(params)
  examples = read_split(params, input_context)
  files = files_read(params, input_context)
  if files:
    # A damaged file ends there; `report_lost_examples` reports the loss.
    examples = examples.ignore_errors()
  checked = examples.map(decode_example).map(
      lambda video: video_checks.check_video(
          video, source, params.num_classes, tfds_source.VIDEO_FEATURE,
          min_frames))
  if files:
    checked = tfds_files.report_lost_examples(checked, files)
  input_context = _pipeline_context(params, input_context)
  if input_context and not _shards_files(tfds_source.builder(params), params,
                                         input_context):
    checked = shard_examples(checked, input_context)
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
