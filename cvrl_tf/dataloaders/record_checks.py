"""Reads video records file by file and reports bad ones by file name.

Model Garden's `InputReader` calls its dataset function once per input file,
so every record can be checked while its file name is at hand. The checks
are graph ops on the encoded record, run before any frame is decoded:

  file      a file gone since the pipeline was built (deleted or moved
            while training repeats its files) is reported once each time
            it is due to be read, and not opened.
  framing   the TFRecord reader stops at a record whose CRC fails or that is
            cut short; a file whose records read add up to fewer bytes
            than its length (taken when the pipeline is built) is reported
            once, and the rest of it is not read.
  parsing   a record that does not parse as a `tf.train.SequenceExample`
            with the configured feature types is reported by its position
            in the file.
  content   the checks of the decoded video (`video_checks`): frames,
            JPEG signatures, labels, flows, length.

By default the first bad record stops the input pipeline with an
InvalidArgumentError whose message contains
`bad record in FILE: PROBLEM`. With `skip_bad_records` bad records are
dropped instead, and reported, by `skipped_records`.
"""
import concurrent.futures
from typing import Callable, Optional, Sequence, Union

import tensorflow as tf

from cvrl_tf.dataloaders import video_checks

_INDEX_KEY = 'record_check/index'
_OFFSET_KEY = 'record_check/offset'
_IS_END_KEY = 'record_check/is_end'
_FOUND_KEY = 'record_check/found'
_UNPARSED_KEY = 'record_check/unparsed'
_POSITION_KEYS = (_INDEX_KEY, _OFFSET_KEY, _IS_END_KEY, _FOUND_KEY)

_STAT_THREADS = 16

# A TFRecord is framed by its length (8 bytes) with a CRC (4) before the
# data and the data's CRC (4) after it.
_FRAMING_BYTES = 16

_GONE = ('file not found: it was deleted or moved after the input pipeline '
         'was built')


def _exists(filename: tf.Tensor) -> tf.Tensor:
  """Whether the file `filename` exists (bool scalar)."""
  # Escaped, the name is a glob pattern that matches only itself.
  literal = tf.strings.regex_replace(filename, r'([*?\[\\])', r'\\\1')
  return tf.size(tf.io.matching_files(literal)) > 0


def _framed_records(filename: tf.Tensor) -> tf.data.Dataset:
  """The records of one file, numbered, then an end-of-file marker.

  Args:
    filename: string scalar.

  Returns:
    Dataset of (serialized, is_end, index, offset, found): the record (b''
    for the marker), whether it is the marker, its position in the file,
    the byte offset just after it and whether the file was there to be
    read. The marker's offset is the number of bytes read without error.
  """

  # The reader skips a file only once reading it failed: one it cannot open
  # it retries for ever under ignore_errors (at full CPU, without an error).
  # So a file gone since the pipeline was built is not given to the reader.
  # The check runs when this file's dataset is made, just before the
  # interleave first reads it; it adds no dataset, so an input state saved
  # by earlier versions still restores.
  found = _exists(filename)
  present = tf.boolean_mask(tf.reshape(filename, [1]), tf.reshape(found, [1]))
  # On a CRC or truncation error the reader gives up on the file and moves
  # on, which ends this one-file dataset.
  records = tf.data.TFRecordDataset(present).ignore_errors()
  framed = records.map(lambda record: (record, False, found)).concatenate(
      tf.data.Dataset.from_tensors((tf.constant(b''), True, found)))

  def number(state, element):
    index, offset = state
    serialized, is_end, found = element
    length = tf.strings.length(serialized, unit='BYTE')
    size = tf.cast(length, tf.int64) + _FRAMING_BYTES
    offset += tf.where(is_end, tf.constant(0, tf.int64), size)
    return (index + 1, offset), (serialized, is_end, index, offset, found)

  zero = tf.constant(0, tf.int64)
  return framed.scan((zero, zero), number)


def _parsed_records(framed: tf.data.Dataset,
                    decode_fn: Callable[[tf.Tensor], video_checks.Features]
                   ) -> tf.data.Dataset:
  """Decodes records, noting how many unparsable ones precede each.

  The end-of-file marker parses as an empty record.

  Returns:
    Dataset of decoded dicts plus the position keys and `_UNPARSED_KEY`,
    the number of records dropped since the previous element.
  """

  def decode(serialized, is_end, index, offset, found):
    return {**decode_fn(serialized), _IS_END_KEY: is_end, _INDEX_KEY: index,
            _OFFSET_KEY: offset, _FOUND_KEY: found}

  # ignore_errors drops only the records that fail to parse; the numbering
  # then has a gap where each of them was.
  parsed = framed.map(decode).ignore_errors()

  def count_gap(expected_index, element):
    index = element[_INDEX_KEY]
    return index + 1, {**element, _UNPARSED_KEY: index - expected_index}

  return parsed.scan(tf.constant(0, tf.int64), count_gap)


