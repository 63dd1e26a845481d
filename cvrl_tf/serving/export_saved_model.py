"""Exports the pretrained encoder f as a SavedModel.

Both signatures return {'features': float32 [B, C]}, the globally pooled
last backbone endpoint (`CVRLModel.encode`):

  serving_default  images: uint8 [B, T, H, W, 3] RGB frames
  serve_float      images: float32 [B, T, H, W, 3] in [0, 1]

uint8 frames are scaled to [0, 1] as the input pipeline scales decoded
frames, and both then go through its `normalize` (to [-1, 1] if the
experiment sets `zero_centering_image`). T, H and W are fixed at export, or
None to accept any clip size. Loading needs TensorFlow only:

  encoder = tf.saved_model.load(export_dir)
  features = encoder.signatures['serving_default'](images=clips)['features']
"""
import os
from typing import Dict, Mapping, Optional, Sequence

import tensorflow as tf
import tf_keras
from official.core import config_definitions as cfg
from official.core import export_base
from official.modeling import hyperparams

from cvrl_tf.dataloaders import video_input
from cvrl_tf.evaluation import extract

UINT8_SIGNATURE = 'serving_default'
FLOAT_SIGNATURE = 'serve_float'
# Input type -> signature name, as Model Garden's `function_keys`.
FUNCTION_KEYS = {'uint8': UINT8_SIGNATURE, 'float': FLOAT_SIGNATURE}


def _encode(images: tf.Tensor, model: tf_keras.Model) -> tf.Tensor:
  return model(images, training=False)


class EncoderExportModule(export_base.ExportModule):
  """Serves the encoder of a CVRL model on clips [B, T, H, W, 3]."""

  def __init__(self, params: cfg.ExperimentConfig, model: tf_keras.Model,
               clip_shape: Sequence[Optional[int]]):
    """Initializes the module.

    Args:
      params: the experiment; its train_data sets the normalisation.
      model: a `CVRLModel`; only its encoder is exported.
      clip_shape: (T, H, W) of the served clips, None entries for any size.
    """
    super().__init__(params, model.encoder, inference_step=_encode)
    self._input_shape = [None, *clip_shape, 3]
    self._zero_centering = params.task.train_data.zero_centering_image

  def serve(self, images: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Float clips [B, T, H, W, 3] in [0, 1] -> {'features': [B, C]}."""
    images = video_input.normalize(images, self._zero_centering, tf.float32)
    return {'features': self.inference_step(images)}

  def serve_uint8(self, images: tf.Tensor) -> Dict[str, tf.Tensor]:
    """uint8 clips [B, T, H, W, 3] -> {'features': [B, C]}."""
    return self.serve(tf.cast(images, tf.float32) * (1.0 / 255.0))

  def get_inference_signatures(
      self, function_keys: Mapping[str, str]
  ) -> Dict[str, tf.types.experimental.ConcreteFunction]:
    """{signature name: concrete function} for input types 'uint8', 'float'."""
    functions = {'uint8': (self.serve_uint8, tf.uint8),
                 'float': (self.serve, tf.float32)}
    signatures = {}
    for input_type, name in function_keys.items():
      if input_type not in functions:
        raise ValueError(f'Unknown input type {input_type!r}; expected one '
                         f'of {sorted(functions)}.')
      function, dtype = functions[input_type]
      signatures[name] = tf.function(function).get_concrete_function(
          tf.TensorSpec(self._input_shape, dtype, name='images'))
    return signatures


def export_saved_model(params: cfg.ExperimentConfig, checkpoint_path: str,
                       export_dir: str,
                       clip_shape: Optional[Sequence[Optional[int]]] = None
                       ) -> str:
  """Restores the pretrained backbone and writes the encoder's SavedModel.

  Args:
    params: experiment whose `task.model` matches the checkpoint.
    checkpoint_path: checkpoint prefix or directory (latest checkpoint),
      local or gs://, with the backbone under `backbone/`.
    export_dir: SavedModel directory, on any tf.io.gfile filesystem; the
      experiment is also written there as `params.yaml`.
    clip_shape: (T, H, W) of the served clips, None entries for any size;
      default `task.train_data.feature_shape`.

  Returns:
    `export_dir`.

  Raises:
    checkpoints.CheckpointMismatchError: the checkpoint's backbone does not
      match `task.model`.
  """
  if clip_shape is None:
    clip_shape = params.task.train_data.feature_shape[:3]
  model = extract.restore_model(params.task.model, [*clip_shape, 3],
                                checkpoint_path)
  export_base.export(EncoderExportModule(params, model, clip_shape),
                     FUNCTION_KEYS, export_dir, timestamped=False)
  hyperparams.save_params_dict_to_yaml(
      params, os.path.join(export_dir, 'params.yaml'))
  return export_dir
