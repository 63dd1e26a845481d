"""benchmarks/reproduce.py in its quick mode, its run keys, summary and
verdict arithmetic."""
import dataclasses
import json
import math
import os
import shutil
import subprocess

import numpy as np
import pytest

from benchmarks import learning_curve
from benchmarks import reproduce
from benchmarks import reproduce_runs as runs
from benchmarks import run_keys
from benchmarks import run_records
from benchmarks import verdicts
from cvrl_tf import demo

# SimCLR inflated takes the contrastive path (the four CVRL ablations
# differ from it only in config, checked below) and the single-frame one;
# supervised training takes the other trainer.
QUICK_SETTINGS = ('simclr_inflated', 'supervised')


def test_summarize_gives_mean_and_sample_std_over_seeds():
  runs = [{'top1': 0.2, 'recall@1': 0.5}, {'top1': 0.4, 'recall@1': 0.7},
          {'top1': 0.6, 'recall@1': 0.6}]
  entry = reproduce.summarize({'cvrl': runs}, (0, 1, 2))['cvrl']
  assert entry['linear_top1_mean'] == pytest.approx(0.4)
  assert entry['linear_top1_std'] == pytest.approx(0.2)
  assert entry['knn_r1_mean'] == pytest.approx(0.6)
  assert entry['knn_r1_std'] == pytest.approx(0.1)
  assert entry['seeds'] == [0, 1, 2]


def test_every_ablation_switches_one_augmentation_off():
  assert runs.SETTINGS['cvrl'].augmentation == {}
  assert runs.SETTINGS['ta'].augmentation == {
      'spatial': {'enabled': False}}
  assert runs.SETTINGS['sa'].augmentation == {
      'temporal': {'enabled': False}}
  assert runs.SETTINGS['ta_sa'].augmentation == {
      'spatial': {'temporally_consistent': False}}
  assert set(runs.SETTINGS) == set(runs.SETTING_NAMES)


def test_random_init_trains_nothing(tmp_path):
  run_dir = tmp_path / 'run'
  params, checkpoint = runs.train_encoder(
      demo.DemoPaths(str(tmp_path)), runs.SETTINGS['random_init'],
      runs.QUICK, 0, str(run_dir))
  assert checkpoint == ''
  assert not run_dir.exists()
  assert params.task.model.backbone.type == 'r3d'


def _quick(work_dir, output_dir, record_dir, *flags):
  reproduce.main(['--quick', f'--work_dir={work_dir}',
                  f'--output_dir={output_dir}', f'--record_dir={record_dir}',
                  '--settings=' + ','.join(QUICK_SETTINGS), *flags])
  with open(os.path.join(output_dir, 'reproduce.json')) as f:
    return json.load(f)


@pytest.fixture(scope='module')
def quick_grid(tmp_path_factory):
  """(folder, reproduce.json) of the quick grid run once: work/, results/
  and records/ in the folder."""
  folder = tmp_path_factory.mktemp('quick')
  return folder, _quick(folder / 'work', folder / 'results',
                        folder / 'records')


