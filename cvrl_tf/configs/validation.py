"""Checks an experiment config before any data is read.

Every failure is a `ConfigError` whose message is one line naming the field
and the problem, so the trainer can print it instead of a stack trace.
"""
import collections.abc
import dataclasses
import re
import typing
from typing import Any, Iterator, List, Sequence, Tuple

import tensorflow as tf
import yaml
from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams

from cvrl_tf.configs import cvrl as cvrl_cfg
from cvrl_tf.configs import data as data_cfg
from cvrl_tf.configs import evaluation as eval_cfg
from cvrl_tf.configs import tclr_data
from cvrl_tf.configs import tfds_source
from cvrl_tf.configs import vicc as vicc_cfg


class ConfigError(ValueError):
  """A mistake in the experiment config or flags."""


def describe_parse_error(error: Exception) -> str:
  """One line for an error raised while building the ExperimentConfig."""
  message = str(error.args[0]) if error.args else str(error)
  unknown_key = re.search(r"The key '([^']+)' does not exist", message)
  if unknown_key:
    return (f'unknown config key {unknown_key.group(1)!r} '
            '(check the YAML file / --params_override for typos).')
  if isinstance(error, LookupError) and 'never registered' in message:
    return f'unknown experiment: {message.split()[2]!r}. ' + (
        'Registered: ' + ', '.join(registered_experiments()) + '.')
  return f'{type(error).__name__}: {message.splitlines()[0]}'


def experiment_params(experiment: str, config_files: Sequence[str] = (),
                      params_override: str = '') -> cfg.ExperimentConfig:
  """A registered experiment overridden by YAML files, then by a string.

  Args:
    experiment: name registered with `exp_factory`, e.g. 'cvrl_pretrain'.
    config_files: YAML files (local or gs://), applied in order.
    params_override: YAML / JSON string or 'a.b=1,c.d=x', applied last.

  Returns:
    The validated ExperimentConfig.

  Raises:
    config_validation.ConfigError: unknown experiment or key, or bad value.
  """
  try:
    params = exp_factory.get_exp_config(experiment)
    for config_file in config_files:
      params = hyperparams.override_params_dict(params, config_file,
                                                is_strict=True)
    if params_override:
      params = hyperparams.override_params_dict(params, params_override,
                                                is_strict=True)
    check_types(params)
    params.validate()
  except ConfigError:
    raise
  except (LookupError, ValueError, TypeError, AttributeError,
          yaml.YAMLError) as e:
    raise ConfigError(describe_parse_error(e)) from e
  return params


def registered_experiments() -> List[str]:
  """Names of this package's experiments (Model Garden's are omitted)."""
  # pylint: disable=protected-access
  return sorted(name for name in exp_factory._REGISTERED_CONFIGS
                if name.startswith(('cvrl', 'tclr', 'vicc')))


def _check_input_path(name: str, data_config) -> None:
  """Exactly one of `input_path` and `tfds_name`; its data must exist."""
  input_path = data_config.input_path
  if input_path and data_config.tfds_name:
    raise ConfigError(f'task.{name} sets both input_path and tfds_name: '
                      'read either TFRecords or a TFDS dataset.')
  if data_config.tfds_name and getattr(data_config, 'read_flow', False):
    raise ConfigError(
        f'task.{name}.read_flow needs TFRecords written by '
        'tools/make_tfrecords.py --flow; TFDS datasets have no flow.')
  if data_config.tfds_name:
    try:
      tfds_source.check_source(data_config)
    except tfds_source.SourceError as e:
      raise ConfigError(f'task.{name}.{e}') from e
    return
  if not input_path:
    raise ConfigError(
        f'task.{name}.input_path is empty: set it to a TFRecord file pattern '
        f'(e.g. --params_override=task.{name}.input_path=/data/train-*), '
        'or set tfds_name and tfds_split.')
  patterns = input_path if isinstance(input_path, str) else str(input_path)
  for pattern in patterns.split(','):
    if not tf.io.gfile.glob(pattern.strip()):
      raise ConfigError(
          f'task.{name}.input_path matches no file: {pattern.strip()!r}.')


