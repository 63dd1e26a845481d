"""Per-video features of a pretrained encoder, written to an `.npz` file.

The file holds three arrays, one row per video of the input records:

  video_ids  str [V]           the records' `video/id`
  labels     int64 [V]         the records' label index (-1 if unlabeled)
  features   float32 [V, C]    the backbone's pooled output f(x), averaged
                               over num_test_clips x num_test_crops views

These are the features the kNN evaluation uses, before L2 normalisation.
"""
import io
import os
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from official.core import config_definitions as cfg

from cvrl_tf.configs import cvrl as cvrl_cfg
from cvrl_tf.dataloaders import video_input
from cvrl_tf.evaluation import features as features_lib
from cvrl_tf.modeling import checkpoints
from cvrl_tf.modeling import cvrl_model
from cvrl_tf.modeling import input_specs


def restore_model(model_config: cvrl_cfg.CVRLModel,
                  feature_shape: Sequence[Optional[int]],
                  checkpoint_path: str) -> cvrl_model.CVRLModel:
  """Builds the CVRL model and loads its backbone from a checkpoint.

  Only the backbone is restored; the projection head keeps its initial
  weights, as `encode` does not use it.

  Args:
    model_config: the pretraining model config.
    feature_shape: (T, H, W, 3) of the clips; None entries accept any size.
    checkpoint_path: a checkpoint prefix or a directory (latest checkpoint),
      with the backbone under `backbone/`.

  Returns:
    The model, whose `encode` maps clips [B, T, H, W, 3] to [B, C].

  Raises:
    checkpoints.CheckpointMismatchError: naming the backbone variables that
      the checkpoint lacks or holds with other shapes.
  """
  if not isinstance(model_config, cvrl_cfg.CVRLModel):
    raise ValueError('Expected a CVRL pretraining model config (experiments '
                     f'cvrl_pretrain*, cvrl_knn_eval), got '
                     f'{type(model_config).__name__}.')
  model = cvrl_model.build_cvrl_model(
      input_specs.model_input_specs(feature_shape), model_config)
  checkpoints.load_backbone(model.backbone, checkpoint_path)
  return model


def write_npz(path: str, **arrays: np.ndarray) -> None:
  """Writes arrays as an uncompressed `.npz` file on any tf.io.gfile path."""
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(buffer.getvalue())


def extract_to_npz(params: cfg.ExperimentConfig, checkpoint_path: str,
                   input_path: str, output_path: str,
                   num_test_clips: Optional[int] = None,
                   num_test_crops: Optional[int] = None
                   ) -> Dict[str, np.ndarray]:
  """Encodes every video of `input_path` and writes the `.npz` file.

  Args:
    params: experiment whose `task.model` matches the checkpoint; clips are
      sampled as `task.validation_data` describes.
    checkpoint_path: checkpoint prefix or directory, local or gs://.
    input_path: TFRecord file pattern(s), comma-separated.
    output_path: the `.npz` file, on any tf.io.gfile filesystem.
    num_test_clips: clips per video; default from the config.
    num_test_crops: spatial crops per clip (1 or 3); default from the config.

  Returns:
    {'video_ids': [V], 'labels': [V], 'features': [V, C]} as written.
  """
  data_config = features_lib.single_pass(
      params.task.validation_data, input_path, num_test_clips, num_test_crops)
  if not video_input.input_files(data_config):
    raise FileNotFoundError(f'No file matches input_path {input_path!r}.')
  model = restore_model(params.task.model, data_config.feature_shape,
                        checkpoint_path)
  video_ids, labels, features = features_lib.encode_videos(
      cvrl_model.inference_encoder(model), data_config)
  # Strings rather than the bytes objects TF returns: object arrays would
  # need pickle to load.
  arrays = {'video_ids': np.array([i.decode() for i in video_ids], np.str_),
            'labels': labels, 'features': features}
  write_npz(output_path, **arrays)
  return arrays
