"""Writes small TFRecords of rendered toy videos for training tests."""
import os
from typing import Optional

import tensorflow as tf

from cvrl_tf.data_prep import optical_flow
from cvrl_tf.data_prep import records
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import toy_motions
from cvrl_tf.data_prep import toy_videos
from cvrl_tf.data_prep import video_decoding


def write_toy_records(directory: str, split: str = 'train',
                      videos_per_class: int = 2, size: int = 32,
                      num_shards: int = 2, seed: int = 0,
                      max_frames: int = 40, flow: Optional[str] = None) -> str:
  """Renders `videos_per_class` toy videos per class into record shards.

  Frames are capped at `max_frames` to keep records small. With `flow`
  (an `optical_flow.FLOW_METHODS` name) the records also hold the flow
  between consecutive frames, as `tools/make_tfrecords.py --flow` writes
  it. Returns the file pattern of the shards.
  """
  writers = [tf.io.TFRecordWriter(os.path.join(
      directory, records.shard_name(split, i, num_shards)))
             for i in range(num_shards)]
  count = 0
  for class_index, name in enumerate(toy_motions.CLASS_NAMES):
    for index in range(videos_per_class):
      frames = toy_videos.render_video(
          name, toy_videos.video_rng(seed, split, class_index, index),
          size=size)[:max_frames]
      entry = sources.VideoEntry(path='', video_id=f'{name}_{index:04d}',
                                 label_text=name, label_index=class_index)
      flows = []
      if flow:
        sequence = optical_flow.FlowSequence(flow)
        flows = [video_decoding.encode_flow_jpeg(image) for image in
                 map(sequence.add, frames) if image is not None]
      decoded = video_decoding.DecodedVideo(
          frames=[tf.io.encode_jpeg(f).numpy() for f in frames],
          fps=25.0, source_fps=25.0, flows=flows)
      writers[count % num_shards].write(records.make_sequence_example(
          entry, decoded, flow).SerializeToString())
      count += 1
  for writer in writers:
    writer.close()
  return os.path.join(directory, f'{split}-*.tfrecord')
