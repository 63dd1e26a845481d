"""The methods' toy benchmark: run definitions, a smoke run of ViCC and CVRL,
and the results page from hand-made records."""
import dataclasses
import json
import os

import numpy as np
import pytest

from benchmarks import method_runs
from benchmarks import methods_report
from benchmarks import methods_toy
from benchmarks import reproduce_runs as runs
from benchmarks import run_keys
from cvrl_tf.configs import vicc as vicc_cfg

WORK_DIR = '/work'


def _budget(train_steps):
  return runs.Budget(train_steps=train_steps, seeds=(0,))


def _definition(name, train_steps, seed=0, work_dir=WORK_DIR):
  if name in method_runs.METHODS:
    return method_runs.MethodRun(method_runs.METHODS[name],
                                 _budget(train_steps), seed,
                                 work_dir).definition()
  return runs.run_definition(runs.data_paths(work_dir, _budget(train_steps)),
                             runs.SETTINGS[name], _budget(train_steps), seed)


def test_runs_are_keyed_by_method_budget_and_seed():
  names = {name: run_keys.run_name(_definition(name, 450))
           for name in ('vicc', 'tclr', 'cvrl')}
  assert [n.split('-')[:2] for n in names.values()] == [
      ['vicc', 'seed0'], ['tclr', 'seed0'], ['cvrl', 'seed0']]
  assert _definition('vicc', 450) == _definition('vicc', 450,
                                                 work_dir='/elsewhere')
  others = {run_keys.run_name(_definition('vicc', 500)),
            run_keys.run_name(_definition('vicc', 450, seed=1))}
  assert names['vicc'] not in others and len(others) == 2


def test_methods_get_the_same_steps_data_and_probe():
  vicc, tclr, cvrl = (_definition(n, 450) for n in ('vicc', 'tclr', 'cvrl'))
  assert vicc['evaluation'] == tclr['evaluation'] == cvrl['evaluation']
  assert tclr['data'] == cvrl['data']
  # ViCC's data: the same videos, their records with flow.
  assert vicc['data'] == dict(cvrl['data'], flow='farneback')
  for definition in (vicc, tclr, cvrl):
    trainer = definition['train']['trainer']
    assert trainer['train_steps'] == 450
    assert trainer['checkpoint_interval'] == trainer['steps_per_loop']
    assert definition['train']['task']['train_data']['seed'] == 0
  # Each preset keeps its epochs: TCLR's 10, ViCC's 50 over all stages.
  assert tclr['train']['task']['recipe']['steps_per_epoch'] == 45
  recipe = vicc['train']['task']['recipe']
  assert recipe['steps_per_epoch'] == 9
  assert vicc_cfg.total_steps(vicc_cfg.ViCCRecipe.from_args(**recipe)) == 450


@pytest.mark.parametrize('flags, problem', [
    (['--train_steps=0'], '--train_steps must be positive'),
    (['--methods=tclr', '--train_steps=155'], 'a positive multiple of 10'),
    (['--methods=vicc,cvrl', '--train_steps=460'],
     'a positive multiple of 50'),
    (['--methods=vicc,moco', '--train_steps=450'], '--methods takes'),
    (['--seeds=0,x', '--train_steps=450'], '--seeds takes integers'),
])
def test_bad_arguments_are_a_user_error(flags, problem):
  with pytest.raises(SystemExit) as exit_info:
    methods_toy.main(['--work_dir=/nonexistent', *flags])
  assert str(exit_info.value).startswith('error: ')
  assert problem in str(exit_info.value)


def _record(name, top1, recall1):
  return {'name': name, 'wall_seconds': 600.0, 'cpu_seconds': 500.0,
          'code_commit': 'abc1234', 'source': 'trained',
          'machine': {'cpu': 'Intel Xeon', 'load_average_at_end': [2.0] * 3},
          'metrics': {'top1': top1, 'top5': 0.9, 'recall@1': recall1,
                      'recall@5': 0.8, 'knn_top1': 0.4}}


def test_report_gives_mean_and_sample_std_of_each_method():
  budget = runs.Budget(train_steps=450, seeds=(0, 1, 2))
  top1 = {'vicc': (0.45, 0.5, 0.52), 'cvrl': (0.53, 0.53, 0.57)}
  records = {name: {seed: _record(f'{name}-seed{seed}', value, value / 2)
                    for seed, value in zip(budget.seeds, values)}
             for name, values in top1.items()}
  outcome = methods_report.result(
      records, budget, 'python -m benchmarks.methods_toy --train_steps=450',
      wall_seconds=612.34, flow_cost={'tvl1': 3.25, 'farneback': 0.5})
  outcome.update(commit='abc1234', output_name='methods_toy', environment={
      'cpu': 'Intel Xeon', 'avx512_bf16': True, 'cpu_count': 2,
      'load_average_at_end': [6.0, 5.0, 4.0], 'tensorflow': '2.20.0',
      'tf_models_official': '2.20.0', 'python': '3.11'})
  page = methods_report.report(json.loads(json.dumps(outcome)))
  rows = [line for line in page.splitlines()
          if line.startswith(('| vicc', '| cvrl'))]
  for row, values in zip(rows, top1.values()):
    mean, sd = 100 * np.mean(values), 100 * np.std(values, ddof=1)
    assert row.startswith(f'| {row[2:6]} | {mean:.1f} ± {sd:.1f} | '
                          f'{mean / 2:.1f} ± {sd / 2:.1f} | ')
  assert rows[0].endswith('| 45.0, 50.0, 52.0 | 22.5, 25.0, 26.0 |')
  # ViCC's six stages at 9 steps an epoch: 135, 135, then 4 x 45 steps.
  stage_rows = [line for line in page.splitlines()
                if line.startswith('| ') and ('| rgb |' in line
                                              or '| flow |' in line)]
  assert [r.split(' | ')[3] for r in stage_rows] == [
      '0-135', '135-270', '270-315', '315-360', '360-405', '405-450']
  assert 'TV-L1 costs 3.2 CPU-ms per flow' in page
  # Farneback, the toy runs' flow, is named as a deviation from ViCC's.
  assert "here is farneback" in page and "not ViCC's TV-L1" in page
  assert 'python -m benchmarks.methods_toy --train_steps=450' in page
  assert '- cvrl-seed2: 600 s wall, 500 CPU-s, commit abc1234' in page
  assert 'PARTIAL' not in page


