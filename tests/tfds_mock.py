"""Offline TensorFlow Datasets for tests: `tfds.testing.mock_data` of ucf101."""
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

UCF101 = 'ucf101/ucf101_1_256'
NUM_VIDEOS = 4


def mock_ucf101(**kwargs):
  """Random ucf101 videos: 5 to 49 frames of 256 x 256, labels in [0, 101)."""
  kwargs.setdefault('num_examples', NUM_VIDEOS)
  return tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_CODE,
                                **kwargs)


def mock_examples(split='train'):
  """The mocked split's examples (inside `mock_ucf101`): (id, label, frames)."""
  dataset = tfds.builder(UCF101).as_dataset(
      split=split, decoders={'video': tfds.decode.SkipDecoding()},
      read_config=tfds.ReadConfig(add_tfds_id=True))
  return [(x['tfds_id'].decode(), int(x['label']), list(x['video']))
          for x in dataset.as_numpy_iterator()]


def serve(videos):
  """A stand-in for TFDS's split reader holding `videos` ((frames, label)).

  For `mock_data(as_dataset_fn=...)`: examples as TFDS gives them with the
  frames undecoded and `add_tfds_id`. Held in memory: the default mock makes
  new random videos on every read, in a Python generator.
  """

  def as_dataset(self, split, decoders=None, read_config=None, **kwargs):
    del self, decoders, read_config, kwargs
    return tf.data.Dataset.from_tensor_slices({
        'video': tf.ragged.constant([list(frames) for frames, _ in videos],
                                    dtype=tf.string, ragged_rank=1),
        'label': tf.constant([label for _, label in videos], tf.int64),
        'tfds_id': tf.constant(
            [f'ucf101-{split}.tfrecord-00000-of-00001__{i}'
             for i in range(len(videos))])})

  return as_dataset


def jpegs(count, seed=0):
  """`count` random 32 x 32 JPEG frames."""
  rng = np.random.default_rng(seed)
  return [tf.io.encode_jpeg(rng.integers(0, 256, (32, 32, 3), np.uint8))
          .numpy() for _ in range(count)]


class TinyVideos(tfds.core.GeneratorBasedBuilder):
  """A real TFDS video dataset built offline: 32 x 32 JPEG frames, 3 classes.

  Split `train` has 5 videos of 6 to 10 frames, `test` 2.
  """
  VERSION = tfds.core.Version('1.0.0')
  SPLIT_SIZES = {'train': 5, 'test': 2}

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, features=tfds.features.FeaturesDict({
            'video': tfds.features.Video((None, 32, 32, 3),
                                         encoding_format='jpeg'),
            'label': tfds.features.ClassLabel(num_classes=3)}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(size)
            for split, size in self.SPLIT_SIZES.items()}

  def _generate_examples(self, num_videos):
    rng = np.random.default_rng(num_videos)
    for i in range(num_videos):
      yield f'video{i}', {
          'video': rng.integers(0, 256, (6 + i, 32, 32, 3), np.uint8),
          'label': i % 3}


class ShardedTinyVideos(TinyVideos):
  """`TinyVideos` with 8 train and 4 test videos, for several files a split."""
  SPLIT_SIZES = {'train': 8, 'test': 4}


def build(builder_cls, data_dir, num_files=None):
  """Prepares the dataset of `builder_cls` in `data_dir`, offline.

  Args:
    builder_cls: `TinyVideos` or a subclass.
    data_dir: the TFDS data directory.
    num_files: files per split; TFDS chooses if None.

  Returns:
    The builder.
  """
  builder = builder_cls(data_dir=str(data_dir))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(num_shards=num_files))
  return builder