def file_sizes(files: Sequence[str]) -> tf.lookup.StaticHashTable:
  """A table of the files' lengths in bytes (-1 for other names).

  Lengths are read once when the pipeline is built, in parallel since each
  is a request on remote file systems.
  """
  files = sorted(set(files))
  with concurrent.futures.ThreadPoolExecutor(_STAT_THREADS) as pool:
    sizes = list(pool.map(lambda f: tf.io.gfile.stat(f).length, files))
  return tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
          tf.constant(files, tf.string), tf.constant(sizes, tf.int64)),
      default_value=-1)


def _file_problem(element: video_checks.Features,
                  cut_off: tf.Tensor) -> tf.Tensor:
  """Problem text at an end-of-file marker: '' unless the file was gone or
  cut off."""

  def framing():
    return tf.strings.join([
        'TFRecord framing or CRC check failed at byte ',
        video_checks.as_text(element[_OFFSET_KEY]), ' (after ',
        video_checks.as_text(element[_INDEX_KEY]),
        ' good records); the rest of the file is not read'])

  return tf.cond(element[_FOUND_KEY],
                 lambda: tf.cond(cut_off, framing, lambda: tf.constant('')),
                 lambda: tf.constant(_GONE))


def _parse_problem(element: video_checks.Features, image_key: str) -> tf.Tensor:
  """Problem text for the unparsable records before `element`, or ''."""
  count = element[_UNPARSED_KEY]
  first = element[_INDEX_KEY] - count
  return tf.cond(
      count > 0,
      lambda: tf.strings.join([
          'record ', video_checks.as_text(first),
          tf.cond(count > 1, lambda: tf.strings.join(
              [' to ', video_checks.as_text(first + count - 1)]), lambda: ''),
          ' of the file did not parse as a tf.train.SequenceExample with '
          f'string frames {image_key} and int64 labels']),
      lambda: tf.constant(''))


def check_record(element: video_checks.Features, filename: tf.Tensor,
                 file_size: tf.Tensor, num_classes: int,
                 image_key: str, min_frames: int = 1) -> video_checks.Features:
  """Replaces the position keys of a parsed element by the check keys.

  Args:
    element: from `_parsed_records`.
    filename: string scalar, the file it was read from.
    file_size: int64 scalar, the file's length in bytes.
    num_classes: labels are checked against it when > 0.
    image_key: frame feature name, for messages.
    min_frames: shorter videos are bad records.

  Returns:
    The decoded keys plus the check keys of `video_checks`: `SOURCE_KEY`
    (file name), `PROBLEM_KEY` ('' or what is wrong), `NUM_BAD_KEY` (int64,
    bad records this element reports) and `KEEP_KEY` (whether it is a good
    video).
  """
  is_end = element[_IS_END_KEY]
  # Only the end marker's offset is all the bytes read.
  cut_off = is_end & element[_FOUND_KEY] & (element[_OFFSET_KEY] < file_size)
  file_bad = is_end & (cut_off | tf.logical_not(element[_FOUND_KEY]))
  checks = video_checks.content_checks(element, num_classes, image_key,
                                       min_frames)
  content_bad = tf.logical_not(is_end) & tf.reduce_any(
      tf.stack([failed for failed, _ in checks]))

  def describe():
    own = tf.cond(is_end, lambda: _file_problem(element, cut_off),
                  lambda: video_checks.first_failure(checks,
                                                     element['video_id']))
    parts = tf.stack([_parse_problem(element, image_key), own])
    problem = tf.strings.reduce_join(
        tf.boolean_mask(parts, tf.strings.length(parts) > 0), separator='; ')
    return problem, tf.strings.length(own) > 0

  # Nearly every record is clean and takes this one cheap branch: building
  # the messages costs more than reading the record.
  problem, own_bad = tf.cond(
      file_bad | content_bad | (element[_UNPARSED_KEY] > 0), describe,
      lambda: (tf.constant(''), tf.constant(False)))
  decoded = {k: v for k, v in element.items()
             if k not in _POSITION_KEYS + (_UNPARSED_KEY,)}
  return {
      **decoded,
      video_checks.SOURCE_KEY: filename,
      video_checks.PROBLEM_KEY: problem,
      video_checks.NUM_BAD_KEY: (element[_UNPARSED_KEY]
                                 + tf.cast(own_bad, tf.int64)),
      video_checks.KEEP_KEY: tf.logical_not(is_end | own_bad),
  }


