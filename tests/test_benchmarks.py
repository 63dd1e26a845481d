"""The benchmarks run end to end on tiny records and compare like with like."""
import json

import numpy as np
import pytest

from official.projects.video_ssl.tasks import pretrain as mg_pretrain

from benchmarks import input_pipeline
from benchmarks import input_stages
from benchmarks import pretrain_step
from cvrl_tf.tasks import pretrain


def test_synthetic_video_is_noisy_and_moving():
  video = input_pipeline.synthetic_video(np.random.default_rng(0), 3, 32, 40)
  assert video.shape == (3, 32, 40, 3) and video.dtype == np.uint8
  assert np.abs(np.diff(video.astype(int), axis=0)).mean() > 1
  assert video.std() > 10


def test_smoke_benchmark_writes_table_and_json(tmp_path, capsys):
  output = tmp_path / 'result.json'
  argv = ['--smoke', f'--cache_dir={tmp_path / "cache"}',
          f'--output_json={output}']
  result = input_pipeline.main(argv)
  summary = json.loads(output.read_text())['summary']
  assert set(summary) == set(input_pipeline.PIPELINES)
  for row in summary.values():
    assert row['videos_per_s'] > 0 and row['cpu_ms_per_video'] > 0
  assert summary['model_garden']['vs_model_garden'] == 1.0
  assert '| ours |' in capsys.readouterr().out
  # A second run reuses the cached records.
  records = result['records']
  again = input_pipeline.write_records(str(tmp_path / 'cache'),
                                       input_pipeline.SMOKE)
  assert again == records


def test_smoke_stage_benchmark_adds_up(tmp_path, capsys):
  output = tmp_path / 'stages.json'
  result = input_stages.main(['--smoke', f'--cache_dir={tmp_path / "cache"}',
                              f'--output_json={output}'])
  assert json.loads(output.read_text())['added_cpu_ms_per_video'] == (
      result['added_cpu_ms_per_video'])
  cumulative = result['cumulative_cpu_ms_per_video']
  assert list(cumulative) == list(input_stages.STAGES)
  assert all(value > 0 for value in cumulative.values())
  np.testing.assert_allclose(sum(result['added_cpu_ms_per_video'].values()),
                             cumulative['blur'])
  assert '| blur |' in capsys.readouterr().out


def test_pretrain_step_times_the_same_network_for_both_tasks():
  def backbone_shapes(model):
    return sorted(tuple(v.shape) for v in model.backbone.variables)

  ours = pretrain.CVRLPretrainTask(pretrain_step.ours_experiment(
      'unused', pretrain_step.SETUP).task).build_model()
  theirs = mg_pretrain.VideoSSLPretrainTask(
      pretrain_step.model_garden_experiment(
          'unused', pretrain_step.SETUP).task).build_model()
  default = mg_pretrain.VideoSSLPretrainTask(
      pretrain_step.model_garden_experiment(
          'unused', pretrain_step.SETUP, cvrl_backbone=False).task
  ).build_model()
  assert backbone_shapes(ours) == backbone_shapes(theirs)
  assert backbone_shapes(default) != backbone_shapes(ours)


def test_pretrain_step_refuses_an_unknown_task(capsys):
  with pytest.raises(SystemExit) as exit_info:
    pretrain_step.main(['--tasks=ours_pool2,model_garden'])
  assert exit_info.value.code == 2
  error, = [line for line in capsys.readouterr().err.splitlines()
            if 'error:' in line]
  assert 'unknown task ours_pool2 in --tasks; choose from ours,' in error
