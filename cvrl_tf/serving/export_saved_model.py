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

`encoder.serve_uint8(clips)` and `encoder.serve_float(clips)` work as well.
"""
import os
from typing import Dict, Optional, Sequence

import tensorflow as tf
import tf_keras
from official.core import config_definitions as cfg
from official.modeling import hyperparams

from cvrl_tf.evaluation import extract
from cvrl_tf.ops import spatial_augmentation

UINT8_SIGNATURE = 'serving_default'
FLOAT_SIGNATURE = 'serve_float'


class EncoderModule(tf.Module):
  """The encoder's serving functions and the variables they read.

  The Keras encoder itself is not tracked: a SavedModel of Keras objects
  stores every layer's traced calls too, which takes several times longer
  to save and to load and is of no use to `tf.saved_model.load`.
  """

  def __init__(self, encoder: tf_keras.Model,
               clip_shape: Sequence[Optional[int]], zero_centering: bool):
    """Initializes the module.

    Args:
      encoder: clips [B, T, H, W, 3] -> features [B, C].
      clip_shape: (T, H, W) of the served clips, None entries for any size.
      zero_centering: map frames to [-1, 1], as the experiment's input
        pipeline does when `zero_centering_image` is set.
    """
    super().__init__(name='cvrl_encoder')
    self.encoder_variables = list(encoder.variables)
    self._self_setattr_tracking = False
    self._encoder = encoder
    self._self_setattr_tracking = True
    self._zero_centering = zero_centering
    shape = [None, *clip_shape, 3]
    self.serve_float = tf.function(
        self._serve_float,
        input_signature=[tf.TensorSpec(shape, tf.float32, name='images')])
    self.serve_uint8 = tf.function(
        self._serve_uint8,
        input_signature=[tf.TensorSpec(shape, tf.uint8, name='images')])

  def _serve_float(self, images: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Clips [B, T, H, W, 3] in [0, 1] -> {'features': [B, C]}."""
    images = spatial_augmentation.normalize(images, self._zero_centering,
                                            tf.float32)
    return {'features': self._encoder(images, training=False)}

  def _serve_uint8(self, images: tf.Tensor) -> Dict[str, tf.Tensor]:
    """uint8 clips [B, T, H, W, 3] -> {'features': [B, C]}."""
    return self._serve_float(tf.cast(images, tf.float32) * (1.0 / 255.0))

  def signatures(self) -> Dict[str, tf.types.experimental.ConcreteFunction]:
    """The SavedModel's signatures: {name: concrete function}."""
    return {UINT8_SIGNATURE: self.serve_uint8.get_concrete_function(),
            FLOAT_SIGNATURE: self.serve_float.get_concrete_function()}


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
  module = EncoderModule(model.encoder, clip_shape,
                         params.task.train_data.zero_centering_image)
  tf.saved_model.save(module, export_dir, signatures=module.signatures())
  hyperparams.save_params_dict_to_yaml(
      params, os.path.join(export_dir, 'params.yaml'))
  return export_dir