def strip_checks(element: video_checks.Features,
                 keep_source: bool = False) -> video_checks.Features:
  """The decoded video alone (and its file name, with `keep_source`)."""
  dropped = set(video_checks.CHECK_KEYS) - (
      {video_checks.SOURCE_KEY} if keep_source else set())
  return {k: v for k, v in element.items() if k not in dropped}


_BAD_RECORD = 'bad record in '


def _keep_or_raise(element: video_checks.Features) -> tf.Tensor:
  """Whether `element` is a good video; raises if it reports bad records."""
  message = tf.strings.join([_BAD_RECORD, element[video_checks.SOURCE_KEY],
                             ': ', element[video_checks.PROBLEM_KEY]])
  check = tf.debugging.Assert(element[video_checks.NUM_BAD_KEY] == 0,
                              [message])
  with tf.control_dependencies([check]):
    return tf.identity(element[video_checks.KEEP_KEY])


def bad_record_message(error_text: str) -> Optional[str]:
  """`bad record in FILE: PROBLEM` from the text of the error the input
  stopped with, or None if it stopped for another reason."""
  for line in error_text.splitlines():
    start = line.find(_BAD_RECORD)
    if start >= 0:
      # tf.debugging.Assert prints its data in brackets.
      return line[start:].rstrip(']')
  return None


def read_checked_file(filename: tf.Tensor, file_size: tf.Tensor,
                      decode_fn: Callable[[tf.Tensor], video_checks.Features],
                      num_classes: int, image_key: str,
                      skip_bad_records: bool,
                      min_frames: int = 1) -> tf.data.Dataset:
  """Decoded, checked videos of one TFRecord file.

  Args:
    filename: string scalar.
    file_size: int64 scalar, its length in bytes.
    decode_fn: serialized SequenceExample -> dict with 'frames', 'label',
      'video_id'; must decode a record without frames as zero frames.
    num_classes: labels are checked against it when > 0.
    image_key: frame feature name, for messages.
    skip_bad_records: report bad records for
      `skipped_records.drop_bad_records` instead of raising.
    min_frames: shorter videos are bad records.

  Returns:
    Decoded videos in file order. When skipping, elements keep the check
    keys and include one per bad record found (`video_checks.KEEP_KEY`
    False); otherwise
    only good videos, without check keys.
  """
  checked = _parsed_records(_framed_records(filename), decode_fn).map(
      lambda element: check_record(element, filename, file_size, num_classes,
                                   image_key, min_frames))
  return keep_good_videos(checked, skip_bad_records)


def keep_good_videos(checked: tf.data.Dataset,
                     skip_bad_records: bool) -> tf.data.Dataset:
  """The good videos of checked elements, raising at the first bad one.

  With `skip_bad_records` the elements that report bad records stay, check
  keys and all, for `skipped_records.drop_bad_records`.
  """
  if skip_bad_records:
    return checked.filter(
        lambda element: (element[video_checks.KEEP_KEY]
                         | (element[video_checks.NUM_BAD_KEY] > 0)))
  return checked.filter(_keep_or_raise).map(strip_checks)


def checked_dataset_fn(files: Sequence[str],
                       decode_fn: Callable[[tf.Tensor], video_checks.Features],
                       num_classes: int, image_key: str,
                       skip_bad_records: bool, min_frames: int = 1):
  """An `InputReader` dataset_fn reading files through `read_checked_file`.

  Args:
    files: every file the reader may pass, as `InputReader` matches them.
    decode_fn: see `read_checked_file`.
    num_classes: see `read_checked_file`.
    image_key: see `read_checked_file`.
    skip_bad_records: see `read_checked_file`.
    min_frames: see `read_checked_file`.

  Returns:
    A function of one file name (a string tensor: `InputReader` interleaves
    the files) or of a list of them (`InputReader` passes the whole list
    when there are fewer files than input pipelines).
  """
  sizes = file_sizes(files)

  def read_one(filename: tf.Tensor) -> tf.data.Dataset:
    return read_checked_file(filename, sizes.lookup(filename), decode_fn,
                             num_classes, image_key, skip_bad_records,
                             min_frames)

  def dataset_fn(names: Union[tf.Tensor, Sequence[str]]) -> tf.data.Dataset:
    if isinstance(names, (list, tuple)):
      return tf.data.Dataset.from_tensor_slices(list(names)).flat_map(
          read_one)
    return read_one(names)

  return dataset_fn