_SEQUENCE_ORIGINS = (tuple, list, collections.abc.Sequence)
_SINGULAR = {bool: 'true or false', int: 'an integer', float: 'a number',
             str: 'a string'}
_PLURAL = {bool: 'true / false values', int: 'integers', float: 'numbers',
           str: 'strings'}


def _type_name(annotation, plural: bool = False) -> str:
  """Reads an annotation the way a YAML author thinks of it."""
  origin, args = typing.get_origin(annotation), typing.get_args(annotation)
  if origin is typing.Union:
    return ' or '.join('null' if a is type(None) else _type_name(a, plural)
                       for a in args)
  if origin in _SEQUENCE_ORIGINS:
    items = [a for a in args if a is not Ellipsis]
    if origin is tuple and items and Ellipsis not in args:
      names = {_type_name(a, plural=True) for a in items}
      kinds = names.pop() if len(names) == 1 else 'values'
      return f'a list of {len(items)} {kinds}'
    return 'a list' + (f' of {_type_name(items[0], plural=True)}'
                       if items else '')
  if isinstance(annotation, type) and issubclass(annotation,
                                                 hyperparams.Config):
    return 'mappings' if plural else 'a mapping'
  names = _PLURAL if plural else _SINGULAR
  return names.get(annotation, getattr(annotation, '__name__',
                                       str(annotation)))


def _fits(value, annotation) -> bool:
  """Whether `value` fits `annotation`; lenient where the rule is unclear."""
  origin, args = typing.get_origin(annotation), typing.get_args(annotation)
  if origin is typing.Union:
    return any(_fits(value, a) for a in args)
  if annotation is type(None):
    return value is None
  if annotation is bool:
    return isinstance(value, bool)
  if annotation is int:
    return isinstance(value, int) and not isinstance(value, bool)
  if annotation is float:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
  if annotation is str:
    return isinstance(value, str)
  if origin in _SEQUENCE_ORIGINS:
    if not isinstance(value, (list, tuple)):
      return False
    if origin is tuple and args and Ellipsis not in args:
      return len(value) == len(args) and all(map(_fits, value, args))
    return not args or all(_fits(v, args[0]) for v in value)
  if isinstance(annotation, type) and issubclass(annotation,
                                                 hyperparams.Config):
    return isinstance(value, hyperparams.Config)
  return True


def _fields(config: hyperparams.Config) -> Iterator[Tuple[str, Any, Any]]:
  """(name, annotation, value) of each dataclass field of `config`."""
  try:
    hints = typing.get_type_hints(type(config))
  except (NameError, TypeError):
    hints = {}
  for field in dataclasses.fields(config):
    yield field.name, hints.get(field.name, Any), getattr(config, field.name)


def check_types(config: hyperparams.Config, prefix: str = '') -> None:
  """Raises ConfigError for a value of the wrong type, e.g. a string batch.

  Model Garden's config overrides accept any YAML value, so a typo such as
  `global_batch_size: 1o24` would otherwise surface as an obscure error deep
  inside the input pipeline or the model.

  Args:
    config: the ExperimentConfig, or a part of it.
    prefix: dotted path of `config`, for the message.
  """
  for name, annotation, value in _fields(config):
    path = prefix + name
    if isinstance(value, hyperparams.Config):
      check_types(value, path + '.')
    elif not _fits(value, annotation):
      raise ConfigError(f'{path} must be {_type_name(annotation)}, got '
                        f'{value!r} ({type(value).__name__}).')


MODES = ('train', 'eval', 'train_and_eval', 'continuous_eval')


def data_configs_read(params, mode: str) -> List[Tuple[str, Any]]:
  """(name, DataConfig) of the inputs `mode` reads.

  Evaluation reads `validation_data`, and `train_data` too when that is not
  training input (a retrieval memory bank, as in the kNN evaluation).
  """
  task = params.task
  read = []
  if 'train' in mode or (
      'eval' in mode and not getattr(task.train_data, 'is_training', True)):
    read.append(('train_data', task.train_data))
  if 'eval' in mode:
    read.append(('validation_data', task.validation_data))
  return read