@pytest.mark.timeout(900)
def test_quick_run_writes_json_table_and_chart(quick_grid):
  tmp_path, result = quick_grid
  output_dir = tmp_path / 'results'
  assert set(result['settings']) == set(QUICK_SETTINGS)
  for entry in result['settings'].values():
    for key in ('linear_top1_mean', 'knn_r1_mean'):
      assert 0.0 <= entry[key] <= 1.0
    assert entry['seeds'] == [0]
  assert result['command'].startswith('python -m benchmarks.reproduce --quick')
  assert result['wall_seconds'] > 0 and math.isfinite(result['wall_seconds'])
  assert set(result['single_frame']) == set(QUICK_SETTINGS)
  for entry in result['single_frame'].values():
    assert 0.0 <= entry['linear_top1'] <= 1.0 and entry['seed'] == 0
  assert 0 < result['cpu_seconds']
  table = (output_dir / 'reproduce.md').read_text()
  assert '## One frame per clip' in table
  assert '| SimCLR inflated |' in table and '| supervised |' in table
  assert (output_dir / 'reproduce.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  # The inflated encoder really is the single-frame run's inflation.
  run_dirs = sorted(os.listdir(tmp_path / 'work' / 'runs'))
  assert [d.rsplit('-', 1)[0] for d in run_dirs] == [
      'simclr_inflated-seed0', 'supervised-seed0']
  assert (tmp_path / 'work' / 'runs' / run_dirs[0] / 'inflated'
          / 'checkpoint').exists()
  assert result['complete'] and result['budget']['train_steps'] == 2
  assert result['toy_variant']['vary'] is True
  for entry in result['settings'].values():
    assert entry['per_seed'][0]['cpu_seconds'] > 0
  # The same command reuses every finished run: nothing trains again.
  metrics = [tmp_path / 'work' / 'runs' / d / 'metrics.json'
             for d in run_dirs]
  written = [path.stat().st_mtime_ns for path in metrics]
  rerun = _quick(tmp_path / 'work', output_dir, tmp_path / 'records')
  assert [path.stat().st_mtime_ns for path in metrics] == written
  assert rerun['settings'] == result['settings']


def _records(record_dir):
  return {path.name: json.loads(path.read_text())
          for path in sorted(record_dir.iterdir())}


def test_each_finished_run_is_recorded_with_its_provenance(quick_grid):
  tmp_path, result = quick_grid
  records = _records(tmp_path / 'records')
  assert sorted(records) == sorted(
      f'{d}.json' for d in os.listdir(tmp_path / 'work' / 'runs'))
  for name, record in records.items():
    run_dir = tmp_path / 'work' / 'runs' / name[:-len('.json')]
    # The definition the run's folder is keyed by, and its key.
    assert record['definition'] == json.loads(
        (run_dir / run_keys.DEFINITION_FILE).read_text())
    assert name == run_keys.run_name(record['definition']) + '.json'
    setting = record['definition']['setting']['name']
    assert record['metrics'] == result['settings'][setting]['per_seed'][0]
    assert record['single_frame_metrics']['top1'] == (
        result['single_frame'][setting]['linear_top1'])
    assert record['cpu_seconds'] == record['metrics']['cpu_seconds'] > 0
    assert record['source'] == 'trained'
    assert record['code_commit'] == subprocess.run(
        ['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
        text=True, check=True).stdout.strip()
    assert record['machine']['cpu_count'] == os.cpu_count()
    assert len(record['machine']['load_average_at_end']) == 3


def test_committed_records_are_reused_without_training(quick_grid, tmp_path):
  """Another machine: an empty work_dir and the committed records."""
  folder, result = quick_grid
  rerun = _quick(tmp_path / 'work', tmp_path / 'results', folder / 'records')
  assert rerun['settings'] == result['settings']
  assert rerun['single_frame'] == result['single_frame']
  assert rerun['complete']
  # Nothing was trained or generated: not even the toy data.
  assert not (tmp_path / 'work').exists()


def test_stale_records_are_reported_and_never_reused(quick_grid, tmp_path,
                                                     capsys):
  folder, _ = quick_grid
  records = _records(folder / 'records')
  name = next(n for n in records if n.startswith('supervised'))
  record = records[name]
  # A record of the same run at another budget: reported, not reused.
  longer = dataclasses.replace(runs.QUICK, train_steps=3)
  definition = runs.run_definition(demo.DemoPaths('/data'),
                                   runs.SETTINGS['supervised'], longer, 0)
  record_dir = tmp_path / 'records'
  record_dir.mkdir()
  (record_dir / name).write_text(json.dumps(record))
  assert run_records.find(str(record_dir), definition) is None
  lines = capsys.readouterr().out.splitlines()
  assert lines == [
      f'stale: {record_dir / name} differs in '
      'train.trainer.optimizer_config.learning_rate.cosine.decay_steps, '
      'train.trainer.train_steps; not reused.']
  # The record file of this very run holding another definition: refused
  # before anything trains.
  (record_dir / name).write_text(json.dumps(dict(record,
                                                 definition=definition)))
  with pytest.raises(SystemExit, match='^error: stale: .* differs in '
                     'train.trainer.optimizer_config'):
    _quick(tmp_path / 'work', tmp_path / 'results', record_dir,
           '--settings=supervised')
  assert not (tmp_path / 'work').exists()


def test_finished_runs_of_a_work_dir_are_imported(quick_grid, tmp_path,
                                                  capsys):
  """A work_dir as the earlier harness leaves it (no provenance file) and
  an unfinished run: the finished ones are recorded as the harness records
  them, and the results are written from the records."""
  folder, result = quick_grid
  work_dir = tmp_path / 'work'
  shutil.copytree(folder / 'work' / 'runs', work_dir / 'runs')
  for run_dir in (work_dir / 'runs').iterdir():
    (run_dir / run_records.PROVENANCE_FILE).unlink()
  unfinished = runs.run_dir_of(str(work_dir), _definition(2))
  run_keys.claim_run_dir(unfinished, _definition(2))
  record_dir = tmp_path / 'records'
  rerun = _quick(work_dir, tmp_path / 'results', record_dir,
                 '--import_runs', '--code_commit=0123abc')
  assert f'unfinished: {unfinished}' in capsys.readouterr().out
  assert rerun['settings'] == result['settings']
  assert rerun['single_frame'] == result['single_frame']
  committed = _records(folder / 'records')
  imported = _records(record_dir)
  assert sorted(imported) == sorted(committed)
  for name, record in imported.items():
    for key in ('definition', 'metrics', 'single_frame_metrics',
                'wall_seconds', 'cpu_seconds'):
      assert record[key] == committed[name][key]
    assert record['code_commit'] == '0123abc'
    assert record['source'] == (
        f"imported from {work_dir / 'runs' / name[:-len('.json')]}")
  assert not (work_dir / 'data').exists()


def _definition(train_steps, vary_appearance=True, seed=0):
  budget = dataclasses.replace(runs.QUICK, train_steps=train_steps,
                               vary_appearance=vary_appearance)
  return runs.run_definition(demo.DemoPaths('/data'), runs.SETTINGS['cvrl'],
                             budget, seed)


def test_run_folder_is_keyed_by_budget_data_seed_and_config():
  work_dir = '/work'
  base = runs.run_dir_of(work_dir, _definition(2))
  assert base == runs.run_dir_of(work_dir, _definition(2))
  others = {runs.run_dir_of(work_dir, d) for d in (
      _definition(3), _definition(2, vary_appearance=False),
      _definition(2, seed=1))}
  assert base not in others and len(others) == 3
  # Where the data lives is not part of the definition; what it is, is.
  moved = runs.run_definition(demo.DemoPaths('/elsewhere'),
                              runs.SETTINGS['cvrl'], runs.QUICK, 0)
  assert runs.run_dir_of(work_dir, moved) == base
  trainer = _definition(2)['train']['trainer']
  assert trainer['train_steps'] == 2
  # Every loop is checkpointed, so a killed run loses at most one loop.
  assert trainer['checkpoint_interval'] == trainer['steps_per_loop']


def _fields(value):
  """(name, value as JSON) of every field in nested dicts."""
  if isinstance(value, dict):
    for k, v in value.items():
      yield k, json.dumps(v)
      yield from _fields(v)


def test_fields_added_at_their_earlier_behaviour_leave_the_key_unchanged():
  config = runs.training_params(demo.DemoPaths('/data'), runs.SETTINGS['cvrl'],
                                runs.QUICK, 0).as_dict()
  data = config['task']['train_data']
  # The toy preset holds every added field at its earlier behaviour.
  assert {(k, json.dumps(v)) for k, v in run_keys.ADDED_FIELDS.items()} <= (
      set(_fields(config)))

  def before_the_fields(value):  # The config of code without them.
    if isinstance(value, dict):
      return {k: before_the_fields(v) for k, v in value.items()
              if k not in run_keys.ADDED_FIELDS}
    return value

  assert run_keys.definition_key(run_keys.defining_config(config)) == (
      run_keys.definition_key(run_keys.defining_config(
          before_the_fields(config))))
  data['flow_flip'] = 'negate_x'  # Another value defines another run.
  assert run_keys.defining_config(config)['task']['train_data'][
      'flow_flip'] == 'negate_x'
  r3d = config['task']['model']['backbone']['r3d']
  r3d['stage_temporal_strides'] = (1, 1, 1, 1)  # A tuple is its list.
  assert 'stage_temporal_strides' not in run_keys.defining_config(r3d)
  r3d['stage_temporal_strides'] = (1, 2, 1, 1)
  assert run_keys.defining_config(r3d)['stage_temporal_strides'] == [
      1, 2, 1, 1]


def test_records_of_a_field_added_later_are_rekeyed(tmp_path):
  definition = json.loads(run_keys.canonical_json(_definition(2)))
  recorded = json.loads(json.dumps(definition))  # Before ADDED_FIELDS knew:
  recorded['train']['task']['train_data']['augmentation']['spatial'][
      'crop_sampler'] = 'inception'
  record_dir = str(tmp_path)
  old_path = run_records.save(record_dir, {
      'name': run_keys.run_name(recorded), 'definition': recorded,
      'metrics': {'top1': 0.5}})
  assert run_records.find(record_dir, definition,
                          report=lambda line: None) is None

  (new_path,) = run_records.rekey(record_dir)
  assert not os.path.exists(old_path)
  record = run_records.find(record_dir, definition)
  assert record['metrics'] == {'top1': 0.5}
  assert record['name'] == os.path.basename(new_path)[:-len('.json')]
  assert run_records.rekey(record_dir) == []


def test_committed_records_are_those_of_the_current_code():
  results = os.path.join(os.path.dirname(__file__), '..', 'docs', 'results')
  with open(os.path.join(results, 'reproduce.json')) as f:
    budget = runs.Budget(**json.load(f)['budget'])
  paths = runs.data_paths('/work', budget)
  for setting in runs.SETTINGS.values():
    for seed in budget.seeds:
      definition = runs.run_definition(paths, setting, budget, seed)
      stale = []
      assert run_records.find(os.path.join(results, 'reproduce_runs'),
                              definition, report=stale.append), (
          f'{setting.name} seed {seed}: no record of the current code; '
          f'{stale}: re-run it, or if a field added at its earlier behaviour '
          'changed the key, add it to run_keys.ADDED_FIELDS (checked '
          'bitwise) and run run_records.rekey.')


def test_run_folder_of_another_definition_is_refused(tmp_path):
  run_dir = str(tmp_path / 'run')
  run_keys.claim_run_dir(run_dir, _definition(2))
  run_keys.claim_run_dir(run_dir, _definition(2))  # the same: accepted
  with pytest.raises(run_keys.DefinitionMismatchError, match='train'):
    run_keys.claim_run_dir(run_dir, _definition(3))
  unknown = tmp_path / 'unknown'
  (unknown / 'train').mkdir(parents=True)
  (unknown / 'train' / 'checkpoint').write_text('model_checkpoint_path: "x"')
  with pytest.raises(run_keys.DefinitionMismatchError, match='no definition'):
    run_keys.claim_run_dir(str(unknown), _definition(2))


def test_tampered_run_folder_is_refused_before_training(tmp_path):
  paths = demo.DemoPaths(str(tmp_path / 'data'))
  definition = runs.run_definition(paths, runs.SETTINGS['random_init'],
                                   runs.QUICK, 0)
  run_dir = runs.run_dir_of(str(tmp_path), definition)
  run_keys.record_definition(run_dir, dict(definition, seed=7))
  with pytest.raises(run_keys.DefinitionMismatchError):
    runs.evaluate_setting(paths, runs.SETTINGS['random_init'], runs.QUICK, 0,
                          str(tmp_path))
  assert sorted(os.listdir(run_dir)) == [run_keys.DEFINITION_FILE]


def test_welch_comparison_matches_its_formula():
  a, b = [0.60, 0.64, 0.62], [0.50, 0.53, 0.49]
  result = verdicts.compare(a, b)
  variance_a, variance_b = np.var(a, ddof=1), np.var(b, ddof=1)
  pooled = math.sqrt((variance_a + variance_b) / 2)
  assert result['effect_size'] == pytest.approx(
      (np.mean(a) - np.mean(b)) / pooled)
  t = (np.mean(a) - np.mean(b)) / math.sqrt(variance_a / 3 + variance_b / 3)
  # One-sided p of Student's t with Welch-Satterthwaite degrees of freedom,
  # integrated numerically.
  df = (variance_a / 3 + variance_b / 3) ** 2 / (
      (variance_a / 3) ** 2 / 2 + (variance_b / 3) ** 2 / 2)
  x = np.linspace(t, t + 200, 400001)
  density = (math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi)
             * math.gamma(df / 2)) * (1 + x ** 2 / df) ** (-(df + 1) / 2))
  assert result['p_greater'] == pytest.approx(np.trapezoid(density, x), rel=1e-3)
  assert result['verdict'] == verdicts.REPRODUCED
  assert verdicts.compare(b, a)['verdict'] == verdicts.NOT_REPRODUCED
  assert verdicts.compare(a, [0.59, 0.66, 0.61])['verdict'] == (
      verdicts.UNDECIDED)


