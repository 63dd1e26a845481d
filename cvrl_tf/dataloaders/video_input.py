"""Video input pipeline: records -> decoded clips -> batches.

Stages, each a graph function mapped by `tf.data` (no Python callbacks):

  Decoder.decode      serialized SequenceExample -> frame strings, label, id,
                      per input file, with the checks of `record_checks`
                      (bad records stop the input, or are logged and dropped
                      with `skip_bad_records`); or a TFDS split decoded
                      to the same form by `tfds_input`
  attach_seeds        adds a per-video stateless seed (training only)
  Parser              samples frame indices, decodes only the selected frames
                      (only the crop window of each, when training) and
                      augments them
                      (with `skip_bad_records`, each video on its own, so
                      that one whose frames fail to decode is logged and
                      dropped: `record_checks.parse_dropping_undecodable`)
  batch               per replica
  PostBatchProcessor  folds views into the batch dimension

Per-video outputs of the Parser (T, H, W from `feature_shape`):
  SSL training         image ([T, H, W, 3], [T, H, W, 3])  (view 1, view 2)
  supervised training  image [T, H, W, 3]
  evaluation           image [clips * crops, T, H, W, 3]  (clip-major)
and, with `skip_bad_records`, the count of bad records skipped so far
(`record_checks.SKIPPED_KEY`, int64 scalar, [B] once batched); after
batching and `PostBatchProcessor`:
  SSL training         image [2B, T, H, W, 3]: rows :B view 1, B: view 2
                       (with `device_augmentation`, uint8 views not yet
                       colour-distorted or blurred, and their colour and
                       blur parameters, dict of [2B, ...], under
                       `device_augmentation.PARAMS_KEY`, same row order)
  supervised training  image [B, T, H, W, 3]
  evaluation           image [B * clips * crops, T, H, W, 3]
Labels are [B, num_classes] (one-hot) or [B, 1] class indices (a video's
first label, -1 if it has none; static, as TPU input must be). Images are float in [0, 1]
([-1, 1] with `zero_centering_image`) cast to `dtype`, except the uint8
views of device augmentation, which `device_augmentation.augment_views`
maps to that range in the train step.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from official.core import input_reader
from official.vision.dataloaders import decoder
from official.vision.dataloaders import parser
from official.vision.dataloaders import video_input as mg_video_input
from official.vision.ops import preprocess_ops_3d

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.data_prep import record_layout
from cvrl_tf.dataloaders import record_checks
from cvrl_tf.dataloaders import tfds_input
from cvrl_tf.ops import device_augmentation
from cvrl_tf.ops import spatial_augmentation
from cvrl_tf.ops import temporal_sampling

# With `skip_bad_records`, training input stops after this many bad records
# without a good video in between.
MAX_BAD_IN_A_ROW = 1000

Features = Dict[str, tf.Tensor]


class Decoder(decoder.Decoder):
  """Decodes a `tf.train.SequenceExample` video record.

  Missing keys decode as empty: no frames, no label, video id ''.
  """

  def __init__(self, image_key: str = record_layout.IMAGE_KEY,
               label_key: str = record_layout.LABEL_INDEX_KEY,
               video_id_key: str = record_layout.VIDEO_ID_KEY):
    self._image_key = image_key
    self._label_key = label_key
    self._video_id_key = video_id_key
    self._context_features = {
        label_key: tf.io.VarLenFeature(tf.int64),
        video_id_key: tf.io.FixedLenFeature([], tf.string, default_value=''),
    }

  def decode(self, serialized_example: tf.Tensor) -> Features:
    """Decodes a serialized record.

    Args:
      serialized_example: string scalar.

    Returns:
      Dict with 'frames' string [N] (one JPEG per frame), 'label' int64 [L]
      and 'video_id' string scalar.
    """
    context, sequences = tf.io.parse_single_sequence_example(
        serialized_example,
        context_features=self._context_features,
        sequence_features={
            # A record without frames is reported by `record_checks`.
            self._image_key: tf.io.FixedLenSequenceFeature(
                [], tf.string, allow_missing=True),
        })
    return {
        'frames': sequences[self._image_key],
        'label': tf.sparse.to_dense(context[self._label_key]),
        'video_id': context[self._video_id_key],
    }

  def decode_context(self, serialized_example: tf.Tensor) -> Features:
    """Like `decode` without the frames: 'label' [L] and 'video_id'."""
    context, _ = tf.io.parse_single_sequence_example(
        serialized_example, context_features=self._context_features)
    return {
        'label': tf.sparse.to_dense(context[self._label_key]),
        'video_id': context[self._video_id_key],
    }


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
  """Video ids and (first) label indices of every record, in file order."""
  if params.tfds_name:
    return tfds_input.read_ids_and_labels(params)
  decoder = Decoder(params.image_field_key, params.label_field_key)
  ids, labels = [], []
  for decoded in tf.data.TFRecordDataset(input_files(params)).map(
      decoder.decode_context):
    ids.append(decoded['video_id'].numpy().decode())
    labels.append(int(decoded['label'].numpy()[0]))
  return ids, labels


def eval_views(encoded: tf.Tensor, min_resize: int,
               crop_size: Tuple[int, int], num_crops: int) -> tf.Tensor:
  """Decodes clips and takes spatial test crops.

  Frames are resized so that their short side is `min_resize`, then cropped
  once in the centre or three times along the long side.

  Args:
    encoded: string [clips, T] JPEG frames.
    min_resize: short side after resizing.
    crop_size: (height, width) of a crop.
    num_crops: 1 or 3.

  Returns:
    float32 [clips * num_crops, T, height, width, 3] in [0, 1], clip-major.
  """
  num_clips, num_steps = encoded.shape
  frames = spatial_augmentation.decode_frames(tf.reshape(encoded, [-1]))
  frames = tf.cast(frames, tf.float32) * (1.0 / 255.0)
  frames = preprocess_ops_3d.resize_smallest(frames, min_resize)
  # Model Garden stacks the crops crop-major along the frame axis.
  frames = preprocess_ops_3d.crop_image(frames, *crop_size, False, num_crops)
  frames = tf.reshape(frames,
                      [num_crops, num_clips, num_steps, *crop_size, 3])
  frames = tf.transpose(frames, [1, 0, 2, 3, 4, 5])
  return tf.reshape(frames, [num_clips * num_crops, num_steps, *crop_size, 3])


class Parser(parser.Parser):
  """Turns decoded videos into model inputs for one of the three modes."""

  def __init__(self, params: data_cfg.DataConfig):
    self._num_steps, height, width, _ = params.feature_shape
    self._output_size = (height, width)
    self._stride = params.temporal_stride
    self._is_ssl = params.is_ssl
    self._temporal = params.augmentation.temporal
    self._spatial = params.augmentation.spatial
    self._num_test_clips = params.num_test_clips
    self._num_test_crops = params.num_test_crops
    self._min_resize = params.min_image_size
    self._zero_centering = params.zero_centering_image
    self._dtype = tf.dtypes.as_dtype(params.dtype)
    # Unlabelled pretraining data need no `num_classes`: labels then stay
    # class indices.
    self._one_hot = params.one_hot and params.num_classes > 0
    self._num_classes = params.num_classes
    self._label_dtype = tf.dtypes.as_dtype(params.label_dtype)
    self._output_video_id = params.output_video_id
    self._device_augmentation = (params.augmentation.device_augmentation
                                 and self._spatial.enabled)
    if self._device_augmentation and not self._spatial.temporally_consistent:
      raise ValueError('device_augmentation draws one set of photometric '
                       'parameters per clip: it needs temporally consistent '
                       'spatial augmentation.')

  def _normalize(self, image):
    """Maps `image` (a tensor or a tuple of views) to the model's range."""
    return tf.nest.map_structure(
        lambda x: spatial_augmentation.normalize(x, self._zero_centering,
                                                 self._dtype), image)

  def _outputs(self, image, decoded: Features) -> Tuple[Features, tf.Tensor]:
    """Features of the model-ready `image`, and the label."""
    features = {'image': image}
    if self._output_video_id:
      features['video_id'] = decoded['video_id']
    if record_checks.SKIPPED_KEY in decoded:
      features[record_checks.SKIPPED_KEY] = decoded[record_checks.SKIPPED_KEY]
    label = decoded['label']
    if not self._one_hot:
      # A static [1]: the first class index, or -1 for an unlabelled video.
      label = tf.reshape(
          tf.concat([label, tf.constant([-1], label.dtype)], 0)[:1], [1])
    label = mg_video_input.process_label(label, self._one_hot,
                                         self._num_classes, self._label_dtype)
    return features, label

  def _parse_ssl_data(self, decoded: Features,
                      seed: tf.Tensor) -> Tuple[Features, tf.Tensor]:
    """Two independently augmented views: image, a pair of [T, H, W, 3].

    The views stay separate tensors until `PostBatchProcessor` concatenates
    their batches: stacking them per video would copy every frame once more.

    With device augmentation the views are uint8 in [0, 255], cropped,
    flipped and resized only (`spatial_augmentation.geometric_clip`), and
    their colour and blur parameters are added: dict of [2, ...] under
    `device_augmentation.PARAMS_KEY`.
    """
    frames = decoded['frames']
    sample_seed, *view_seeds = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    indices = temporal_sampling.sample_ssl_indices(
        tf.shape(frames)[0], self._num_steps, self._stride, sample_seed,
        self._temporal.enabled, self._temporal.interval_power)
    if self._device_augmentation:
      augment = lambda clip, seed, view: spatial_augmentation.geometric_clip(
          clip, seed, self._output_size, self._spatial)
    else:
      augment = lambda clip, seed, view: spatial_augmentation.augment_frames(
          clip, seed, self._output_size, self._spatial, view=view)
    views = tuple(augment(tf.gather(frames, indices[i]), view_seed, i)
                  for i, view_seed in enumerate(view_seeds))
    if not self._device_augmentation:
      views = self._normalize(views)
    features, label = self._outputs(views, decoded)
    if self._device_augmentation:
      view_params = [
          spatial_augmentation.clip_photometric_params(
              view_seed, self._spatial, view=i)
          for i, view_seed in enumerate(view_seeds)]
      features[device_augmentation.PARAMS_KEY] = tf.nest.map_structure(
          lambda *p: tf.stack(p), *view_params)
    return features, label

  def _parse_train_data(self, decoded: Features,
                        seed: tf.Tensor) -> Tuple[Features, tf.Tensor]:
    """One clip with crop and flip only: image [T, H, W, 3]."""
    frames = decoded['frames']
    sample_seed, crop_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 2))
    indices = temporal_sampling.sample_random_clip_indices(
        tf.shape(frames)[0], self._num_steps, self._stride, sample_seed)
    spatial = self._spatial.replace(temporally_consistent=True)
    image = spatial_augmentation.augment_frames(
        tf.gather(frames, indices), crop_seed, self._output_size, spatial,
        photometric=False)
    return self._outputs(self._normalize(image), decoded)

  def _parse_eval_data(self,
                       decoded: Features) -> Tuple[Features, tf.Tensor]:
    """Test views: image [clips * crops, T, H, W, 3]."""
    frames = decoded['frames']
    indices = temporal_sampling.sample_linspace_indices(
        tf.shape(frames)[0], self._num_test_clips, self._num_steps,
        self._stride)
    image = eval_views(
        tf.gather(frames, indices), self._min_resize, self._output_size,
        self._num_test_crops)
    return self._outputs(self._normalize(image), decoded)

  def parse_fn(self, is_training: bool):
    """Returns the map function: (decoded[, seed]) -> (features, label)."""
    if not is_training:
      return self._parse_eval_data
    if self._is_ssl:
      return self._parse_ssl_data
    return self._parse_train_data


