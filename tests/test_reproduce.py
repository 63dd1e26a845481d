"""benchmarks/reproduce.py in its quick mode, and its summary arithmetic."""
import json
import math

import pytest

from benchmarks import reproduce
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
  assert reproduce.SETTINGS['cvrl'].augmentation == {}
  assert reproduce.SETTINGS['ta'].augmentation == {
      'spatial': {'enabled': False}}
  assert reproduce.SETTINGS['sa'].augmentation == {
      'temporal': {'enabled': False}}
  assert reproduce.SETTINGS['ta_sa'].augmentation == {
      'spatial': {'temporally_consistent': False}}
  assert set(reproduce.SETTINGS) == set(reproduce.SETTING_NAMES)


def test_random_init_trains_nothing(tmp_path):
  run_dir = tmp_path / 'run'
  params, checkpoint = reproduce.train_encoder(
      demo.DemoPaths(str(tmp_path)), reproduce.SETTINGS['random_init'],
      reproduce.QUICK, 0, str(run_dir))
  assert checkpoint == ''
  assert not run_dir.exists()
  assert params.task.model.backbone.type == 'r3d'


@pytest.mark.timeout(900)
def test_quick_run_writes_json_table_and_chart(tmp_path):
  output_dir = tmp_path / 'results'
  reproduce.main(['--quick', f'--work_dir={tmp_path / "work"}',
                  f'--output_dir={output_dir}',
                  '--settings=' + ','.join(QUICK_SETTINGS)])
  with open(output_dir / 'reproduce.json') as f:
    result = json.load(f)
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
  assert (tmp_path / 'work' / 'runs' / 'simclr_inflated-seed0' / 'inflated'
          / 'checkpoint').exists()
