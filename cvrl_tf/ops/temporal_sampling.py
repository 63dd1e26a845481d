"""Frame-index samplers: which frames of a video form each clip.

Samplers return integer frame indices, never frames, so that only the selected
frames are ever decoded. A clip of `num_steps` frames at stride `stride` spans
`(num_steps - 1) * stride + 1` frames; videos shorter than that are looped
(indices are taken modulo the video length). Random samplers are pure
functions of an explicit stateless `seed` (a [2] integer tensor).
"""
import tensorflow as tf

# TCLR's retrieval clips (`nn_retrieval/dl_ret.py` `build_clip`) end this
# many frames before the last full clip would: `linspace(0, F - 10, ...)`.
TCLR_RETRIEVAL_END_MARGIN = 10


def clip_span(num_steps: int, stride: int) -> int:
  """Number of consecutive video frames a clip covers."""
  return (num_steps - 1) * stride + 1


def clip_indices(starts: tf.Tensor, video_length: tf.Tensor, num_steps: int,
                 stride: int) -> tf.Tensor:
  """Frame indices of clips starting at `starts`, looping short videos.

  Args:
    starts: int32 [...] start frame of each clip.
    video_length: int32 scalar, number of frames in the video (> 0).
    num_steps: frames per clip.
    stride: distance between consecutive sampled frames.

  Returns:
    int32 [..., num_steps] indices in [0, video_length).
  """
  steps = tf.range(num_steps, dtype=tf.int32) * stride
  return tf.math.floormod(starts[..., tf.newaxis] + steps, video_length)


def _num_start_positions(video_length: tf.Tensor, num_steps: int,
                         stride: int) -> tf.Tensor:
  """Number of valid clip starts; a looped short video may start anywhere."""
  num_starts = video_length - clip_span(num_steps, stride) + 1
  return tf.where(num_starts > 0, num_starts, video_length)


def _uniform_int(seed: tf.Tensor, maxval: tf.Tensor) -> tf.Tensor:
  """Scalar int32 uniform in [0, maxval), maxval > 0."""
  return tf.random.stateless_uniform(
      [], seed, minval=0, maxval=maxval, dtype=tf.int32)


def sample_gap(num_starts: tf.Tensor, interval_power: float,
               seed: tf.Tensor) -> tf.Tensor:
  """Samples the start-time gap between two clips (CVRL sec. 3.3).

  A continuous gap g on [0, num_starts) is drawn from the density
  P(g) proportional to (1 - g / num_starts) ** interval_power by inverting its
  CDF F(g) = 1 - (1 - g / num_starts) ** (interval_power + 1) in closed form,
  then floored, so the integer gap k in {0, ..., num_starts - 1} has
  probability F(k + 1) - F(k): decreasing in k for interval_power > 0 and
  uniform for interval_power = 0.

  Args:
    num_starts: int32 scalar >= 1, number of valid clip start positions.
    interval_power: exponent of the density; 1.0 is linear decrease.
    seed: [2] integer stateless seed.

  Returns:
    int32 scalar gap in [0, num_starts).
  """
  u = tf.random.stateless_uniform([], seed, dtype=tf.float32)
  n = tf.cast(num_starts, tf.float32)
  gap = n * (1.0 - tf.pow(1.0 - u, 1.0 / (interval_power + 1.0)))
  # float rounding can reach n when u is within an ulp of 1.
  return tf.minimum(tf.cast(tf.floor(gap), tf.int32), num_starts - 1)


def sample_ssl_indices(video_length: tf.Tensor, num_steps: int, stride: int,
                       seed: tf.Tensor, temporal_augmentation: bool = True,
                       interval_power: float = 1.0) -> tf.Tensor:
  """Samples frame indices of the two views of a video for CVRL.

  With temporal augmentation the gap between the clips' starts follows
  `sample_gap`, the earlier clip starts uniformly among the positions that
  keep both clips inside the video, and the order of the two views is then
  swapped with probability 0.5. Without it both views share one uniformly
  sampled clip.

  Args:
    video_length: int32 scalar, number of frames in the video (> 0).
    num_steps: frames per clip.
    stride: temporal stride within a clip.
    seed: [2] integer stateless seed.
    temporal_augmentation: sample two different clips.
    interval_power: see `sample_gap`.

  Returns:
    int32 [2, num_steps] frame indices of view 1 and view 2.
  """
  video_length = tf.cast(video_length, tf.int32)
  num_starts = _num_start_positions(video_length, num_steps, stride)
  gap_seed, start_seed, swap_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3))
  if temporal_augmentation:
    gap = sample_gap(num_starts, interval_power, gap_seed)
    first = _uniform_int(start_seed, num_starts - gap)
    starts = tf.stack([first, first + gap])
    swap = tf.random.stateless_uniform([], swap_seed) < 0.5
    starts = tf.where(swap, tf.reverse(starts, [0]), starts)
  else:
    starts = tf.fill([2], _uniform_int(start_seed, num_starts))
  return clip_indices(starts, video_length, num_steps, stride)


