"""Records of converted videos and atomic file writing.

One `tf.train.SequenceExample` per video, laid out as `record_layout`
describes. Files are written under a temporary name in their final folder
and renamed into place, through `tf.io.gfile` so that `gs://` folders work,
so a reader never sees a partly written file under a final name. On GCS a
rename is a copy, then a delete of the source: the copy still makes the
final object appear whole, but a kill between the two leaves the temporary
object, which `remove_temp_files` deletes on the next run. Nothing here
flushes a file before closing it: TensorFlow's GCS `Flush()` uploads the
object written so far, which would make it visible while partial.
"""

import json
import os
import uuid
from typing import Any, Optional

import tensorflow as tf

from cvrl_tf.data_prep import record_layout
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import video_decoding

LABEL_MAP_NAME = 'label_map.json'

# Prefix of temporary files. It keeps them out of `SPLIT-*` and `*.tfrecord`
# patterns while they are being written.
TEMP_PREFIX = '.tmp.'


def make_sequence_example(
    video: sources.VideoEntry,
    decoded: video_decoding.DecodedVideo,
    flow_method: Optional[str] = None) -> tf.train.SequenceExample:
  """Builds the record of one video.

  Args:
    video: The video's id and label.
    decoded: Its frames, and flows if `flow_method` is set.
    flow_method: How `decoded.flows` were computed.
  """
  example = tf.train.SequenceExample()
  context = example.context.feature
  context[record_layout.LABEL_INDEX_KEY].int64_list.value.append(
      video.label_index)
  context[record_layout.LABEL_TEXT_KEY].bytes_list.value.append(
      video.label_text.encode())
  context[record_layout.VIDEO_ID_KEY].bytes_list.value.append(
      video.video_id.encode())
  context[record_layout.FPS_KEY].float_list.value.append(decoded.fps)
  context[record_layout.SOURCE_FPS_KEY].float_list.value.append(
      decoded.source_fps)
  context[record_layout.NUM_FRAMES_KEY].int64_list.value.append(
      len(decoded.frames))
  images = example.feature_lists.feature_list[record_layout.IMAGE_KEY]
  for jpeg in decoded.frames:
    images.feature.add().bytes_list.value.append(jpeg)
  if decoded.flows:
    context[record_layout.FLOW_METHOD_KEY].bytes_list.value.append(
        flow_method.encode())
    flows = example.feature_lists.feature_list[record_layout.FLOW_KEY]
    for jpeg in decoded.flows:
      flows.feature.add().bytes_list.value.append(jpeg)
  return example


def shard_name(split: str, index: int, num_shards: int) -> str:
  """File name of a shard, e.g. `train-00003-of-00016.tfrecord`."""
  return f'{split}-{index:05d}-of-{num_shards:05d}.tfrecord'


def shard_pattern(split: str) -> str:
  """Glob pattern matching the shards of `split` for any shard count."""
  five_digits = '[0-9]' * 5
  return f'{split}-{five_digits}-of-{five_digits}.tfrecord'


def report_name(split: str) -> str:
  """File name of the conversion report of `split`."""
  return f'{split}_report.json'


def manifest_name(split: str) -> str:
  """File name of the list of finished shards of `split`."""
  return f'{split}_manifest.json'


def temp_path(path: str) -> str:
  """A unique temporary name next to `path`, matched by `remove_temp_files`."""
  directory, name = os.path.split(path)
  return os.path.join(directory, f'{TEMP_PREFIX}{name}.{uuid.uuid4().hex}')


class AtomicRecordWriter:
  """Writes a TFRecord file that appears under its final name only when done.

  Call `commit` to publish the file. Used as a context manager, an exception
  raised inside the block deletes the temporary file.
  """

  def __init__(self, path: str):
    self._path = path
    self._temp_path = temp_path(path)
    self._writer = tf.io.TFRecordWriter(self._temp_path)

  def write(self, serialized: bytes) -> None:
    self._writer.write(serialized)

  def commit(self) -> int:
    """Closes the file, moves it to its final name; returns its size."""
    self._writer.close()
    tf.io.gfile.rename(self._temp_path, self._path, overwrite=True)
    return tf.io.gfile.stat(self._path).length

  def abort(self) -> None:
    self._writer.close()
    tf.io.gfile.remove(self._temp_path)

  def __enter__(self) -> 'AtomicRecordWriter':
    return self

  def __exit__(self, exc_type, exc_value, traceback) -> None:
    if exc_type is not None:
      self.abort()


def write_json(path: str, value: Any) -> None:
  """Writes `value` as JSON, atomically."""
  temp = temp_path(path)
  with tf.io.gfile.GFile(temp, 'w') as f:
    json.dump(value, f, indent=1, sort_keys=True)
  tf.io.gfile.rename(temp, path, overwrite=True)


def read_json(path: str) -> Optional[Any]:
  """Returns the JSON value of a file, or None if it is missing or invalid."""
  if not tf.io.gfile.exists(path):
    return None
  try:
    with tf.io.gfile.GFile(path) as f:
      return json.load(f)
  except ValueError:
    return None


def remove_temp_files(output_dir: str, split: str) -> int:
  """Deletes temporary files left by killed runs of `split`; returns count."""
  names = [shard_pattern(split), report_name(split), manifest_name(split),
           LABEL_MAP_NAME]
  patterns = [f'{TEMP_PREFIX}{name}.*' for name in names]
  paths = [path for pattern in patterns
           for path in tf.io.gfile.glob(os.path.join(output_dir, pattern))]
  for path in paths:
    tf.io.gfile.remove(path)
  return len(paths)
