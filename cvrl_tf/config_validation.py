"""Checks an experiment config before any data is read.

Every failure is a `ConfigError` whose message is one line naming the field
and the problem, so the trainer can print it instead of a stack trace.
"""
import re
from typing import List, Sequence

import tensorflow as tf
import yaml
from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams


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
    params.validate()
  except (LookupError, ValueError, TypeError, AttributeError,
          yaml.YAMLError) as e:
    raise ConfigError(describe_parse_error(e)) from e
  return params


def registered_experiments() -> List[str]:
  """Names of this package's experiments (Model Garden's are omitted)."""
  # pylint: disable=protected-access
  return sorted(name for name in exp_factory._REGISTERED_CONFIGS
                if name.startswith('cvrl'))


def _check_input_path(name: str, data_config) -> None:
  """The input files of `data_config` must be set and exist."""
  input_path = data_config.input_path
  if not input_path:
    raise ConfigError(
        f'task.{name}.input_path is empty: set it to a TFRecord file pattern '
        f'(e.g. --params_override=task.{name}.input_path=/data/train-*).')
  patterns = input_path if isinstance(input_path, str) else str(input_path)
  for pattern in patterns.split(','):
    if not tf.io.gfile.glob(pattern.strip()):
      raise ConfigError(
          f'task.{name}.input_path matches no file: {pattern.strip()!r}.')


MODES = ('train', 'eval', 'train_and_eval', 'continuous_eval')


def validate(params, mode: str) -> None:
  """Raises ConfigError if `params` cannot run in `mode`."""
  if mode not in MODES:
    raise ConfigError(f'--mode={mode} is not supported; use one of '
                      f'{", ".join(MODES)}.')
  if 'train' in mode:
    _check_input_path('train_data', params.task.train_data)
  if 'eval' in mode:
    _check_input_path('validation_data', params.task.validation_data)