def sample_random_clip_indices(video_length: tf.Tensor, num_steps: int,
                               stride: int, seed: tf.Tensor) -> tf.Tensor:
  """Frame indices of one clip with a uniformly random start.

  Args:
    video_length: int32 scalar, number of frames in the video (> 0).
    num_steps: frames per clip.
    stride: temporal stride within a clip.
    seed: [2] integer stateless seed.

  Returns:
    int32 [num_steps] frame indices.
  """
  video_length = tf.cast(video_length, tf.int32)
  num_starts = _num_start_positions(video_length, num_steps, stride)
  start = _uniform_int(seed, num_starts)
  return clip_indices(start, video_length, num_steps, stride)


def sample_linspace_indices(video_length: tf.Tensor, num_clips: int,
                            num_steps: int, stride: int) -> tf.Tensor:
  """Frame indices of `num_clips` clips evenly spaced over the video.

  The first and last clips touch the video's ends; a single clip is centred.
  Videos shorter than a clip give clips starting at frame 0, looped.

  Args:
    video_length: int32 scalar, number of frames in the video (> 0).
    num_clips: number of clips.
    num_steps: frames per clip.
    stride: temporal stride within a clip.

  Returns:
    int32 [num_clips, num_steps] frame indices.
  """
  video_length = tf.cast(video_length, tf.int32)
  last_start = tf.maximum(video_length - clip_span(num_steps, stride), 0)
  if num_clips == 1:
    starts = tf.reshape(last_start // 2, [1])
  else:
    starts = tf.range(num_clips, dtype=tf.int32) * last_start // (num_clips - 1)
  return clip_indices(starts, video_length, num_steps, stride)


def tclr_retrieval_starts(video_length: tf.Tensor, num_clips: int,
                          num_steps: int, stride: int) -> tf.Tensor:
  """TCLR's retrieval clip starts (`nn_retrieval/dl_ret.py` `build_clip`).

  Clip k starts at `int(np.linspace(0, N - stride * num_steps - 10,
  num_clips)[k])` (truncated towards 0), or at frame k where that is
  negative. The linspace is computed in float64 as NumPy does, so the
  truncation agrees with TCLR's.

  Returns:
    int32 [num_clips] starts.
  """
  last = tf.cast(tf.cast(video_length, tf.int32) - stride * num_steps -
                 TCLR_RETRIEVAL_END_MARGIN, tf.float64)
  positions = tf.range(num_clips, dtype=tf.float64)
  if num_clips > 1:
    positions = tf.concat([positions[:-1] * (last / (num_clips - 1)),
                           last[tf.newaxis]], 0)
  starts = tf.cast(positions, tf.int32)  # Truncates towards 0, as int().
  return tf.where(starts < 0, tf.range(num_clips, dtype=tf.int32), starts)


def sample_tclr_retrieval_indices(video_length: tf.Tensor, num_clips: int,
                                  num_steps: int, stride: int) -> tf.Tensor:
  """Frame indices of TCLR's retrieval clips (`tclr_retrieval_starts`).

  A clip running past the last frame is mirror-padded as TCLR pads it
  (`full_clip + full_clip[::-1][1:remaining + 1]`): its frames after the
  last one present are those before it, in reverse. TCLR drops a video
  whose clip has at most half of its frames; here such a clip goes on
  mirroring back to its first frame and stays there.

  Arguments and result as `sample_linspace_indices`'s.
  """
  video_length = tf.cast(video_length, tf.int32)
  starts = tclr_retrieval_starts(video_length, num_clips, num_steps, stride)
  wanted = starts[:, tf.newaxis] + tf.range(num_steps) * stride
  present = tf.reduce_sum(tf.cast(wanted < video_length, tf.int32), axis=1,
                          keepdims=True)
  position = tf.range(num_steps)[tf.newaxis]
  mirrored = tf.maximum(2 * (present - 1) - position, 0)
  source = tf.where(position < present, position, mirrored)
  indices = starts[:, tf.newaxis] + source * stride
  # A clip starting past the end (TCLR: no frame, dropped) loops instead.
  return tf.math.floormod(indices, video_length)
