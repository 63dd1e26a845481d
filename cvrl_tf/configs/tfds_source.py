"""The TFDS source a DataConfig names, checked before any data is read.

A DataConfig names a TensorFlow Datasets video dataset by Model Garden's
field names `tfds_name`, `tfds_split` and `tfds_data_dir`. The dataset must
hold an image sequence `video` of JPEG frames and a `label`, such as
`ucf101/ucf101_1`. `check_source` raises a one-line `SourceError` naming the
field to fix; `dataloaders.tfds_input` reads the split through `builder`.
"""
from typing import Dict

import tensorflow_datasets as tfds

from cvrl_tf.configs import data as data_cfg

VIDEO_FEATURE = 'video'
LABEL_FEATURE = 'label'
ID_FEATURE = 'tfds_id'


class SourceError(ValueError):
  """A TFDS source that cannot be read; one line naming the field."""


def _first_line(error: Exception) -> str:
  return (str(error).strip().splitlines() or [type(error).__name__])[0]


def builder(params: data_cfg.DataConfig) -> tfds.core.DatasetBuilder:
  """The builder of `params.tfds_name` in `params.tfds_data_dir`.

  Raises:
    SourceError: no such dataset or builder config.
  """
  try:
    return tfds.builder(params.tfds_name,
                        data_dir=params.tfds_data_dir or None)
  except ValueError as e:  # DatasetNotFoundError is one.
    raise SourceError(f'tfds_name {params.tfds_name!r} is not a TFDS dataset: '
                      f'{_first_line(e)}') from e


def _check_features(params: data_cfg.DataConfig,
                    dataset_builder: tfds.core.DatasetBuilder) -> None:
  """The dataset must hold JPEG frames and a label that fits num_classes."""
  features = dataset_builder.info.features
  video = features[VIDEO_FEATURE] if VIDEO_FEATURE in features else None
  if not isinstance(video, tfds.features.Video) or getattr(
      video, '_encoding_format', None) != 'jpeg':
    raise SourceError(
        f'tfds_name {params.tfds_name!r} has no JPEG-encoded video feature '
        f'{VIDEO_FEATURE!r} (features: {", ".join(features.keys())}).')
  if LABEL_FEATURE not in features:
    raise SourceError(f'tfds_name {params.tfds_name!r} has no feature '
                      f'{LABEL_FEATURE!r}.')
  label = features[LABEL_FEATURE]
  num_labels = getattr(label, 'num_classes', None)
  if num_labels and 0 < params.num_classes < num_labels:
    raise SourceError(
        f'num_classes={params.num_classes} but {params.tfds_name} has '
        f'{num_labels} classes.')


def check_source(params: data_cfg.DataConfig) -> None:
  """Raises SourceError unless the TFDS split of `params` can be read.

  Checks the dataset name, its features, the split and that the data has
  been built in `tfds_data_dir` (or TFDS's default directory).
  """
  if not params.tfds_split:
    raise SourceError(f'tfds_split is empty: name the split of '
                      f'{params.tfds_name} to read (e.g. train or test).')
  if params.tfds_as_supervised:
    raise SourceError(
        f'tfds_as_supervised must be false: the input reads the features '
        f'{VIDEO_FEATURE!r} and {LABEL_FEATURE!r} by name.')
  if params.tfds_skip_decoding_feature not in ('', VIDEO_FEATURE):
    raise SourceError(
        f'tfds_skip_decoding_feature must be empty or {VIDEO_FEATURE!r} '
        f'(frames always stay encoded until the crop windows are decoded), '
        f'got {params.tfds_skip_decoding_feature!r}.')
  dataset_builder = builder(params)
  _check_features(params, dataset_builder)
  try:
    dataset_builder.as_dataset(split=params.tfds_split,
                               decoders=skip_video_decoding())
  except AssertionError as e:  # TFDS's way of saying "not built".
    raise SourceError(
        f'tfds_name {params.tfds_name!r} has no data in '
        f'{dataset_builder.data_dir}: build it with '
        f'`{build_command(dataset_builder)}` and set tfds_data_dir to '
        'that DIR.') from e
  except (KeyError, ValueError) as e:
    raise SourceError(f'tfds_split {params.tfds_split!r} of '
                      f'{params.tfds_name}: {_first_line(e)}') from e


def label_names(params: data_cfg.DataConfig) -> Dict[int, str]:
  """Class index -> name, from the dataset's `ClassLabel` (empty if none)."""
  label = builder(params).info.features[LABEL_FEATURE]
  return dict(enumerate(getattr(label, 'names', None) or []))


def build_command(dataset_builder: tfds.core.DatasetBuilder) -> str:
  """The `tfds build` command that prepares the dataset in a DIR."""
  config = dataset_builder.builder_config
  return (f'tfds build {dataset_builder.name}'
          + (f' --config {config.name}' if config else '')
          + ' --data_dir=DIR')


def skip_video_decoding():
  """TFDS decoders that leave the frames JPEG-encoded."""
  return {VIDEO_FEATURE: tfds.decode.SkipDecoding()}