def test_claims_combine_their_comparisons():
  high, mid, low = [0.8, 0.82, 0.81], [0.6, 0.62, 0.61], [0.4, 0.41, 0.42]
  top1 = {'ta': low, 'sa': mid, 'ta_sa': mid, 'cvrl': high,
          'simclr_inflated': low, 'random_init': low, 'supervised': high}
  judged = {c['claim']: c['verdict'] for c in verdicts.judge(top1, 3)}
  assert judged == {
      'Table 4: TA < SA < TA+SA < TA+SA+TC': verdicts.UNDECIDED,
      'Table 1: CVRL > SimCLR inflated': verdicts.REPRODUCED,
      'CVRL > random init': verdicts.REPRODUCED,
      'Table 1: supervised highest': verdicts.UNDECIDED}
  top1['ta'] = high
  assert verdicts.judge(top1, 3)[0]['verdict'] == verdicts.NOT_REPRODUCED
  del top1['supervised'][2]
  assert verdicts.judge(top1, 3)[3]['verdict'] == 'pending'


def test_budget_is_the_first_step_at_random_init_plus_twenty_points():
  steps = [150, 300, 450, 600]
  assert learning_curve.choose_budget(steps, [0.3, 0.5, 0.62, 0.8],
                                      0.41) == (450, True)
  assert learning_curve.choose_budget(steps, [0.3, 0.5, 0.55, 0.6],
                                      0.41) == (600, False)
