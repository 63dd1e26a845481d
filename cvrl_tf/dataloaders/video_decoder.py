"""The parse stage: a serialized video record -> frame strings, label, id."""
from typing import Optional

import tensorflow as tf

from official.vision.dataloaders import decoder

from cvrl_tf.data_prep import record_layout
from cvrl_tf.dataloaders import video_checks

Features = video_checks.Features


class Decoder(decoder.Decoder):
  """Decodes a `tf.train.SequenceExample` video record.

  Missing keys decode as empty: no frames, no flows, no label, video id ''.
  """

  def __init__(self, image_key: str = record_layout.IMAGE_KEY,
               label_key: str = record_layout.LABEL_INDEX_KEY,
               video_id_key: str = record_layout.VIDEO_ID_KEY,
               flow_key: Optional[str] = None):
    """Sets the feature names; with `flow_key`, flows are decoded too."""
    self._image_key = image_key
    self._flow_key = flow_key
    self._label_key = label_key
    self._video_id_key = video_id_key
    self._context_features = {
        label_key: tf.io.VarLenFeature(tf.int64),
        video_id_key: tf.io.FixedLenFeature([], tf.string, default_value=''),
    }

  def decode(self, serialized_example: tf.Tensor) -> Features:
    """Decodes a serialized record.

    Args:
      serialized_example: string scalar.

    Returns:
      Dict with 'frames' string [N] (one JPEG per frame), 'label' int64 [L]
      and 'video_id' string scalar; with a flow key, 'flows' string [M]
      (one JPEG per consecutive frame pair, M = N - 1 in a valid record).
    """
    # Records without frames or flows are reported by `record_checks`.
    keys = [key for key in (self._image_key, self._flow_key) if key]
    context, sequences = tf.io.parse_single_sequence_example(
        serialized_example,
        context_features=self._context_features,
        sequence_features={
            key: tf.io.FixedLenSequenceFeature([], tf.string,
                                               allow_missing=True)
            for key in keys
        })
    decoded = {
        'frames': sequences[self._image_key],
        'label': tf.sparse.to_dense(context[self._label_key]),
        'video_id': context[self._video_id_key],
    }
    if self._flow_key:
      decoded['flows'] = sequences[self._flow_key]
    return decoded
