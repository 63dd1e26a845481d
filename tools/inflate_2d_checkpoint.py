"""Inflates a 2D ResNet (or single-frame R3D) checkpoint into an R3D one.

CVRL's "ImageNet inflated" baseline, from a Model Garden image
classification checkpoint of a 2D ResNet-50 (e.g. `resnet_imagenet`):

  python tools/inflate_2d_checkpoint.py --experiment=cvrl_linear_eval \
    --config_file=cvrl_tf/configs/experiments/cvrl_linear_eval_k400_r3d50.yaml \
    --checkpoint_path=gs://BUCKET/resnet50_imagenet \
    --output_dir=gs://BUCKET/r3d50_inflated

The experiment describes the target R3D (`task.model.backbone`); the output
is its `init_checkpoint` with `init_checkpoint_modules: backbone`. The
"SimCLR inflated" baseline pretrains on single frames (T=1 clips), then
inflates with --source=single_frame. See `cvrl_tf.modeling.inflation`.
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging

from cvrl_tf import common_flags
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.modeling import inflation

_CHECKPOINT_FLAGS = common_flags.define_checkpoint_flags()
_OUTPUT_DIR = flags.DEFINE_string(
    'output_dir', None, 'Directory for the inflated checkpoint, local or '
    'gs://.', required=True)
_SOURCE = flags.DEFINE_enum(
    'source', 'resnet2d', inflation.SOURCES,
    'resnet2d: a 2D ResNet under `backbone/` (Model Garden image '
    'classification); single_frame: the experiment\'s R3D trained on T=1 '
    'clips.')
_RESNET_MODEL_ID = flags.DEFINE_integer(
    'resnet_model_id', None, 'Depth of the 2D ResNet; default the R3D\'s.')
_RESNET_DEPTH_MULTIPLIER = flags.DEFINE_float(
    'resnet_depth_multiplier', None,
    'Width of the 2D ResNet; default (and only supported) the R3D\'s.')


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  try:
    params = _CHECKPOINT_FLAGS.experiment_params()
    prefix = inflation.inflate_checkpoint(
        params.task.model, _CHECKPOINT_FLAGS.checkpoint_path.value,
        _OUTPUT_DIR.value,
        source=_SOURCE.value, resnet_model_id=_RESNET_MODEL_ID.value,
        resnet_depth_multiplier=_RESNET_DEPTH_MULTIPLIER.value)
  except common_flags.CHECKPOINT_TOOL_ERRORS + (
      inflation.InflationError, FileExistsError) as e:
    sys.exit(f'error: {e}')
  model_id = params.task.model.backbone.get().model_id
  print(f'Wrote the inflated R3D-{model_id} backbone to {prefix} '
        f'({_SOURCE.value} checkpoint '
        f'{_CHECKPOINT_FLAGS.checkpoint_path.value}).')


if __name__ == '__main__':
  app.run(main)
