"""Tests for cvrl_tf.ops.temporal_sampling against NumPy references."""
import numpy as np
import pytest
from scipy import stats
import tensorflow as tf

from cvrl_tf.ops import temporal_sampling

NUM_DRAWS = 20000


def _seeds(n, offset=0):
  return tf.stack([tf.range(n, dtype=tf.int64) + offset,
                   tf.fill([n], tf.constant(7, tf.int64))], axis=1)


@tf.function
def _draw_gaps(num_starts, power, seeds):
  return tf.map_fn(
      lambda s: temporal_sampling.sample_gap(num_starts, power, s), seeds,
      fn_output_signature=tf.int32, parallel_iterations=64)


@tf.function
def _draw_ssl(video_length, num_steps, stride, seeds, enabled):
  return tf.map_fn(
      lambda s: temporal_sampling.sample_ssl_indices(
          video_length, num_steps, stride, s, enabled),
      seeds, fn_output_signature=tf.int32, parallel_iterations=64)


def _analytic_gap_probs(num_starts, power):
  """P(k) = F(k + 1) - F(k), F(g) = 1 - (1 - g / n) ** (power + 1)."""
  edges = np.arange(num_starts + 1) / num_starts
  cdf = 1.0 - (1.0 - edges)**(power + 1.0)
  return np.diff(cdf)


@pytest.mark.parametrize('power', [0.0, 1.0, 2.0])
def test_gap_matches_analytic_density(power):
  num_starts = 12
  gaps = _draw_gaps(num_starts, power, _seeds(NUM_DRAWS)).numpy()
  assert gaps.min() >= 0 and gaps.max() < num_starts
  counts = np.bincount(gaps, minlength=num_starts)
  expected = _analytic_gap_probs(num_starts, power) * NUM_DRAWS
  _, p_value = stats.chisquare(counts, expected)
  assert p_value > 1e-3, (counts, expected)


def test_gap_histogram_decreases_for_linear_power():
  gaps = _draw_gaps(30, 1.0, _seeds(NUM_DRAWS)).numpy()
  binned = np.bincount(gaps // 5, minlength=6)
  assert np.all(np.diff(binned) < 0), binned


def test_chi_square_rejects_wrong_density():
  # The test above must be able to fail: uniform draws vs the linear density.
  gaps = _draw_gaps(12, 0.0, _seeds(NUM_DRAWS)).numpy()
  counts = np.bincount(gaps, minlength=12)
  _, p_value = stats.chisquare(counts, _analytic_gap_probs(12, 1.0) * NUM_DRAWS)
  assert p_value < 1e-6


def test_ssl_clips_in_range_with_stride_and_random_order():
  video_length, num_steps, stride = 40, 4, 3
  indices = _draw_ssl(video_length, num_steps, stride, _seeds(4000),
                      True).numpy()
  assert indices.shape == (4000, 2, num_steps)
  assert indices.min() >= 0 and indices.max() < video_length
  starts = indices[:, :, 0]
  # No wrap-around: each clip is start + stride * arange(T).
  np.testing.assert_array_equal(
      indices, starts[..., None] + stride * np.arange(num_steps))
  last_start = video_length - temporal_sampling.clip_span(num_steps, stride)
  assert starts.max() <= last_start
  different = starts[:, 0] != starts[:, 1]
  first_is_later = np.mean(starts[different, 0] > starts[different, 1])
  assert abs(first_is_later - 0.5) < 0.05
  gaps = np.abs(starts[:, 0] - starts[:, 1])
  expected = _analytic_gap_probs(last_start + 1, 1.0) * len(gaps)
  _, p_value = stats.chisquare(np.bincount(gaps, minlength=last_start + 1),
                               expected)
  assert p_value > 1e-3


def test_disabled_temporal_augmentation_gives_identical_clips():
  indices = _draw_ssl(30, 4, 2, _seeds(200), False).numpy()
  np.testing.assert_array_equal(indices[:, 0], indices[:, 1])
  assert len(np.unique(indices[:, 0, 0])) > 5


def test_short_video_is_looped():
  video_length, num_steps, stride = 5, 4, 2
  indices = _draw_ssl(video_length, num_steps, stride, _seeds(300),
                      True).numpy()
  starts = indices[:, :, 0]
  reference = (starts[..., None] + stride * np.arange(num_steps)) % video_length
  np.testing.assert_array_equal(indices, reference)
  # A looped video may start anywhere.
  assert set(starts.ravel()) == set(range(video_length))


def test_random_clip_uniform_start():
  draw = tf.function(lambda seeds: tf.map_fn(
      lambda s: temporal_sampling.sample_random_clip_indices(20, 4, 2, s),
      seeds, fn_output_signature=tf.int32, parallel_iterations=64))
  indices = draw(_seeds(3000)).numpy()
  starts = indices[:, 0]
  counts = np.bincount(starts)
  assert len(counts) == 20 - 7 + 1
  _, p_value = stats.chisquare(counts)
  assert p_value > 1e-3
  np.testing.assert_array_equal(indices, starts[:, None] + 2 * np.arange(4))


@pytest.mark.parametrize('video_length,num_clips,expected_starts', [
    (30, 3, [0, 11, 23]),
    (30, 1, [11]),
    (5, 2, [0, 0]),
])
def test_linspace_clips(video_length, num_clips, expected_starts):
  indices = temporal_sampling.sample_linspace_indices(
      video_length, num_clips, num_steps=4, stride=2).numpy()
  reference = (np.array(expected_starts)[:, None] +
               2 * np.arange(4)) % video_length
  np.testing.assert_array_equal(indices, reference)


def test_sampling_is_a_pure_function_of_the_seed():
  seed = tf.constant([3, 4], tf.int64)
  first = temporal_sampling.sample_ssl_indices(50, 4, 2, seed)
  second = temporal_sampling.sample_ssl_indices(50, 4, 2, seed)
  np.testing.assert_array_equal(first, second)


def tclr_retrieval_frames(video_length, mode, num_frames=16, skip=2,
                          num_modes=9):
  """TCLR's retrieval clip (`nn_retrieval/dl_ret.py` `build_clip`), in NumPy.

  None where TCLR drops the video (at most half the clip's frames exist).
  """
  start = int(np.linspace(0, video_length - skip * num_frames - 10,
                          num_modes)[mode])
  if start < 0:
    start = mode
  wanted = start + skip * np.arange(num_frames)
  present = [int(f) for f in wanted if f < video_length]
  if len(present) <= num_frames / 2:
    return None
  remaining = num_frames - len(present)
  clip = present + present[::-1][1:remaining + 1]
  return clip if len(clip) == num_frames else None


def test_tclr_retrieval_clips_are_tclrs():
  compared = 0
  for video_length in list(range(18, 140)) + [173, 250, 1777]:
    indices = temporal_sampling.sample_tclr_retrieval_indices(
        video_length, num_clips=9, num_steps=16, stride=2).numpy()
    assert indices.shape == (9, 16)
    assert indices.min() >= 0 and indices.max() < video_length
    for mode in range(9):
      expected = tclr_retrieval_frames(video_length, mode)
      if expected is not None:
        np.testing.assert_array_equal(indices[mode], expected,
                                      err_msg=f'{video_length} {mode}')
        compared += 1
  assert compared > 9 * 120
  # Unlike the 'even' starts, the last clip ends 10 frames early.
  np.testing.assert_array_equal(
      temporal_sampling.tclr_retrieval_starts(100, 9, 16, 2),
      [0, 7, 14, 21, 29, 36, 43, 50, 58])
  assert temporal_sampling.sample_linspace_indices(100, 9, 16, 2)[-1, 0] == 69
