r"""Puts a local copy of UCF-101 where `tfds build ucf101` finds its download.

TFDS's ucf101 builder downloads UCF101_videos.zip (7 GB) and the split
lists; with this, it builds from the videos and lists already on disk:

  python tools/ucf101_tfds_cache.py --video_dir=UCF-101 \
      --split_dir=ucfTrainTestlist --download_dir=/data/tfds/downloads
  tfds build ucf101 --config ucf101_1 --data_dir=/data/tfds \
      --download_dir=/data/tfds/downloads

See `cvrl_tf/data_prep/ucf101_tfds_cache.py`: TFDS takes the archives
written here for the registered downloads without checking their bytes.
"""
import sys

from absl import app
from absl import flags
from absl import logging

from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import ucf101_tfds_cache

_VIDEO_DIR = flags.DEFINE_string(
    'video_dir', None, 'The .avi videos, at any depth (e.g. UCF-101/<Class>/ '
    'as UCF101.rar unpacks).')
_SPLIT_DIR = flags.DEFINE_string(
    'split_dir', None, 'classInd.txt, trainlist0N.txt and testlist0N.txt.')
_DOWNLOAD_DIR = flags.DEFINE_string(
    'download_dir', None, "TFDS's download directory: `tfds build "
    "--download_dir`, by default <data_dir>/downloads.")

flags.mark_flags_as_required(['video_dir', 'split_dir', 'download_dir'])


def main(argv):
  del argv  # Unused.
  try:
    archives = ucf101_tfds_cache.seed_download_cache(
        _VIDEO_DIR.value, _SPLIT_DIR.value, _DOWNLOAD_DIR.value)
  except (sources.InputError, OSError) as e:
    sys.exit(f'error: {e}')
  logging.info('Wrote %d videos to %s and %s to %s.', archives.num_videos,
               archives.videos_zip, ', '.join(archives.split_lists),
               archives.splits_zip)


if __name__ == '__main__':
  app.run(main)
