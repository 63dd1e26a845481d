"""TCLR's clip sampler: one sparse clip and the dense clips tiling its span.

TCLR (github.com/DAVEISHAN/TCLR, `tclr_pretraining/dl_tclr.py`,
`ss_dataset_gen1.build_clip`), with T frames per clip, sparse stride s and
D dense clips (TCLR: T = 16, s = 4, D = 4, dense stride s / D = 1):

  start     uniform in [0, n - T s) when the video's n frames exceed the
            span T s (`np.random.randint(0, frame_count - 64)`, upper bound
            excluded), else 0;
  sparse    frames start + s i, i < T (`frames_sparse`);
  dense c   frames start + c (T / D) s + (s / D) i, i < T: it begins at
            sparse frame c T / D (`frames_dense[j] = frames_sparse[j*4] +
            i*sr_dense`), so the D dense clips tile the sparse clip's T s
            frames exactly, in temporal order.

Frames past the video's end (n < T s) are mirror-padded, as TCLR pads
`sparse_clip` and `dense_clip3`: a clip with L frames inside the video
continues with its frames L - 2, L - 3, ... (`clip + clip[::-1][1:missing +
1]`). Videos shorter than `min_video_frames` are dropped before sampling
(TCLR: `frame_count <= 56`); from 57 frames on L >= T / 2 + 1 for every clip,
so the reflection never runs out of frames.

Samplers return frame indices, never frames, like `temporal_sampling`.
"""
from typing import Tuple

import tensorflow as tf

from cvrl_tf.configs import tclr_data


def sparse_span(clips: tclr_data.TclrClipsConfig) -> int:
  """Frames the sparse clip's sampling period covers (TCLR: 16 x 4 = 64)."""
  return clips.sparse_clip_frames * clips.sparse_clip_stride


def mirror_pad_indices(indices: tf.Tensor,
                       video_length: tf.Tensor) -> tf.Tensor:
  """Mirror-pads each clip's frames past the video's end.

  A clip whose first L frames lie inside the video keeps them and continues
  with its frames L - 2, L - 3, ..., reflecting again at either end if it
  must (period 2 L - 2); a clip with one frame inside repeats it.

  Args:
    indices: int32 [..., T] increasing frame indices of each clip, the first
      one inside the video.
    video_length: int32 scalar, the video's frames.

  Returns:
    int32 [..., T] indices in [0, video_length).
  """
  num_inside = tf.reduce_sum(
      tf.cast(indices < video_length, tf.int32), axis=-1, keepdims=True)
  position = tf.range(tf.shape(indices)[-1], dtype=tf.int32)
  period = tf.maximum(2 * num_inside - 2, 1)
  phase = tf.math.floormod(position, period)
  reflected = tf.where(phase < num_inside, phase, period - phase)
  reflected = tf.minimum(reflected, num_inside - 1)
  return tf.gather(indices, reflected, batch_dims=indices.shape.rank - 1)


def sample_tclr_clip_indices(video_length: tf.Tensor, seed: tf.Tensor,
                             clips: tclr_data.TclrClipsConfig
                            ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Frame indices of a video's sparse clip and dense clips.

  Args:
    video_length: int32 scalar n > 0, frames in the video.
    seed: [2] integer stateless seed.
    clips: the sampler's config; `sparse_clip_stride` must equal
      `num_dense_clips * dense_clip_stride` and `sparse_clip_frames` be a
      multiple of `num_dense_clips` (`tclr_data.validate_clips`).

  Returns:
    sparse: int32 [T] frame indices of the sparse clip.
    dense: int32 [D, T] frame indices of the dense clips, in temporal order.
    Both in [0, n), mirror-padded past the video's end.
  """
  tclr_data.validate_clips(clips)
  video_length = tf.cast(video_length, tf.int32)
  num_frames = clips.sparse_clip_frames
  span = sparse_span(clips)
  start = tf.cond(
      video_length > span,
      lambda: tf.random.stateless_uniform(
          [], seed, minval=0, maxval=video_length - span, dtype=tf.int32),
      lambda: tf.constant(0, tf.int32))
  sparse = start + tf.range(num_frames, dtype=tf.int32) * (
      clips.sparse_clip_stride)
  dense_starts = sparse[::num_frames // clips.num_dense_clips]
  dense = dense_starts[:, tf.newaxis] + tf.range(
      num_frames, dtype=tf.int32) * clips.dense_clip_stride
  return (mirror_pad_indices(sparse, video_length),
          mirror_pad_indices(dense, video_length))
