"""The trainer binary reports config mistakes as one clear line."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_trainer(*args, timeout=120):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  return subprocess.run(
      [sys.executable, '-m', 'cvrl_tf.train', *args], cwd=REPO, env=env,
      capture_output=True, text=True, timeout=timeout)


def error_lines(result):
  return [line for line in result.stderr.splitlines()
          if line.startswith('error:')]


@pytest.mark.parametrize('args, expected', [
    (['--experiment=no_such_experiment'], 'no_such_experiment'),
    (['--experiment=cvrl_pretrain',
      '--params_override=task.train_data.no_such_field=1'], 'no_such_field'),
    (['--experiment=cvrl_pretrain'], 'task.train_data.input_path is empty'),
    (['--experiment=cvrl_pretrain',
      '--params_override=task.train_data.input_path=/nonexistent/train-*'],
     'matches no file'),
    (['--experiment=cvrl_pretrain', '--params_override='
      'task.train_data.tfds_name=no_such_dataset,'
      'task.train_data.tfds_split=train'],
     "task.train_data.tfds_name 'no_such_dataset' is not a TFDS dataset"),
])
def test_config_errors_are_one_line(tmp_path, args, expected):
  result = run_trainer(*args, '--mode=train', f'--model_dir={tmp_path}')
  assert result.returncode != 0
  lines = error_lines(result)
  assert len(lines) == 1, result.stderr[-2000:]
  assert expected in lines[0]
  assert 'Traceback' not in result.stderr
