"""Writes per-video encoder features of TFRecords or a TFDS split to `.npz`.

  python tools/extract_features.py --experiment=cvrl_pretrain \
    --config_file=cvrl_tf/configs/experiments/cvrl_pretrain_k400_r3d50_800ep.yaml \
    --checkpoint_path=gs://bucket/pretrain \
    --input_path='gs://bucket/records/validation-*' \
    --output_path=gs://bucket/features/validation.npz

or, instead of --input_path, a dataset built by `tfds build`:

    --tfds_name=ucf101/ucf101_1 --tfds_split=test --tfds_data_dir=/data/tfds

The file holds `video_ids` [V], `labels` [V] and `features` [V, C]; see
`cvrl_tf.evaluation.extract`.
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging

from cvrl_tf import common_flags
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.evaluation import extract

_CHECKPOINT_FLAGS = common_flags.define_checkpoint_flags()
_INPUT_PATH = flags.DEFINE_string(
    'input_path', '', 'TFRecord file pattern(s), comma-separated; or give '
    '--tfds_name and --tfds_split.')
_TFDS = common_flags.define_tfds_flags('--input_path',
                                      'Its split, e.g. train or test.')
_OUTPUT_PATH = flags.DEFINE_string(
    'output_path', None, 'The .npz file to write, local or gs://.',
    required=True)
_NUM_TEST_CLIPS = flags.DEFINE_integer(
    'num_test_clips', None,
    'Clips per video. Default: task.validation_data.num_test_clips.')
_NUM_TEST_CROPS = flags.DEFINE_integer(
    'num_test_crops', None, 'Spatial crops per clip, 1 or 3. Default: '
    'task.validation_data.num_test_crops.')


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  try:
    params = _CHECKPOINT_FLAGS.experiment_params()
    arrays = extract.extract_to_npz(
        params, _CHECKPOINT_FLAGS.checkpoint_path.value, _INPUT_PATH.value,
        _OUTPUT_PATH.value, _NUM_TEST_CLIPS.value, _NUM_TEST_CROPS.value,
        tfds_name=_TFDS.name.value, tfds_split=_TFDS.split.value,
        tfds_data_dir=_TFDS.data_dir.value)
  except common_flags.CHECKPOINT_TOOL_ERRORS + (extract.SourceError,) as e:
    sys.exit(f'error: {e}')
  print(f'Wrote features {arrays["features"].shape} of '
        f'{len(arrays["video_ids"])} videos to {_OUTPUT_PATH.value}')


if __name__ == '__main__':
  app.run(main)
