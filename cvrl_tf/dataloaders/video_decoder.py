"""The parse stage: a serialized video record -> frame strings, label, id."""
import tensorflow as tf

from official.vision.dataloaders import decoder

from cvrl_tf.data_prep import record_layout
from cvrl_tf.dataloaders import record_checks

Features = record_checks.Features


class Decoder(decoder.Decoder):
  """Decodes a `tf.train.SequenceExample` video record.

  Missing keys decode as empty: no frames, no label, video id ''.
  """

  def __init__(self, image_key: str = record_layout.IMAGE_KEY,
               label_key: str = record_layout.LABEL_INDEX_KEY,
               video_id_key: str = record_layout.VIDEO_ID_KEY):
    self._image_key = image_key
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
      and 'video_id' string scalar.
    """
    context, sequences = tf.io.parse_single_sequence_example(
        serialized_example,
        context_features=self._context_features,
        sequence_features={
            # A record without frames is reported by `record_checks`.
            self._image_key: tf.io.FixedLenSequenceFeature(
                [], tf.string, allow_missing=True),
        })
    return {
        'frames': sequences[self._image_key],
        'label': tf.sparse.to_dense(context[self._label_key]),
        'video_id': context[self._video_id_key],
    }

  def decode_context(self, serialized_example: tf.Tensor) -> Features:
    """Like `decode` without the frames: 'label' [L] and 'video_id'."""
    context, _ = tf.io.parse_single_sequence_example(
        serialized_example, context_features=self._context_features)
    return {
        'label': tf.sparse.to_dense(context[self._label_key]),
        'video_id': context[self._video_id_key],
    }
