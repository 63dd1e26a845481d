"""The trainer binary reports config mistakes as one clear line."""
import os
import subprocess
import sys
import types

import pytest
import yaml

from cvrl_tf import train
from cvrl_tf.configs import validation as config_validation
import tiny_experiments

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_trainer(*args, timeout=600, **env_overrides):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', **env_overrides)
  return subprocess.run(
      [sys.executable, '-m', 'cvrl_tf.train', *args], cwd=REPO, env=env,
      capture_output=True, text=True, timeout=timeout)


def error_lines(result):
  return [line for line in result.stderr.splitlines()
          if line.startswith('error:')]


class ParsedFlags(types.SimpleNamespace):
  """Flag values by attribute, and `name in flags`, as absl's FlagValues."""

  def __contains__(self, name):
    return hasattr(self, name)


@pytest.mark.parametrize('args, expected', [
    ({'experiment': 'no_such_experiment'}, 'no_such_experiment'),
    ({'params_override': 'task.train_data.no_such_field=1'}, 'no_such_field'),
    ({}, 'task.train_data.input_path is empty'),
    ({'params_override': 'task.train_data.input_path=/nonexistent/train-*'},
     'matches no file'),
    ({'params_override': 'task.train_data.tfds_name=no_such_dataset,'
                         'task.train_data.tfds_split=train'},
     "task.train_data.tfds_name 'no_such_dataset' is not a TFDS dataset"),
])
def test_config_errors_are_one_line(args, expected):
  """What the binary parses its flags into raises a one-line ConfigError,
  which its `main` prints as `error: ...` (`test_binary_prints_one_line`)."""
  # The flags the binary defines, at their defaults but these.
  flags = ParsedFlags(**{
      'experiment': 'cvrl_pretrain', 'config_file': None,
      'params_override': None, 'tpu': None, 'tf_data_service': None,
      'mode': 'train', **args})
  with pytest.raises(config_validation.ConfigError) as error:
    train.parse_params(flags)
  assert '\n' not in str(error.value)
  assert expected in str(error.value)


def test_binary_prints_one_line(tmp_path):
  result = run_trainer('--experiment=cvrl_pretrain',
                       '--params_override=task.train_data.no_such_field=1',
                       '--mode=train', f'--model_dir={tmp_path}')
  assert result.returncode != 0
  lines = error_lines(result)
  assert len(lines) == 1, result.stderr[-2000:]
  assert 'no_such_field' in lines[0]
  assert 'Traceback' not in result.stderr


@pytest.fixture(name='records')
def _records(tmp_path):
  """Input files that exist; nothing may read them before the error."""
  (tmp_path / 'train-00000-of-00001.tfrecord').write_bytes(b'not a record')
  return str(tmp_path / 'train-*.tfrecord')


def _one_error_line(result):
  assert result.returncode != 0
  lines = error_lines(result)
  assert len(lines) == 1 and 'Traceback' not in result.stderr, (
      result.stderr[-3000:])
  return lines[0]


def test_missing_init_checkpoint_is_one_line(tmp_path, records):
  missing = str(tmp_path / 'pretrain_typo' / 'ckpt-100')
  params = tiny_experiments.tiny_classification(
      'cvrl_linear_eval', records, records, init_checkpoint=missing)
  config_file = tmp_path / 'linear_eval.yaml'
  config_file.write_text(yaml.safe_dump(params.as_dict()))
  line = _one_error_line(run_trainer(
      '--experiment=cvrl_linear_eval', f'--config_file={config_file}',
      '--mode=train', f'--model_dir={tmp_path / "model"}', timeout=600))
  assert line.startswith(f'error: No checkpoint at {missing!r}'), line


def test_unresolvable_tpu_is_one_line(tmp_path, records):
  # The metadata server a TPU name is looked up through refuses at once.
  line = _one_error_line(run_trainer(
      '--experiment=cvrl_pretrain', '--tpu=my-tpu',
      '--params_override=runtime.distribution_strategy=tpu,'
      f'task.train_data.input_path={records}', '--mode=train',
      f'--model_dir={tmp_path / "model"}',
      timeout=600, GCE_METADATA_HOST='127.0.0.1:1'))
  assert line.startswith(
      "error: cannot resolve the TPU 'my-tpu': looking it up through the GCE "
      'metadata server and the Cloud TPU API failed ('), line