def test_report_names_missing_runs_and_vicc_losses():
  budget = runs.Budget(train_steps=450, seeds=(0, 1))
  records = {'vicc': {1: _record('vicc-seed1', 0.3, 0.2)},
             'cvrl': {0: _record('cvrl-seed0', 0.5, 0.4),
                      1: _record('cvrl-seed1', 0.6, 0.5)}}
  losses = {'vicc-seed1-abc': {'rgb_loss': [(50, 5.83), (200, float('nan')),
                                            (300, 5.7)]}}
  outcome = methods_report.result(records, budget, 'command', 1.0,
                               flow_cost={'tvl1': 30.0, 'farneback': 0.3},
                               losses=losses)
  assert outcome['missing_runs'] == ['vicc seed 0'] and not outcome['complete']
  assert outcome['methods']['vicc']['seeds'] == [1]
  assert outcome['methods']['cvrl']['linear_top1_mean'] == pytest.approx(0.55)
  outcome.update(commit='abc1234', output_name='methods_toy', environment={
      'cpu': 'AMD EPYC', 'avx512_bf16': True, 'cpu_count': 2,
      'load_average_at_end': [6.0, 5.0, 4.0], 'tensorflow': '2.20.0',
      'tf_models_official': '2.20.0', 'python': '3.11'})
  page = methods_report.report(json.loads(json.dumps(outcome)))
  assert '**PARTIAL: not finished: vicc seed 0.' in page
  assert '| vicc | 30.0 ± 0.0 | 20.0 ± 0.0 | 30.0 | 20.0 |' in page
  assert '- vicc-seed1-abc, rgb_loss: 5.83 (50), 5.70 (300)' in page
  assert 'against 5.70 = ln(prototypes)' in page


def test_smoke_run_trains_vicc_beside_a_grid_setting_and_writes_its_files(
    tmp_path, monkeypatch):
  # ViCC's toy preset cut to one cross-stream stage (RGB trained, flow
  # frozen: both streams read) of 2 steps on batches of 2.
  tiny = tmp_path / 'vicc_tiny.yaml'
  tiny.write_text(
      'task:\n  losses: {queue_length: 0}\n'
      '  recipe:\n    steps_per_epoch: 1\n    stages:\n'
      '      - {trained_stream: rgb, cross_stream: true, epochs: 2,\n'
      '         lr_decay_epochs: 2}\n'
      '  train_data: {global_batch_size: 2}\n'
      '  validation_data: {global_batch_size: 2}\n'
      'trainer: {train_steps: 2, steps_per_loop: 1, summary_interval: 1}\n')
  vicc = method_runs.METHODS['vicc']
  monkeypatch.setitem(method_runs.METHODS, 'vicc', dataclasses.replace(
      vicc, yamls=vicc.yamls + (str(tiny),)))
  output = tmp_path / 'results'
  output.mkdir()
  methods_toy.main([f'--work_dir={tmp_path / "work"}', '--quick',
                    f'--output_dir={output}',
                    f'--record_dir={tmp_path / "records"}',
                    # The grid's settings (cvrl among them) train through
                    # the reproduction's code, which test_reproduce runs;
                    # random_init takes the same path here without steps.
                    '--methods=vicc,random_init', '--seeds=0',
                    '--train_steps=2'])
  outcome = json.loads((output / 'methods_toy.json').read_text())
  assert list(outcome['methods']) == ['vicc', 'random_init']
  for name in ('vicc', 'random_init'):
    metrics = outcome['methods'][name]['per_seed'][0]
    assert 0.0 <= metrics['top1'] <= 1.0
    assert outcome['runs'][name][0]['source'] == 'trained'
    assert os.listdir(tmp_path / 'records') and any(
        f.startswith(f'{name}-seed0-') for f in os.listdir(
            tmp_path / 'records'))
  # ViCC trained on records with flow, and its checkpoint reached the end.
  vicc_run = outcome['runs']['vicc'][0]['name']
  assert runs.checkpoint_step(
      str(tmp_path / 'work' / 'runs' / vicc_run / 'train')) == 2
  assert outcome['vicc_schedule']['stages'][0]['steps'] == [0, 2]
  assert outcome['vicc_flow'] == 'farneback'
  page = (output / 'methods_toy.md').read_text()
  assert '| vicc |' in page and '| random_init |' in page
