"""Video input pipeline: records -> decoded clips -> batches.

Stages, each a graph function mapped by `tf.data` (no Python callbacks):

  video_decoder.Decoder         serialized SequenceExample -> frame strings,
                                label, id, per input file, with the checks
                                of `record_checks` (bad records stop the
                                input, or are logged and dropped by
                                `skipped_records` with `skip_bad_records`);
                                or a TFDS split decoded to the same form by
                                `tfds_input`
  attach_seeds                  adds a per-video stateless seed (training
                                only)
  video_parser.Parser           samples frame indices, decodes only the
                                selected frames (only the crop window of
                                each, when training) and augments them
                                (with `skip_bad_records`, each video on its
                                own, so that one whose frames fail to decode
                                is logged and dropped:
                                `skipped_records.parse_dropping_undecodable`)
  batching.batch_fn             batches per replica
  batching.PostBatchProcessor   folds views into the batch dimension

Batches, after `PostBatchProcessor` (per-video shapes in `video_parser`;
T, H, W from `feature_shape`):
  SSL training         image [2B, T, H, W, 3]: rows :B view 1, B: view 2
                       (with `device_augmentation`, uint8 views not yet
                       colour-distorted or blurred, and their colour and
                       blur parameters, dict of [2B, ...], under
                       `device_augmentation.PARAMS_KEY`, same row order)
  supervised training  image [B, T, H, W, 3]
  evaluation           image [B * clips * crops, T, H, W, 3]
With `read_flow`, features also hold 'flow' in the layout of 'image' (its
channels and augmentation in `video_parser`).
With `skip_bad_records`, features also hold the count of bad records
skipped so far (`skipped_records.SKIPPED_KEY`, int64 [B]).
Labels are [B, num_classes] (one-hot) or [B, 1] class indices (a video's
first label, -1 if it has none; static, as TPU input must be). Images are float in [0, 1]
([-1, 1] with `zero_centering_image`) cast to `dtype`, except the uint8
views of device augmentation, which `device_augmentation.augment_views`
maps to that range in the train step.
"""
from typing import Any, Callable, List, Optional, Sequence, Tuple

import tensorflow as tf

from official.core import input_reader

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.data_prep import record_layout
from cvrl_tf.dataloaders import batching
from cvrl_tf.dataloaders import record_checks
from cvrl_tf.dataloaders import skipped_records
from cvrl_tf.dataloaders import tfds_input
from cvrl_tf.dataloaders import video_decoder
from cvrl_tf.dataloaders import video_parser

# With `skip_bad_records`, training input stops after this many bad records
# without a good video in between.
MAX_BAD_IN_A_ROW = 1000


def attach_seeds(dataset: tf.data.Dataset,
                 seed: Optional[int]) -> tf.data.Dataset:
  """Pairs every element with its own [2] int64 stateless seed.

  With a fixed `seed` the sequence of per-element seeds is the same for every
  iteration, which makes the random preprocessing reproducible; without one
  it changes every iteration.

  Args:
    dataset: dataset of decoded videos.
    seed: global seed, or None.

  Returns:
    Dataset of (element, seed) pairs.
  """
  seeds = tf.data.Dataset.random(
      seed=seed, rerandomize_each_iteration=seed is None).batch(2)
  return tf.data.Dataset.zip((dataset, seeds))


def keep_videos(video_ids: Sequence[str]
                ) -> Callable[[tf.data.Dataset], tf.data.Dataset]:
  """A dataset transform keeping decoded videos whose id is in `video_ids`."""
  table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
          tf.constant(list(video_ids), tf.string),
          tf.ones([len(video_ids)], tf.int32)), default_value=0)
  return lambda dataset: dataset.filter(
      lambda decoded: table.lookup(decoded['video_id']) > 0)


def input_files(params: data_cfg.DataConfig) -> List[str]:
  """The sorted files matched by the comma-separated `input_path` patterns."""
  return sorted(path for pattern in str(params.input_path).split(',')
                for path in tf.io.gfile.glob(pattern.strip()))


def read_ids_and_labels(params: data_cfg.DataConfig
                        ) -> Tuple[List[str], List[int]]:
  """Video ids and (first) label indices of every record, in file order.

  Records are checked as the input pipeline checks them (`record_checks`):
  a bad one stops the reading with an InvalidArgumentError naming its file
  and problem, or with `skip_bad_records` is reported and left out.
  """
  if params.tfds_name:
    return tfds_input.read_ids_and_labels(params)
  files = input_files(params)
  if not files:
    return [], []
  read_files = record_checks.checked_dataset_fn(
      files, video_decoder.Decoder(params.image_field_key,
                                   params.label_field_key).decode,
      params.num_classes, params.image_field_key, params.skip_bad_records)
  videos = read_files(files)
  if params.skip_bad_records:
    videos = skipped_records.drop_bad_records(videos)
  ids, labels = [], []
  for video in videos:
    ids.append(video['video_id'].numpy().decode())
    labels.append(int(video['label'].numpy()[0]))
  return ids, labels


