"""The exported encoder SavedModel equals `CVRLModel.encode`."""
import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf import demo
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.evaluation import extract
from cvrl_tf.modeling import checkpoints
from cvrl_tf.modeling import cvrl_model
from cvrl_tf.modeling import input_specs
from cvrl_tf.serving import export_saved_model
import tiny_experiments

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP_SHAPE = (4, 32, 32)
CONFIG_FILES = [demo.TOY_PRETRAIN_YAML]


def tiny_override(width_multiplier=0.25):
  """--params_override (JSON) for a tiny R3D-18 on 4 x 32^2 clips."""
  model = copy.deepcopy(tiny_experiments.TINY_CVRL_MODEL)
  model['backbone']['r3d']['width_multiplier'] = width_multiplier
  return json.dumps({'task': {
      'model': model, 'train_data': tiny_experiments.tiny_data(''),
      'validation_data': tiny_experiments.tiny_data('', global_batch_size=4)}})


def tiny_params(width_multiplier=0.25):
  return config_validation.experiment_params('cvrl_pretrain', CONFIG_FILES,
                                   tiny_override(width_multiplier))


def write_pretrained_checkpoint(params, directory):
  """Saves a backbone the way pretraining does (`ckpt-1` in `directory`).

  BatchNorm statistics are randomised so that a restore which missed them
  would be noticed. Returns the model, whose input shape is fixed.
  """
  model = cvrl_model.build_cvrl_model(
      input_specs.model_input_specs(params.task.train_data.feature_shape),
      params.task.model)
  rng = np.random.default_rng(0)
  for variable in model.backbone.variables:
    if 'moving_variance' in variable.name or 'gamma' in variable.name:
      variable.assign(rng.uniform(0.8, 1.2, variable.shape))
    elif 'moving_mean' in variable.name or 'beta' in variable.name:
      variable.assign(rng.uniform(-0.1, 0.1, variable.shape))
  tf.train.Checkpoint(backbone=model.backbone).save(
      os.path.join(directory, 'ckpt'))
  return model


def run_python(*args, timeout=180):
  return subprocess.run(
      [sys.executable, *args], cwd=REPO, capture_output=True, text=True,
      timeout=timeout, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))


# Loads the SavedModel with TensorFlow alone and runs both signatures on
# clips of the training shape, and the float one on clips of another shape.
LOADER = """
import sys
import numpy as np
import tensorflow as tf
export_dir, clips_path, output_path = sys.argv[1:]
encoder = tf.saved_model.load(export_dir)
clips = np.load(clips_path)
serve_uint8 = encoder.signatures['serving_default']
serve_float = encoder.signatures['serve_float']
outputs = {
    'uint8': serve_uint8(images=tf.constant(clips['uint8'])),
    'float': serve_float(images=tf.constant(clips['uint8'] / np.float32(255))),
    'other_shape': serve_float(images=tf.constant(clips['other_shape'])),
}
assert not [m for m in sys.modules if m.startswith('cvrl_tf')]
np.savez(output_path, **{k: v['features'].numpy() for k, v in outputs.items()})
"""


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
  """(checkpoint directory, model with the saved weights)."""
  directory = str(tmp_path_factory.mktemp('pretrained'))
  return directory, write_pretrained_checkpoint(tiny_params(), directory)


def test_tool_export_loads_without_the_package(pretrained, tmp_path):
  checkpoint_dir, model = pretrained
  export_dir = str(tmp_path / 'encoder')
  result = run_python(
      'tools/export_model.py', '--experiment=cvrl_pretrain',
      *[f'--config_file={f}' for f in CONFIG_FILES],
      f'--params_override={tiny_override()}',
      f'--checkpoint_path={checkpoint_dir}', f'--export_dir={export_dir}',
      '--clip_shape=None,None,None')
  assert result.returncode == 0, result.stderr[-3000:]
  assert tf.io.gfile.exists(os.path.join(export_dir, 'params.yaml'))

  rng = np.random.default_rng(1)
  clips = {
      'uint8': rng.integers(0, 256, (3, *CLIP_SHAPE, 3), dtype=np.uint8),
      'other_shape': rng.uniform(size=(2, 6, 40, 36, 3)).astype(np.float32),
  }
  np.savez(tmp_path / 'clips.npz', **clips)
  result = run_python('-c', LOADER, export_dir, str(tmp_path / 'clips.npz'),
                      str(tmp_path / 'served.npz'))
  assert result.returncode == 0, result.stderr[-3000:]
  served = np.load(tmp_path / 'served.npz')

  expected = model.encode(clips['uint8'] * np.float32(1 / 255)).numpy()
  assert expected.shape == (3, 128)
  np.testing.assert_allclose(served['uint8'], expected, atol=1e-5, rtol=0)
  np.testing.assert_allclose(served['float'], expected, atol=1e-5, rtol=0)
  any_shape = extract.restore_model(
      tiny_params().task.model, [None, None, None, 3], checkpoint_dir)
  np.testing.assert_allclose(
      served['other_shape'], any_shape.encode(clips['other_shape']).numpy(),
      atol=1e-5, rtol=0)


def test_export_to_ram_filesystem(pretrained):
  checkpoint_dir, model = pretrained
  export_dir = export_saved_model.export_saved_model(
      tiny_params(), checkpoint_dir, 'ram://export/encoder')
  encoder = tf.saved_model.load(export_dir)
  serve_uint8 = encoder.signatures[export_saved_model.UINT8_SIGNATURE]
  spec = serve_uint8.structured_input_signature[1]['images']
  assert spec.shape.as_list() == [None, *CLIP_SHAPE, 3]
  assert spec.dtype == tf.uint8

  clips = tf.random.stateless_uniform((2, *CLIP_SHAPE, 3), seed=(1, 2),
                                      maxval=256, dtype=tf.int32)
  clips = tf.cast(clips, tf.uint8)
  np.testing.assert_allclose(
      serve_uint8(images=clips)['features'].numpy(),
      model.encode(tf.cast(clips, tf.float32) / 255).numpy(),
      atol=1e-5, rtol=0)


def test_mismatched_checkpoint_names_variables(pretrained):
  checkpoint_dir, _ = pretrained
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match=r'with other shapes \(backbone/'):
    export_saved_model.export_saved_model(tiny_params(0.5), checkpoint_dir,
                                          'ram://export/wider')
  assert not tf.io.gfile.exists('ram://export/wider')
