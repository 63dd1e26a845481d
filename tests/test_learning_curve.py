"""benchmarks/learning_curve.py: a tiny curve, trained, evaluated, resumed."""
import json
import os

import pytest

from benchmarks import learning_curve
from benchmarks import reproduce_runs as runs
from benchmarks import run_keys
from cvrl_tf import demo


@pytest.mark.timeout(900)
def test_curve_evaluates_every_checkpoint_and_resumes(tmp_path):
  budget = runs.Budget(train_per_class=2, test_per_class=1, seeds=(0,))
  work_dir = str(tmp_path)
  paths = runs.prepare_data(work_dir, budget)
  curve = learning_curve.run_curve(work_dir, paths, budget, steps=2,
                                   interval=1)
  assert curve['steps'] == [1, 2]
  for key in ('linear_top1', 'knn_r1'):
    assert len(curve[key]) == 2 and all(0 <= v <= 1 for v in curve[key])
  assert (curve['chosen_train_steps'], curve['reached']) == (
      learning_curve.choose_budget(curve['steps'], curve['linear_top1'],
                                   curve['random_init']['linear_top1']))
  assert curve['cpu_seconds'] > 0 and curve['data']['vary'] is True
  (curve_dir,) = [os.path.join(work_dir, 'curve', d)
                  for d in os.listdir(os.path.join(work_dir, 'curve'))]
  assert curve_dir.endswith(f"-{curve['definition_key']}")
  # Both checkpoints were kept and evaluated from their own weights.
  assert {f for f in os.listdir(os.path.join(curve_dir, 'train'))
          if f.endswith('.index')} == {'ckpt-1.index', 'ckpt-2.index'}
  with open(os.path.join(curve_dir, 'checkpoint-00001.json')) as f:
    assert json.load(f)['top1'] == curve['linear_top1'][0]
  # A rerun trains and evaluates nothing again.
  written = os.path.getmtime(os.path.join(curve_dir, 'time.json'))
  assert learning_curve.run_curve(work_dir, paths, budget, steps=2,
                                  interval=1)['steps'] == [1, 2]
  assert os.path.getmtime(os.path.join(curve_dir, 'time.json')) == written
  learning_curve.plot(curve, str(tmp_path / 'curve.png'))
  assert (tmp_path / 'curve.png').read_bytes()[:4] == b'\x89PNG'


def test_committed_curve_has_the_current_codes_definition():
  path = os.path.join(os.path.dirname(__file__), '..', 'docs', 'results',
                      'learning_curve.json')
  with open(path) as f:
    recorded = json.load(f)
  definition = learning_curve.curve_definition(
      demo.DemoPaths('/data'), runs.Budget(), recorded['curve_steps'],
      learning_curve.CHECKPOINT_INTERVAL, recorded['seed'])
  assert definition['data'] == recorded['data']
  assert run_keys.definition_key(definition) == recorded['definition_key'], (
      'the learning curve was measured on another definition: re-measure it '
      'or say in docs/results/README.md that it is stale')
