"""Damaged TFDS files: each file's examples counted, and what is missing
reported by file.

TFDS's reader stops reading a file at a record whose CRC fails or that is
cut short (a damaged or truncated file) and raises an error that names
neither the file nor the dataset. The input therefore reads a split with
that error ignored (`tfds.ReadConfig(assert_cardinality=False)` and
`ignore_errors`, which then only ends the damaged file) and counts, per
file, the examples that arrived against the number TFDS recorded when the
data was built. At the end of each pass over the split, every file that
gave fewer yields one report, in the form of `video_checks.check_video`'s
elements:

  bad record in FILE: 1 of 2 examples read; 1 lost to a damaged record
  (TFRecord framing or CRC check failed, or a record that does not parse)

which stops the input, or with `skip_bad_records` is printed and counted
by `skipped_records.drop_bad_records`.
"""
import os
from typing import List, Optional, Sequence, Tuple

import tensorflow as tf
import tensorflow_datasets as tfds

from cvrl_tf.dataloaders import video_checks

# (path, number of examples the split reads from it).
FileCount = Tuple[str, int]


def file_counts(dataset_builder: tfds.core.DatasetBuilder, split: str
               ) -> Optional[List[FileCount]]:
  """The files of `split` in TFDS's order, each with its example count.

  Returns:
    None when TFDS knows no files for the split (e.g. under
    `tfds.testing.mock_data`), or when they are not TFRecords.
  """
  try:
    instructions = dataset_builder.info.splits[split].file_instructions
  except (KeyError, ValueError):
    return None
  if dataset_builder.info.file_format != tfds.core.FileFormat.TFRECORD:
    return None
  return [(i.filename,
           i.take if i.take >= 0 else i.examples_in_shard - i.skip)
          for i in instructions]


def file_of(tfds_id: tf.Tensor) -> tf.Tensor:
  """The file name in a `tfds_id` ('<file name>__<index>')."""
  return tf.strings.regex_replace(tfds_id, '__[0-9]+$', '')


def _lost_reports(counts: tf.Tensor, files: Sequence[FileCount],
                  at_end: tf.Tensor) -> video_checks.Features:
  """Check-key elements, stacked: one per file that gave too few examples.

  Empty unless `at_end`.
  """
  expected = tf.constant([n for _, n in files], tf.int64)
  lost = expected - counts
  short = at_end & (lost > 0)
  num_short = tf.reduce_sum(tf.cast(short, tf.int32))
  read = tf.boolean_mask(counts, short)
  lost = tf.boolean_mask(lost, short)
  as_text = video_checks.as_text
  return {
      'frames': tf.zeros([num_short, 0], tf.string),
      'label': tf.fill([num_short, 1], tf.constant(-1, tf.int64)),
      'video_id': tf.fill([num_short], ''),
      video_checks.SOURCE_KEY: tf.boolean_mask(
          tf.constant([path for path, _ in files]), short),
      video_checks.PROBLEM_KEY: tf.strings.join([
          as_text(read), ' of ', as_text(tf.boolean_mask(expected, short)),
          ' examples read; ', as_text(lost), ' lost to a damaged record '
          '(TFRecord framing or CRC check failed, or a record that does not '
          'parse)']),
      video_checks.NUM_BAD_KEY: lost,
      video_checks.KEEP_KEY: tf.zeros([num_short], tf.bool),
  }


def report_lost_examples(checked: tf.data.Dataset,
                         files: Sequence[FileCount]) -> tf.data.Dataset:
  """`checked`, then a report for each file that gave too few examples.

  Args:
    checked: one pass over the examples of `files`, as
      `video_checks.check_video` gives them ('video_id' the `tfds_id`).
    files: the files read and their example counts (`file_counts`).

  Returns:
    The elements of `checked`, then, after the last, one element per file
    with examples missing (`KEEP_KEY` False, `NUM_BAD_KEY` the number lost).
  """
  names = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
          tf.constant([os.path.basename(path) for path, _ in files]),
          tf.range(len(files), dtype=tf.int64)),
      default_value=-1)
  marker = _lost_reports(tf.zeros([len(files)], tf.int64), files,
                         tf.constant(False))
  marker = {key: tf.zeros(value.shape[1:], value.dtype)
            for key, value in marker.items()}
  marked = checked.map(lambda element: (element, False)).concatenate(
      tf.data.Dataset.from_tensors((marker, True)))

  def count(counts, marked_element):
    element, at_end = marked_element
    index = names.lookup(file_of(element['video_id']))
    # one_hot of -1 (an id of another file, or the marker) adds nothing.
    counts += tf.one_hot(index, len(files), dtype=tf.int64)
    return counts, (element, at_end, counts)

  def expand(element, at_end, counts):
    own = tf.data.Dataset.from_tensors(element).take(
        tf.where(at_end, tf.constant(0, tf.int64), 1))
    return own.concatenate(tf.data.Dataset.from_tensor_slices(
        _lost_reports(counts, files, at_end)))

  return marked.scan(tf.zeros([len(files)], tf.int64), count).flat_map(
      expand)
