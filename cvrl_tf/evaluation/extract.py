"""Per-video features of a pretrained encoder, written to an `.npz` file.

The videos are TFRecords (`input_path`) or a TFDS split (`tfds_name`,
`tfds_split`, `tfds_data_dir`). The file holds three arrays, one row per
video:

  video_ids  str [V]           the records' `video/id` (TFDS: `tfds_id`)
  labels     int64 [V]         the label index (-1 if unlabeled)
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
from cvrl_tf.configs import data as data_cfg
from cvrl_tf.configs import tfds_source
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


class SourceError(ValueError):
  """The videos to encode are not named, named twice, or cannot be read."""


def read_from(data_config: data_cfg.DataConfig, input_path: str = '',
              tfds_name: str = '', tfds_split: str = '',
              tfds_data_dir: str = '') -> data_cfg.DataConfig:
  """`data_config` reading TFRecords or a TFDS split instead of its own.

  Args:
    data_config: clip sampling and batching to keep.
    input_path: TFRecord file pattern(s), comma-separated; or
    tfds_name: a TFDS dataset (e.g. ucf101/ucf101_1), with
    tfds_split: its split, and
    tfds_data_dir: where it was built (TFDS's default if empty).

  Raises:
    SourceError: neither or both of `input_path` and `tfds_name`, no file
      matching `input_path`, or a TFDS split that cannot be read (one line
      naming the argument).
  """
  if bool(input_path) == bool(tfds_name):
    raise SourceError('name the videos either by input_path (TFRecords) or '
                      'by tfds_name and tfds_split (a TFDS dataset), '
                      + ('not both.' if input_path else 'got neither.'))
  data_config = data_config.replace(
      input_path=input_path, tfds_name=tfds_name, tfds_split=tfds_split,
      tfds_data_dir=tfds_data_dir)
  if input_path:
    if not video_input.input_files(data_config):
      raise SourceError(f'No file matches input_path {input_path!r}.')
  else:
    try:
      tfds_source.check_source(data_config)
    except tfds_source.SourceError as e:
      raise SourceError(str(e)) from e
  return data_config


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
                   num_test_crops: Optional[int] = None,
                   tfds_name: str = '', tfds_split: str = '',
                   tfds_data_dir: str = '') -> Dict[str, np.ndarray]:
  """Encodes every video of `input_path` (or a TFDS split) to `.npz`.

  Args:
    params: experiment whose `task.model` matches the checkpoint; clips are
      sampled as `task.validation_data` describes.
    checkpoint_path: checkpoint prefix or directory, local or gs://.
    input_path: TFRecord file pattern(s), comma-separated; '' to read the
      TFDS split named by the `tfds_*` arguments.
    output_path: the `.npz` file, on any tf.io.gfile filesystem.
    num_test_clips: clips per video; default from the config.
    num_test_crops: spatial crops per clip (1 or 3); default from the config.
    tfds_name: see `read_from`.
    tfds_split: see `read_from`.
    tfds_data_dir: see `read_from`.

  Returns:
    {'video_ids': [V], 'labels': [V], 'features': [V, C]} as written.

  Raises:
    SourceError: see `read_from`.
  """
  data_config = features_lib.single_pass(
      read_from(params.task.validation_data, input_path, tfds_name,
                tfds_split, tfds_data_dir),
      num_test_clips=num_test_clips, num_test_crops=num_test_crops)
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
