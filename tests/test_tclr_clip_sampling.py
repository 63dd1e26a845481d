"""Tests for cvrl_tf.ops.tclr_clip_sampling against TCLR's frame lists."""
import numpy as np
import pytest
import tensorflow as tf
from official.core import exp_factory

from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.configs import tclr_data
from cvrl_tf.configs import validation
from cvrl_tf.ops import tclr_clip_sampling

CLIPS = tclr_data.TclrClipsConfig()


def _tclr_frame_lists(frame_count, start):
  """The clips TCLR's `build_clip` (dl_tclr.py) reads, padded as it pads.

  Frames exist for indices < frame_count; a clip keeps the frames of its
  list that exist and `sparse_clip` / `dense_clip3` are then extended with
  `clip + clip[::-1][1:missing + 1]`.
  """
  frames_sparse = [start] + [start + i * 4 for i in range(1, 16)]
  frames_dense = [[frames_sparse[j * 4]] + [frames_sparse[j * 4] + i
                                            for i in range(1, 16)]
                  for j in range(4)]

  def read(frame_list):
    return [f for f in frame_list if f < frame_count]

  def pad(clip):
    missing = 16 - len(clip)
    return clip + clip[::-1][1:missing + 1]

  sparse = read(frames_sparse)
  dense = [read(d) for d in frames_dense]
  if 13 < len(sparse) < 16:
    sparse = pad(sparse)
  if 7 < len(dense[3]) < 16:
    dense[3] = pad(dense[3])
  return np.array(sparse), np.array(dense)


def _sample(video_length, seed):
  sparse, dense = tclr_clip_sampling.sample_tclr_clip_indices(
      tf.constant(video_length), tf.constant([seed, 3], tf.int64), CLIPS)
  return sparse.numpy(), dense.numpy()


@pytest.mark.parametrize('video_length', [57, 58, 60, 61, 63, 64])
def test_short_videos_start_at_zero_and_mirror_pad(video_length):
  sparse, dense = _sample(video_length, seed=1)
  ref_sparse, ref_dense = _tclr_frame_lists(video_length, 0)
  np.testing.assert_array_equal(sparse, ref_sparse)
  np.testing.assert_array_equal(dense, ref_dense)
  assert sparse.max() < video_length and dense.max() < video_length


def test_mirror_padding_of_a_57_frame_video():
  sparse, dense = _sample(57, seed=0)
  # Sparse frames 0..56 are 15; the 16th mirrors the 14th.
  assert list(sparse[-3:]) == [52, 56, 52]
  # The last dense clip has frames 48..56, then 55, 54, ..., 49.
  assert list(dense[3]) == list(range(48, 57)) + list(range(55, 48, -1))


@pytest.mark.parametrize('video_length', [65, 66, 90, 300])
def test_long_videos_match_tclr_and_tile_the_sparse_span(video_length):
  starts = set()
  for seed in range(40):
    sparse, dense = _sample(video_length, seed)
    start = sparse[0]
    # np.random.randint(0, frame_count - 64): the upper bound is excluded.
    assert 0 <= start < video_length - 64
    starts.add(int(start))
    ref_sparse, ref_dense = _tclr_frame_lists(video_length, start)
    np.testing.assert_array_equal(sparse, ref_sparse)
    np.testing.assert_array_equal(dense, ref_dense)
    # The dense clips, in order, are the consecutive frames of the span.
    np.testing.assert_array_equal(dense.reshape(-1),
                                  np.arange(start, start + 64))
    np.testing.assert_array_equal(dense[:, 0], sparse[::4])
  if video_length >= 90:
    assert len(starts) > 10


def test_a_65_frame_video_always_starts_at_zero():
  assert {int(_sample(65, seed)[0][0]) for seed in range(10)} == {0}


def test_mirror_pad_indices_reflects_repeatedly():
  indices = tf.constant([[0, 1, 2, 3, 4, 5, 6, 7], [5, 6, 7, 8, 9, 10, 11,
                                                    12]])
  padded = tclr_clip_sampling.mirror_pad_indices(indices, tf.constant(7))
  np.testing.assert_array_equal(
      padded.numpy(), [[0, 1, 2, 3, 4, 5, 6, 5], [5, 6, 5, 6, 5, 6, 5, 6]])
  single = tclr_clip_sampling.mirror_pad_indices(
      tf.constant([6, 7, 8]), tf.constant(7))
  np.testing.assert_array_equal(single.numpy(), [6, 6, 6])


@pytest.mark.parametrize('override, message', [
    ({'num_dense_clips': 3}, 'multiple of'),
    ({'dense_clip_stride': 2}, 'tile the sparse'),
])
def test_clips_that_do_not_tile_are_rejected(override, message):
  with pytest.raises(ValueError, match=message):
    tclr_data.validate_clips(CLIPS.replace(**override))


def test_config_errors_name_the_field():
  params = exp_factory.get_exp_config('tclr_pretrain')
  params.task.train_data.feature_shape = (8, 32, 32, 3)
  with pytest.raises(validation.ConfigError,
                     match='task.train_data: feature_shape has 8 frames'):
    validation.validate(params, 'train')
  params.task.train_data.feature_shape = (16, 32, 32, 3)
  params.task.train_data.tclr_clips.augmentation = 'simclr'
  with pytest.raises(validation.ConfigError,
                     match=r"tclr_clips.augmentation must be one of \['tclr', "
                           r"'cvrl'\]"):
    validation.validate(params, 'train')
