"""cvrl_tf.dataloaders.tclr_input on records converted from real video files."""
import os

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf.configs import tclr_data
from cvrl_tf.data_prep import converter
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import video_decoding
from cvrl_tf.dataloaders import skipped_records
from cvrl_tf.dataloaders import tclr_input
import video_fixtures

# Frames per video file: 40 is too short for TCLR (dropped), 58 is
# mirror-padded, the others are long enough. (class, name, frames)
VIDEOS = (('run', 'short.mp4', 40), ('run', 'padded.mp4', 58),
          ('jump', 'long_a.mp4', 70), ('jump', 'long_b.mp4', 80))


@pytest.fixture(scope='module')
def record_pattern(tmp_path_factory):
  video_dir = str(tmp_path_factory.mktemp('videos'))
  for index, (label, name, num_frames) in enumerate(VIDEOS):
    os.makedirs(os.path.join(video_dir, label), exist_ok=True)
    video_fixtures.write_video(
        os.path.join(video_dir, label, name),
        video_fixtures.moving_frames(num_frames, 48, 64, seed=index))
  output_dir = str(tmp_path_factory.mktemp('records'))
  videos, label_map = sources.load_videos(video_dir=video_dir)
  report = converter.convert_videos(videos, label_map, converter.ConversionConfig(
      output_dir=output_dir, num_shards=2, num_workers=1,
      decode_options=video_decoding.DecodeOptions(min_resize=36)))
  assert report.converted == len(VIDEOS) and not report.failed
  return os.path.join(output_dir, 'train-*.tfrecord')


def _params(pattern, **kwargs):
  return tclr_data.TclrDataConfig(
      input_path=pattern, global_batch_size=2, feature_shape=(16, 32, 32, 3),
      num_classes=2, is_training=False, drop_remainder=False,
      output_video_id=True, seed=3, **kwargs)


def test_batches_have_the_agreed_layout_and_short_videos_are_reported(
    record_pattern, capfd):
  batches = list(tclr_input.build_tclr_dataset(_params(record_pattern)))
  stderr = capfd.readouterr().err
  assert sorted(len(f['video_id']) for f, _ in batches) == [1, 2]
  ids = {v.decode() for f, _ in batches for v in f['video_id'].numpy()}
  assert ids == {'run/padded.mp4', 'jump/long_a.mp4', 'jump/long_b.mp4'}
  line, = [l for l in stderr.splitlines() if 'skipped bad record' in l]
  assert 'train-' in line and 'video has 40 frames, fewer than the 57' in line
  assert '(video id run/short.mp4)' in line and '(1 bad records skipped' in line
  features, labels = batches[0]
  batch = len(features['video_id'])
  assert features['sparse_clips'].shape == (batch, 2, 16, 32, 32, 3)
  assert features['dense_clips'].shape == (batch, 2, 4, 16, 32, 32, 3)
  assert features['sparse_clips'].dtype == tf.float32
  assert labels.shape == (batch, 1) and labels.dtype == tf.int32
  # The running count of skipped records; the short video may come last.
  counts = np.concatenate([f[skipped_records.SKIPPED_KEY].numpy()
                           for f, _ in batches])
  assert set(counts) <= {0, 1}
  for clips in (features['sparse_clips'], features['dense_clips']):
    values = clips.numpy()
    assert values.min() >= 0 and values.max() <= 1
  # Every clip of every augmentation has its own parameters.
  sparse = features['sparse_clips'].numpy()
  assert np.abs(sparse[:, 0] - sparse[:, 1]).mean() > 0.01
  dense = features['dense_clips'].numpy()
  assert np.abs(dense[:, 0] - dense[:, 1]).mean() > 0.01


def test_without_skipping_a_short_video_stops_the_input(record_pattern):
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='fewer than the 57'):
    list(tclr_input.build_tclr_dataset(
        _params(record_pattern, skip_bad_records=False)))


def test_dense_clips_tile_the_sparse_span_in_decoded_frames(record_pattern):
  # No photometric change, no flip, no erasing, the whole-height crop: each
  # clip is its frames, resized, so the same frame gives the same pixels.
  identity = tclr_data.TclrAugmentation(
      crop_scale_range=(1.0, 1.0), contrast_prob=0.0, hue_prob=0.0,
      saturation_prob=0.0, brightness_prob=0.0, grayscale_prob=0.0,
      channel_drop_prob=0.0, flip_prob=0.0, erase_prob=0.0)
  params = _params(record_pattern)
  params.tclr_clips.tclr_augmentation = identity
  for features, _ in tclr_input.build_tclr_dataset(params):
    sparse = features['sparse_clips'].numpy()[:, 0]   # [B, 16, ...]
    dense = features['dense_clips'].numpy()[:, 0]     # [B, 4, 16, ...]
    for video_id, video_sparse, video_dense in zip(
        features['video_id'].numpy(), sparse, dense):
      span = video_dense.reshape(64, *video_dense.shape[2:])
      if video_id != b'run/padded.mp4':
        # Sparse frame i is frame 4 i of the 64 consecutive dense frames.
        np.testing.assert_allclose(video_sparse, span[::4], atol=1e-6)
      else:
        # 58 frames: sparse frames 0, 4, ..., 56 and then 52 (mirrored);
        # the last dense clip is frames 48..57, then 56, 55, ..., 51.
        np.testing.assert_allclose(video_sparse[:15], span[:60:4], atol=1e-6)
        np.testing.assert_allclose(video_sparse[15], span[52], atol=1e-6)
        np.testing.assert_allclose(span[58:], span[56:50:-1], atol=1e-6)
      # Both augmentations of a clip are now equal.
    np.testing.assert_allclose(features['sparse_clips'].numpy()[:, 1],
                               sparse, atol=1e-6)


def test_cvrl_augmentation_choice(record_pattern):
  params = _params(record_pattern)
  params.tclr_clips.augmentation = 'cvrl'
  # CVRL's crop and flip per clip; its colour ops have their own tests and
  # take long to build.
  params.augmentation.spatial.override({
      'color_jitter_prob': 0.0, 'grayscale_prob': 0.0, 'blur_prob': 0.0})
  features, _ = next(iter(tclr_input.build_tclr_dataset(params)))
  assert features['dense_clips'].shape[1:] == (2, 4, 16, 32, 32, 3)
  sparse = features['sparse_clips'].numpy()
  # A crop per clip: the two augmentations differ.
  assert np.abs(sparse[:, 0] - sparse[:, 1]).mean() > 0.01
