"""Exports a pretrained CVRL encoder as a SavedModel.

  python tools/export_model.py --experiment=cvrl_pretrain \
    --config_file=cvrl_tf/configs/experiments/cvrl_pretrain_k400_r3d50_800ep.yaml \
    --checkpoint_path=gs://bucket/pretrain --export_dir=gs://bucket/encoder

See `cvrl_tf.serving.export_saved_model` for the signatures.
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging

from cvrl_tf import common_flags
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.serving import export_saved_model

_CHECKPOINT_FLAGS = common_flags.define_checkpoint_flags()
_EXPORT_DIR = flags.DEFINE_string(
    'export_dir', None, 'SavedModel directory, local or gs://.', required=True)
_CLIP_SHAPE = flags.DEFINE_list(
    'clip_shape', None, 'T,H,W of the served clips; "None" accepts any size '
    'along that axis. Default: task.train_data.feature_shape.')


def parse_clip_shape(values):
  """[T, H, W] from three strings, each an integer or 'None'."""
  if len(values) != 3:
    raise config_validation.ConfigError(
        f'--clip_shape needs three values T,H,W, got {",".join(values)!r}.')
  try:
    return [None if v.strip().lower() == 'none' else int(v) for v in values]
  except ValueError as e:
    raise config_validation.ConfigError(f'--clip_shape: {e}.') from e


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  try:
    params = _CHECKPOINT_FLAGS.experiment_params()
    clip_shape = (parse_clip_shape(_CLIP_SHAPE.value)
                  if _CLIP_SHAPE.value else None)
    export_dir = export_saved_model.export_saved_model(
        params, _CHECKPOINT_FLAGS.checkpoint_path.value, _EXPORT_DIR.value,
        clip_shape)
  except common_flags.CHECKPOINT_TOOL_ERRORS as e:
    sys.exit(f'error: {e}')
  print(f'Exported the encoder to {export_dir}')


if __name__ == '__main__':
  app.run(main)