class PostBatchProcessor:
  """Folds the per-video views of a batch into the batch dimension."""

  def __init__(self, params: data_cfg.DataConfig):
    self._is_training = params.is_training
    self._is_ssl = params.is_ssl

  def __call__(self, features: Features,
               label: tf.Tensor) -> Tuple[Features, tf.Tensor]:
    """Reshapes `features['image']`.

    Args:
      features: 'image' [B, V, T, H, W, 3] with V views per video
        (evaluation), a pair of [B, T, H, W, 3] (SSL training) or
        [B, T, H, W, 3]; for SSL training maybe photometric parameters, dict
        of [B, 2, ...].
      label: [B, ...], returned unchanged.

    Returns:
      Features with 'image' [2B, T, H, W, 3] view-major for SSL training
      (and parameters [2B, ...] in the same order), [B * V, T, H, W, 3]
      video-major for evaluation; label.
    """
    features = dict(features)
    image = features['image']
    if self._is_training and self._is_ssl:
      image = tf.concat(image, axis=0)
      if device_augmentation.PARAMS_KEY in features:
        features[device_augmentation.PARAMS_KEY] = tf.nest.map_structure(
            _fold_views, features[device_augmentation.PARAMS_KEY])
    elif not self._is_training:
      image = tf.reshape(image, [-1, *image.shape[2:]])
    features['image'] = image
    return features, label


