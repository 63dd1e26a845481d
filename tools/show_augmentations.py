"""Draws what the training pipeline of an experiment feeds the model.

  python tools/show_augmentations.py --experiment=cvrl_pretrain \
    --config_file=cvrl_tf/configs/experiments/cvrl_pretrain_k400_r3d50_800ep.yaml \
    --params_override='task.train_data.input_path=/data/train-*' \
    --output=grid.png --num_videos=4

The PNG has a row per video and view (view 1, view 2 of each video), the
clip's T frames left to right, exactly as the training input (with
`device_augmentation`, as the train step finishes them) produces them; see
`cvrl_tf.visualization.augmentations`.
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
import tensorflow as tf

from cvrl_tf import common_flags
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.visualization import augmentations

_EXPERIMENT_FLAGS = common_flags.define_experiment_flags()
_OUTPUT = flags.DEFINE_string('output', 'grid.png',
                              'The PNG file to write, local or gs://.')
_NUM_VIDEOS = flags.DEFINE_integer('num_videos', 4, 'Videos to draw.',
                                   lower_bound=1)


def main(argv):
  del argv
  try:
    params = _EXPERIMENT_FLAGS.experiment_params()
    config_validation.validate(params, 'train')
    image = augmentations.write_augmentation_grid(
        params.task.train_data, _NUM_VIDEOS.value, _OUTPUT.value)
  except (config_validation.ConfigError, ValueError,
          tf.errors.NotFoundError) as e:
    sys.exit(f'error: {e}')
  print(f'Wrote {_OUTPUT.value} ({image.shape[1]} x {image.shape[0]} px)')


if __name__ == '__main__':
  app.run(main)
