"""The `make demo` pipeline end to end, at a tiny size."""
import json
import os

from official.modeling import optimization

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


def test_shortened_schedule_keeps_its_warmup_share(tmp_path):
  params = demo.pretrain_params(demo.DemoPaths(str(tmp_path)), 150)
  optimizer_config = params.trainer.optimizer_config
  assert optimizer_config.warmup.linear.warmup_steps == 10
  schedule = optimization.OptimizerFactory(
      optimizer_config).build_learning_rate()
  rates = [float(schedule(step)) for step in range(150)]
  peak = optimizer_config.learning_rate.cosine.initial_learning_rate
  # Warm-up to the decayed rate at step 10, then cosine decay towards 0.
  assert max(rates) > 0.9 * peak
  assert rates[1] < rates[10] and rates[149] < 0.01 * peak