def _fold_views(tensor: tf.Tensor) -> tf.Tensor:
  """[B, V, ...] -> [V * B, ...], view-major."""
  return tf.concat(tf.unstack(tensor, axis=1), axis=0)


def _batch_fn(params: data_cfg.DataConfig):
  """Batches per replica.

  With `skip_bad_records`, fails training input that ended because
  `record_checks` stopped it.
  """

  def batch(dataset: tf.data.Dataset,
            input_context: Optional[tf.distribute.InputContext] = None
           ) -> tf.data.Dataset:
    batch_size = params.global_batch_size
    if input_context:
      batch_size = input_context.get_per_replica_batch_size(batch_size)
    dataset = dataset.batch(batch_size, drop_remainder=params.drop_remainder)
    if params.skip_bad_records and params.is_training:
      # Training input repeats: it only ends when it found no good video.
      dataset = dataset.apply(tf.data.experimental.assert_cardinality(
          tf.data.INFINITE_CARDINALITY))
    return dataset

  return batch


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
    video_ids: Optional[Sequence[str]] = None
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

  Returns:
    Dataset of (features, label) batches; see the module docstring.
  """
  if params.tfds_name:
    videos = tfds_input.checked_videos(params, input_context)
    dataset_fn = None
  else:
    videos = None
    params = params.replace(cycle_length=interleave_cycle_length(
        params, input_context))
    dataset_fn = record_checks.checked_dataset_fn(
        input_reader.match_files(params.input_path),
        Decoder(params.image_field_key, params.label_field_key).decode,
        params.num_classes, params.image_field_key, params.skip_bad_records)
  max_bad_in_a_row = MAX_BAD_IN_A_ROW if params.is_training else None
  parse_fn = Parser(params).parse_fn(params.is_training)
  transforms = []
  if params.skip_bad_records:
    transforms.append(lambda dataset: record_checks.drop_bad_records(
        dataset, max_bad_in_a_row))
  if video_ids is not None:
    transforms.append(keep_videos(video_ids))
  if params.is_training:
    transforms.append(lambda dataset: attach_seeds(dataset, params.seed))
  if params.skip_bad_records:
    transforms.append(lambda dataset: record_checks.parse_dropping_undecodable(
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
      transform_and_batch_fn=_batch_fn(params),
      postprocess_fn=PostBatchProcessor(params))
  return reader.read(input_context=input_context, dataset=videos)