def _check_clip_shapes(name: str, data_config) -> None:
  """The clip and batch sizes of a video DataConfig must be possible.

  Clips longer than a video are possible (`temporal_sampling` loops short
  videos), and training crops of any size are (a random window is resized to
  the crop); evaluation crops are cut from frames resized to a short side of
  `min_image_size`, so they cannot be larger.
  """
  field = f'task.{name}'
  if data_config.global_batch_size < 1:
    raise ConfigError(f'{field}.global_batch_size must be positive, got '
                      f'{data_config.global_batch_size}.')
  shape = list(getattr(data_config, 'feature_shape', None) or [])
  if len(shape) != 4 or min(shape) < 1 or shape[3] != 3:
    raise ConfigError(
        f'{field}.feature_shape must be [frames, height, width, 3] with '
        f'positive sizes, got {shape}.')
  if getattr(data_config, 'temporal_stride', 1) < 1:
    raise ConfigError(f'{field}.temporal_stride must be at least 1, got '
                      f'{data_config.temporal_stride}.')
  if data_config.is_training:
    return
  _, height, width, _ = shape
  min_size = data_config.min_image_size
  if max(height, width) > min_size:
    raise ConfigError(
        f'{field}.feature_shape crops {height}x{width} from frames resized '
        f'to a short side of min_image_size={min_size}: set min_image_size '
        f'to at least {max(height, width)} or crop smaller.')
  if data_config.num_test_crops not in (1, 3):
    raise ConfigError(f'{field}.num_test_crops must be 1 or 3, got '
                      f'{data_config.num_test_crops}.')
  if data_config.num_test_clips < 1:
    raise ConfigError(f'{field}.num_test_clips must be at least 1, got '
                      f'{data_config.num_test_clips}.')
  starts = getattr(data_config, 'test_clip_starts', 'even')
  if starts not in data_cfg.TEST_CLIP_STARTS:
    raise ConfigError(f'{field}.test_clip_starts must be one of '
                      f'{data_cfg.TEST_CLIP_STARTS}, got {starts!r}.')


def _check_augmentation(name: str, data_config) -> None:
  """Crop ranges are valid, the named choices exist, and device
  augmentation has the temporally consistent clips it needs."""
  augmentation = getattr(data_config, 'augmentation', None)
  spatial = getattr(augmentation, 'spatial', None)
  if spatial is None:
    return
  field = f'task.{name}.augmentation.spatial'
  if (augmentation.device_augmentation and spatial.enabled
      and not spatial.temporally_consistent):
    raise ConfigError(
        f'task.{name}.augmentation.device_augmentation draws one set of '
        'photometric parameters per clip: it needs '
        f'{field}.temporally_consistent: true.')
  low, high = spatial.crop_area_range
  if not 0 < low <= high <= 1:
    raise ConfigError(
        f'{field}.crop_area_range must be [low, high] with 0 < low <= high '
        f'<= 1, got {list(spatial.crop_area_range)}.')
  low, high = spatial.crop_aspect_ratio_range
  if not 0 < low <= high:
    raise ConfigError(
        f'{field}.crop_aspect_ratio_range must be [low, high] with '
        f'0 < low <= high, got {list(spatial.crop_aspect_ratio_range)}.')
  for key, choices in (('crop_sampler', data_cfg.CROP_SAMPLERS),
                       ('contrast_mean', data_cfg.CONTRAST_MEANS),
                       ('view_blur_solarize', data_cfg.VIEW_BLUR_SOLARIZE)):
    if getattr(spatial, key) not in choices:
      raise ConfigError(f'{field}.{key} must be one of {sorted(choices)}, '
                        f'got {getattr(spatial, key)!r}.')


# Flow options of a DataConfig: (field, choices), the first the default.
_FLOW_CHOICES = (('flow_photometric', data_cfg.FLOW_PHOTOMETRIC),
                 ('flow_flip', data_cfg.FLOW_FLIPS),
                 ('flow_crop_scale', data_cfg.FLOW_CROP_SCALES))