def interleave_cycle_length(
    params: data_cfg.DataConfig,
    input_context: Optional[tf.distribute.InputContext] = None) -> int:
  """`params.cycle_length`, capped at the files one input pipeline reads.

  Training input repeats the file list before interleaving, so a cycle
  longer than the list opens the same file in several readers at once: the
  same videos then arrive together, as duplicates in one batch (false
  negatives for the contrastive loss).
  """
  num_files = len(input_files(params))
  if input_context:
    num_files //= input_context.num_input_pipelines
  return max(1, min(params.cycle_length, num_files))


def build_dataset(
    params: data_cfg.DataConfig,
    input_context: Optional[tf.distribute.InputContext] = None,
    video_ids: Optional[Sequence[str]] = None,
    parser: Optional[video_parser.Parser] = None,
    postprocess_fn: Optional[Callable[..., Any]] = None,
    min_frames: int = 1
) -> tf.data.Dataset:
  """Builds the batched input dataset described by `params`.

  Files are read, sharded across input pipelines and shuffled by Model
  Garden's `InputReader` (a TFDS split by `tfds_input`, then shuffled by
  `InputReader`). With `params.seed` set, two datasets built from the
  same config yield identical batches (a new iterator over one training
  dataset reshuffles, like any seeded `InputReader` dataset); like all seeded
  TensorFlow randomness, they also depend on the global seed
  (`tf.random.set_seed`), which `task.deterministic` sets. Records are
  decoded and checked file by file (`record_checks`), so a bad one is
  reported with its file name.

  Args:
    params: input config.
    input_context: distribution context, for per-replica batching and file
      sharding.
    video_ids: when given, only these videos are read (e.g. a
      semi-supervised label subset).
    parser: samples, decodes and augments each video; `video_parser.Parser`
      by default. A pretraining method's own clip sampler (TCLR's
      `tclr_input.TclrParser`) replaces it.
    postprocess_fn: maps each batch; by default
      `batching.PostBatchProcessor`, which folds views into the batch.
    min_frames: videos with fewer frames are bad records (reported, and
      dropped with `skip_bad_records`).

  Returns:
    Dataset of (features, label) batches; see the module docstring.
  """
  if params.tfds_name:
    videos = tfds_input.checked_videos(params, input_context, min_frames)
    dataset_fn = None
  else:
    videos = None
    params = params.replace(cycle_length=interleave_cycle_length(
        params, input_context))
    flow_key = record_layout.FLOW_KEY if params.read_flow else None
    dataset_fn = record_checks.checked_dataset_fn(
        input_reader.match_files(params.input_path),
        video_decoder.Decoder(params.image_field_key, params.label_field_key,
                              flow_key=flow_key).decode,
        params.num_classes, params.image_field_key, params.skip_bad_records,
        min_frames)
  max_bad_in_a_row = MAX_BAD_IN_A_ROW if params.is_training else None
  parser = parser or video_parser.Parser(params)
  parse_fn = parser.parse_fn(params.is_training)
  transforms = []
  if params.skip_bad_records:
    transforms.append(lambda dataset: skipped_records.drop_bad_records(
        dataset, max_bad_in_a_row))
  if video_ids is not None:
    transforms.append(keep_videos(video_ids))
  if parser.takes_seed(params.is_training):
    transforms.append(lambda dataset: attach_seeds(dataset, params.seed))
  if params.skip_bad_records:
    transforms.append(
        lambda dataset: skipped_records.parse_dropping_undecodable(
            dataset, parse_fn, max_bad_in_a_row))

  def sample_fn(dataset: tf.data.Dataset) -> tf.data.Dataset:
    for transform in transforms:
      dataset = transform(dataset)
    return dataset
  reader = input_reader.InputReader(
      params,
      dataset_fn=dataset_fn,
      sample_fn=sample_fn if transforms else None,
      # With `skip_bad_records` the last transform parses.
      parser_fn=None if params.skip_bad_records else parse_fn,
      transform_and_batch_fn=batching.batch_fn(params),
      postprocess_fn=postprocess_fn or batching.PostBatchProcessor(params))
  return reader.read(input_context=input_context, dataset=videos)
