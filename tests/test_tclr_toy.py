"""The TCLR-versus-CVRL toy benchmark's definitions and report (no training)."""
import json

import pytest

from benchmarks import reproduce_runs as runs
from benchmarks import tclr_toy
from cvrl_tf import demo

WORK_DIR = '/work'


def _budget(train_steps):
  return runs.Budget(train_steps=train_steps, seeds=(0,))


def _tclr_dir(train_steps, seed=0, data_root='/data'):
  return runs.run_dir_of(WORK_DIR, tclr_toy.tclr_definition(
      demo.DemoPaths(data_root), _budget(train_steps), seed))


def test_runs_are_keyed_by_method_budget_and_seed():
  paths = demo.DemoPaths('/data')
  cvrl = runs.run_dir_of(WORK_DIR, runs.run_definition(
      paths, runs.SETTINGS['cvrl'], _budget(150), 0))
  tclr = _tclr_dir(150)
  assert '/runs/tclr-seed0-' in tclr and '/runs/cvrl-seed0-' in cvrl
  assert tclr == _tclr_dir(150, data_root='/elsewhere')
  others = {_tclr_dir(200), _tclr_dir(150, seed=1)}
  assert tclr not in others and len(others) == 2


def test_both_methods_get_the_same_steps_and_the_same_probe():
  paths = demo.DemoPaths('/data')
  tclr = tclr_toy.tclr_definition(paths, _budget(150), 0)
  cvrl = runs.run_definition(paths, runs.SETTINGS['cvrl'], _budget(150), 0)
  assert tclr['evaluation'] == cvrl['evaluation']
  assert tclr['data'] == cvrl['data']
  for trainer in (tclr['train']['trainer'], cvrl['train']['trainer']):
    assert trainer['train_steps'] == 150
    assert trainer['checkpoint_interval'] == trainer['steps_per_loop']
  # The preset's 10 epochs, so warm-up keeps half of the run.
  assert tclr['train']['task']['recipe']['steps_per_epoch'] == 15
  assert tclr['train']['task']['train_data']['seed'] == 0


@pytest.mark.parametrize('steps', [0, 155])
def test_steps_that_do_not_split_into_epochs_are_a_user_error(capsys, steps):
  with pytest.raises(SystemExit) as exit_info:
    tclr_toy.main(['--work_dir=/nonexistent', f'--train_steps={steps}'])
  assert str(exit_info.value).startswith('error: --train_steps must be')


def test_report_tabulates_the_metrics_of_each_method():
  def metrics(top1, recall1):
    return {'top1': top1, 'top5': 0.9, 'recall@1': recall1, 'recall@5': 0.8,
            'knn_top1': 0.4, 'wall_seconds': 300.0, 'cpu_seconds': 250.0}
  outcome = tclr_toy.result(
      {'tclr': metrics(0.415, 0.3), 'cvrl': metrics(0.53, 0.46)},
      _budget(150), 0, 'python -m benchmarks.tclr_toy --train_steps=150',
      wall_seconds=612.34)
  outcome.update(commit='abc1234', environment={
      'cpu': 'Intel Xeon', 'avx512_bf16': True, 'cpu_count': 2,
      'load_average_at_end': [6.0, 5.0, 4.0], 'tensorflow': '2.20.0',
      'tf_models_official': '2.20.0', 'python': '3.11'})
  page = tclr_toy.report(json.loads(json.dumps(outcome)))
  rows = [line for line in page.splitlines()
          if line.startswith(('| tclr', '| cvrl'))]
  assert rows == ['| tclr | 41.5 | 90.0 | 30.0 | 80.0 | 40.0 |',
                  '| cvrl | 53.0 | 90.0 | 46.0 | 80.0 | 40.0 |']
  assert 'python -m benchmarks.tclr_toy --train_steps=150' in page
  assert '612 s wall' in page and '128 clips' in page
  assert '160 clips' in page
