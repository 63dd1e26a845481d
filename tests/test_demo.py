"""The `make demo` pipeline end to end, at a tiny size."""
import json
import os

from cvrl_tf import demo


def test_demo_runs_every_stage_and_writes_results(tmp_path):
  results = demo.run_demo(str(tmp_path), train_per_class=2, test_per_class=1,
                          pretrain_steps=2)
  with open(tmp_path / 'results.json') as f:
    written = json.load(f)
  for key in ('cvrl_linear_top1', 'random_linear_top1', 'cvrl_knn_r1',
              'random_knn_r1'):
    assert 0.0 <= written[key] <= 1.0
    assert written[key] == results[key]
  assert written['converted_videos'] == {'train': 20, 'test': 10}
  assert os.path.exists(tmp_path / 'pretrain' / 'ckpt-2.index')
  table = demo.results_table(results['metrics'])
  assert table.count('\n') == 3 and '| cvrl |' in table
