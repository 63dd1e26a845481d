"""Drops the bad records of `skip_bad_records` and reports each of them.

Every skipped record prints one line on stderr, with `tf.print` so that it
shows at any TensorFlow log level:
`skipped bad record in FILE: PROBLEM (N bad records skipped so far)`.

  drop_bad_records            the bad records `record_checks` found
  parse_dropping_undecodable  a frame whose JPEG data is damaged after a
                              valid header passes those checks and fails
                              only when it is decoded: each video is parsed
                              on its own, so that such a failure drops that
                              video alone, with the same kind of line and
                              count.

Good videos carry the running count under `SKIPPED_KEY`.
"""
import sys
from typing import Callable, List, Optional, Tuple, Union

import tensorflow as tf

from cvrl_tf.dataloaders import record_checks
from cvrl_tf.dataloaders import video_checks

Features = video_checks.Features

# Running count of bad records skipped, on every good video of
# `drop_bad_records`' output.
SKIPPED_KEY = 'bad_records_skipped'


def _print_line(*parts: Union[str, tf.Tensor]) -> tf.Tensor:
  tf.print(tf.strings.join(list(parts)), output_stream=sys.stderr)
  return tf.constant(True)


def _nothing() -> tf.Tensor:
  return tf.constant(False)


def drop_bad_records(dataset: tf.data.Dataset,
                     max_bad_in_a_row: Optional[int] = None
                    ) -> tf.data.Dataset:
  """Logs and counts the bad records `record_checks.read_checked_file` reports.

  Each report prints one line to stderr with the file, the problem and the
  running count of bad records this iterator skipped; good videos pass on
  without the check keys, with that count under `SKIPPED_KEY` (int64
  scalar).

  Args:
    dataset: from `record_checks.read_checked_file` with `skip_bad_records`.
    max_bad_in_a_row: if set, the dataset ends, with a line on stderr, after
      this many bad records without a good video in between. Training input
      repeats its files forever, so without any good video it would
      otherwise be skipped forever.

  Returns:
    The good videos, with their file name under `video_checks.SOURCE_KEY`
    for `parse_dropping_undecodable`.
  """
  stop_at = max_bad_in_a_row or tf.int64.max

  def count(state, element):
    total, in_a_row = state
    num_bad = element[video_checks.NUM_BAD_KEY]
    total += num_bad
    in_a_row = tf.where(element[video_checks.KEEP_KEY],
                        tf.constant(0, tf.int64), in_a_row + num_bad)
    stop = in_a_row >= stop_at
    logged = _report_skips(num_bad > 0, element[video_checks.SOURCE_KEY],
                           element[video_checks.PROBLEM_KEY], total, in_a_row,
                           stop)
    with tf.control_dependencies(logged):
      element = dict(element, **{SKIPPED_KEY: tf.identity(total)})
      return (tf.identity(total), tf.identity(in_a_row)), (element, stop)

  zero = tf.constant(0, tf.int64)
  return dataset.scan((zero, zero), count).take_while(
      lambda element, stop: tf.logical_not(stop)).filter(
          lambda element, stop: element[video_checks.KEEP_KEY]).map(
              lambda element, stop: record_checks.strip_checks(
                  element, keep_source=True))


def _report_skips(skipped: tf.Tensor, source: tf.Tensor, problem: tf.Tensor,
                  total: tf.Tensor, in_a_row: tf.Tensor,
                  stop: tf.Tensor) -> List[tf.Tensor]:
  """Prints the line of a skipped record and the line of a stop, if any."""
  return [
      tf.cond(skipped, lambda: _print_line(
          'skipped bad record in ', source, ': ', problem, ' (',
          video_checks.as_text(total), ' bad records skipped so far)'),
              _nothing),
      tf.cond(stop, lambda: _print_line(
          'stopped reading the input: ', video_checks.as_text(in_a_row),
          ' bad records in a row without a good video; is the input data '
          'corrupt?'), _nothing),
  ]


def _placeholder(spec: tf.TensorSpec) -> tf.Tensor:
  """Zeros (or '') of `spec`, unknown dimensions taken as 0."""
  shape = [0 if d is None else d for d in spec.shape.as_list()]
  return tf.zeros(shape, spec.dtype)


def parse_dropping_undecodable(dataset: tf.data.Dataset,
                               parse_fn: Callable[..., Tuple[Features,
                                                             tf.Tensor]],
                               max_bad_in_a_row: Optional[int] = None
                              ) -> tf.data.Dataset:
  """Maps `parse_fn`, dropping and reporting the videos it fails on.

  Each video is parsed in a one-element dataset whose errors are ignored,
  so a frame that fails to decode (JPEG data damaged after a valid header)
  drops its own video. Each dropped video prints the line of
  `drop_bad_records` (file, problem with the video id, running count) and
  adds to the `SKIPPED_KEY` count of the videos after it.

  Args:
    dataset: elements of `drop_bad_records` (with `video_checks.SOURCE_KEY`
      and `SKIPPED_KEY`), alone or as the first of a tuple (e.g. with a seed).
    parse_fn: maps an element to (features, label); features carry
      `SKIPPED_KEY` on.
    max_bad_in_a_row: if set, the dataset ends, with a line on stderr, after
      this many videos in a row failed to parse.

  Returns:
    Dataset of (features, label) of the videos that parsed, in order.
    Their count adds these failures to `drop_bad_records`' count, whose own
    lines, printed earlier in the pipeline, do not include them.
  """
  stop_at = max_bad_in_a_row or tf.int64.max
  parsed_spec = dataset.map(parse_fn).element_spec

  def report(decoded, ok):
    return {video_checks.SOURCE_KEY: decoded[video_checks.SOURCE_KEY],
            'video_id': decoded['video_id'],
            SKIPPED_KEY: decoded[SKIPPED_KEY],
            video_checks.KEEP_KEY: tf.constant(ok)}

  def parse_one(*args):
    decoded = args[0]
    parsed = tf.data.Dataset.from_tensors(args).map(
        lambda *a: (*parse_fn(*a), report(decoded, True))).ignore_errors()
    # Evaluated only when `parsed` turned out empty.
    failed = tf.data.Dataset.from_tensors(decoded).map(
        lambda d: (*tf.nest.map_structure(_placeholder, parsed_spec),
                   report(d, False)))
    return parsed.concatenate(failed).take(1)

  def count(state, element):
    failures, in_a_row = state
    features, label, parsed = element
    failed = tf.logical_not(parsed[video_checks.KEEP_KEY])
    failures += tf.cast(failed, tf.int64)
    in_a_row = tf.where(failed, in_a_row + 1, tf.constant(0, tf.int64))
    stop = in_a_row >= stop_at
    total = parsed[SKIPPED_KEY] + failures
    problem = tf.strings.join([
        'frames fail to decode as JPEG or to augment (video id ',
        parsed['video_id'], ')'])
    logged = _report_skips(failed, parsed[video_checks.SOURCE_KEY], problem,
                           total, in_a_row, stop)
    with tf.control_dependencies(logged):
      features = dict(features, **{SKIPPED_KEY: tf.identity(total)})
      return ((tf.identity(failures), tf.identity(in_a_row)),
              (features, label, parsed[video_checks.KEEP_KEY], stop))

  zero = tf.constant(0, tf.int64)
  return dataset.interleave(
      parse_one, cycle_length=tf.data.AUTOTUNE, block_length=1,
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).scan(
          (zero, zero), count).take_while(
              lambda features, label, ok, stop: tf.logical_not(stop)).filter(
                  lambda features, label, ok, stop: ok).map(
                      lambda features, label, ok, stop: (features, label))