def _check_flow_options(name: str, data_config) -> None:
  """The flow options are named choices, and set only where flow is read."""
  for key, choices in _FLOW_CHOICES:
    value = getattr(data_config, key, choices[0])
    if value not in choices:
      raise ConfigError(f'task.{name}.{key} must be one of {list(choices)}, '
                        f'got {value!r}.')
    if value != choices[0] and not data_config.read_flow:
      raise ConfigError(f'task.{name}.{key}: {value} changes the flow '
                        f'stream, which task.{name}.read_flow: false leaves '
                        'out: set read_flow: true or remove it.')


def _check_tclr_clips(name: str, data_config) -> None:
  """TCLR's dense clips must tile its sparse clip of `feature_shape` frames."""
  if not isinstance(data_config, tclr_data.TclrDataConfig):
    return
  try:
    tclr_data.validate_data(data_config)
  except ValueError as e:
    raise ConfigError(f'task.{name}: {e}') from e


# Named choices of task fields: (field, choices).
_TASK_CHOICES = (('retrieval_feature', eval_cfg.RETRIEVAL_FEATURES),)


def _check_task_choices(task) -> None:
  for key, choices in _TASK_CHOICES:
    value = getattr(task, key, None)
    if value is not None and value not in choices:
      raise ConfigError(f'task.{key} must be one of {list(choices)}, got '
                        f'{value!r}.')


def _check_stages(params, mode: str) -> None:
  """A staged recipe (ViCC's) must cover every training step."""
  recipe = getattr(params.task, 'recipe', None)
  if not isinstance(recipe, vicc_cfg.ViCCRecipe) or 'train' not in mode:
    return
  total = vicc_cfg.total_steps(recipe)
  if params.trainer.train_steps > total:
    raise ConfigError(
        f'trainer.train_steps={params.trainer.train_steps} exceeds the '
        f'{total} steps of task.recipe.stages (epochs x steps_per_epoch); '
        'add stages or lower train_steps.')


def check_replicas(params, mode: str, num_replicas: int) -> None:
  """Every batch `mode` reads must split evenly over the replicas.

  Call it once the distribution strategy is built (only then is the replica
  count known) and before any input is read.
  """
  for name, data_config in data_configs_read(params, mode):
    batch_size = data_config.global_batch_size
    if batch_size % num_replicas:
      raise ConfigError(
          f'task.{name}.global_batch_size={batch_size} does not split over '
          f'the {num_replicas} replicas of the distribution strategy: use a '
          f'multiple of {num_replicas}.')


def validate(params, mode: str) -> None:
  """Raises ConfigError if `params` cannot run in `mode`.

  Checks value types, the clip, crop and batch sizes and the augmentation
  ranges of the inputs `mode` reads, then that their files exist; the
  replica count is checked later, by `check_replicas`.
  """
  if mode not in MODES:
    raise ConfigError(f'--mode={mode} is not supported; use one of '
                      f'{", ".join(MODES)}.')
  check_types(params)
  if getattr(params.task, 'view_summary_videos', 0) < 0:
    raise ConfigError('task.view_summary_videos must be 0 (no images) or '
                      f'more, got {params.task.view_summary_videos}.')
  _check_task_choices(params.task)
  _check_stages(params, mode)
  loss_over_replicas = getattr(getattr(params.task, 'losses', None),
                               'loss_over_replicas', 'mean')
  if loss_over_replicas not in cvrl_cfg.LOSS_OVER_REPLICAS:
    raise ConfigError(
        'task.losses.loss_over_replicas must be one of '
        f'{sorted(cvrl_cfg.LOSS_OVER_REPLICAS)}, got {loss_over_replicas!r}.')
  read = data_configs_read(params, mode)
  for name, data_config in read:
    _check_clip_shapes(name, data_config)
    _check_augmentation(name, data_config)
    _check_flow_options(name, data_config)
    _check_tclr_clips(name, data_config)
  for name, data_config in read:
    _check_input_path(name, data_config)
