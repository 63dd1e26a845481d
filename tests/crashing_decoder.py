"""A decoding function that kills its process for marked paths.

Kept apart from the test modules so that the worker processes unpickling it
import only the TensorFlow-free decoder.
"""
import os

from cvrl_tf.data_prep import video_decoding

MIN_RESIZE = 32


def decode_or_crash(path):
  """Kills its own process for paths ending in 'crash', else decodes."""
  if path.endswith('crash'):
    os._exit(7)  # pylint: disable=protected-access
  return video_decoding.decode_video(
      path, video_decoding.DecodeOptions(min_resize=MIN_RESIZE))
