r"""Writes the toy motion-class video dataset as H.264 mp4 files.

The classes differ only in how an object moves; see
`cvrl_tf/data_prep/toy_videos.py` for the classes and the file layout.

Usage:
  python tools/make_toy_videos.py --output_dir=/tmp/toy
"""
import time

from absl import app
from absl import flags
from absl import logging

from cvrl_tf.data_prep import toy_videos

_OUTPUT_DIR = flags.DEFINE_string('output_dir', None,
                                  'Root directory of the dataset tree.')
_TRAIN_PER_CLASS = flags.DEFINE_integer('train_per_class', 50,
                                        'Training videos per class.')
_TEST_PER_CLASS = flags.DEFINE_integer('test_per_class', 20,
                                       'Test videos per class.')
_SEED = flags.DEFINE_integer('seed', 0, 'Dataset seed.')
_SIZE = flags.DEFINE_integer('size', 128, 'Frame height and width in pixels.')
_FPS = flags.DEFINE_integer('fps', 25, 'Frame rate.')
_NUM_APPEARANCES = flags.DEFINE_integer(
    'num_appearances', toy_videos.DEFAULT_NUM_APPEARANCES,
    'Appearances shared by all classes; 0: a new one for every video.')
_VARY_APPEARANCE = flags.DEFINE_bool(
    'vary_appearance', False,
    'Give every video its own hue, saturation, brightness and contrast '
    '(object and background apart) and object scale, independent of the '
    'class: the shortcut that spatial augmentation blocks (CVRL Table 4).')
_NUM_WORKERS = flags.DEFINE_integer(
    'num_workers', None, 'Worker processes; defaults to the number of CPUs.')

flags.mark_flag_as_required('output_dir')


def main(argv):
  del argv  # Unused.
  start = time.time()
  info = toy_videos.make_toy_dataset(
      _OUTPUT_DIR.value,
      train_per_class=_TRAIN_PER_CLASS.value,
      test_per_class=_TEST_PER_CLASS.value,
      seed=_SEED.value,
      size=_SIZE.value,
      fps=_FPS.value,
      num_workers=_NUM_WORKERS.value,
      num_appearances=_NUM_APPEARANCES.value,
      vary=_VARY_APPEARANCE.value)
  logging.info('Wrote %s videos of %d classes to %s in %.1f s.',
               info['num_videos'], len(info['classes']), _OUTPUT_DIR.value,
               time.time() - start)


if __name__ == '__main__':
  app.run(main)
