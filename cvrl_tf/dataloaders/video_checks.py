"""Checks of a decoded video's content, and the keys that report them.

A video is bad when it has no frames, a frame without the JPEG signature
(`tf.io.is_jpeg`), fewer frames than a method's clips need (`min_frames`,
TCLR's), a missing label or one outside [0, num_classes) (when
`num_classes` > 0), or, when flows are read, not one JPEG flow per
consecutive frame pair. The checks are graph ops on the encoded frames, run
before any frame is decoded. `record_checks` runs them on the records of
TFRecord files, beside its framing and parsing checks; `check_video` on
videos read by another reader.
"""
from typing import Callable, Dict, List, Tuple

import tensorflow as tf

from cvrl_tf.data_prep import record_layout

Features = Dict[str, tf.Tensor]

SOURCE_KEY = 'record_check/source'
PROBLEM_KEY = 'record_check/problem'
NUM_BAD_KEY = 'record_check/num_bad'
KEEP_KEY = 'record_check/keep'
CHECK_KEYS = (SOURCE_KEY, PROBLEM_KEY, NUM_BAD_KEY, KEEP_KEY)


def as_text(value: tf.Tensor) -> tf.Tensor:
  # Messages built from it avoid quote characters, which
  # tf.debugging.Assert would print escaped.
  return tf.strings.as_string(value)


def _first(condition: tf.Tensor) -> tf.Tensor:
  """Index of the first True of a non-empty bool vector, as text."""
  return as_text(tf.argmax(tf.cast(condition, tf.int32)))


def content_checks(decoded: Features, num_classes: int, image_key: str,
                   min_frames: int = 1
                  ) -> List[Tuple[tf.Tensor, Callable[[], tf.Tensor]]]:
  """(failed, message_fn) of each check of a decoded video, in report order.

  Args:
    decoded: 'frames' string [N], 'label' int64 [L], maybe 'flows' string
      [M].
    num_classes: labels must lie in [0, num_classes) when > 0.
    image_key: frame feature name, for the message.
    min_frames: videos with fewer frames (but some) fail.
  """
  frames, labels = decoded['frames'], decoded['label']
  not_jpeg = tf.logical_not(tf.io.is_jpeg(frames))
  checks = [
      (tf.size(frames) == 0, lambda: tf.constant(
          f'video has no frames (feature list {image_key} is empty or '
          'missing)')),
      (tf.reduce_any(not_jpeg), lambda: tf.strings.join([
          'frame ', _first(not_jpeg), ' of ', as_text(tf.size(frames)),
          ' is not a JPEG'])),
  ]
  if min_frames > 1:
    num_frames = tf.size(frames)
    checks.append(
        ((num_frames > 0) & (num_frames < min_frames),
         lambda: tf.strings.join([
             'video has ', as_text(num_frames), ' frames, fewer than the ',
             str(min_frames), ' its clips need'])))
  if 'flows' in decoded:
    checks += _flow_checks(frames, decoded['flows'])
  if num_classes > 0:
    out_of_range = (labels < 0) | (labels >= num_classes)
    checks += [
        (tf.size(labels) == 0, lambda: tf.constant('record has no label')),
        (tf.reduce_any(out_of_range), lambda: tf.strings.join([
            'label ', as_text(tf.boolean_mask(labels, out_of_range)[0]),
            f' is outside [0, {num_classes})'])),
    ]
  return checks


def _flow_checks(frames: tf.Tensor, flows: tf.Tensor
                ) -> List[Tuple[tf.Tensor, Callable[[], tf.Tensor]]]:
  """(failed, message_fn) of the flow checks: N - 1 JPEG flows, N >= 2."""
  not_jpeg = tf.logical_not(tf.io.is_jpeg(flows))
  num_frames, num_flows = tf.size(frames), tf.size(flows)
  return [
      ((num_flows != num_frames - 1) | (num_flows == 0),
       lambda: tf.strings.join([
           'video has ', as_text(num_frames), ' frames and ',
           as_text(num_flows), ' flows (feature list '
           f'{record_layout.FLOW_KEY}); two-stream input needs at least 2 '
           'frames and one flow per consecutive pair (tools/'
           'make_tfrecords.py --flow)'])),
      (tf.reduce_any(not_jpeg), lambda: tf.strings.join([
          'flow ', _first(not_jpeg), ' of ', as_text(num_flows),
          ' is not a JPEG'])),
  ]


def first_failure(checks, video_id: tf.Tensor) -> tf.Tensor:
  """Text of the first failed check, '' if none, naming the video."""
  problem = tf.constant('')
  for failed, message in reversed(checks):
    problem = tf.cond(failed, message, lambda p=problem: p)
  return tf.cond(
      (tf.strings.length(problem) > 0) & (tf.strings.length(video_id) > 0),
      lambda: tf.strings.join([problem, ' (video id ', video_id, ')']),
      lambda: problem)


def check_video(decoded: Features, source: str, num_classes: int,
                image_key: str, min_frames: int = 1) -> Features:
  """Adds the check keys to a video read without TFRecord framing.

  Only the content checks apply: a reader such as TensorFlow Datasets parses
  the record itself.

  Args:
    decoded: 'frames' string [N], 'label' int64 [L], 'video_id' string.
    source: names where the video was read, for messages.
    num_classes: labels are checked against it when > 0.
    image_key: frame feature name, for messages.
    min_frames: shorter videos are bad records.

  Returns:
    `decoded` plus the check keys, as `record_checks.check_record` gives
    the records of TFRecord files.
  """
  checks = content_checks(decoded, num_classes, image_key, min_frames)
  bad = tf.reduce_any(tf.stack([failed for failed, _ in checks]))
  problem = tf.cond(bad, lambda: first_failure(checks, decoded['video_id']),
                    lambda: tf.constant(''))
  return {**decoded, SOURCE_KEY: tf.constant(source), PROBLEM_KEY: problem,
          NUM_BAD_KEY: tf.cast(bad, tf.int64), KEEP_KEY: tf.logical_not(bad)}
