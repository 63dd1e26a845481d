"""The benchmarks run end to end on tiny records and compare like with like."""
import json

import numpy as np
import pytest
import tensorflow as tf

from official.projects.video_ssl.tasks import pretrain as mg_pretrain

from benchmarks import flow_cost
from benchmarks import input_pipeline
from benchmarks import input_stages
from benchmarks import pretrain_step
from benchmarks import view_summaries
from cvrl_tf.dataloaders import video_decoder
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
  written = json.loads(output.read_text())
  summary = written['summary']
  assert set(summary) == set(input_pipeline.PIPELINES)
  for row in summary.values():
    assert row['videos_per_s'] > 0 and row['cpu_ms_per_video'] > 0
  # The table's figures are the medians of the timed samples, and its
  # ratios divide them by Model Garden's.
  medians = {name: np.median([s['videos_per_s'] for s in samples])
             for name, samples in written['samples'].items()}
  for name, row in summary.items():
    np.testing.assert_allclose(row['videos_per_s'], medians[name])
    np.testing.assert_allclose(row['vs_model_garden'],
                               medians[name] / medians['model_garden'])
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
  for stage, value in cumulative.items():
    np.testing.assert_allclose(value, np.median(
        [s['cpu_ms_per_video'] for s in result['samples'][stage]]))
  assert '| blur |' in capsys.readouterr().out


def test_each_stage_of_the_stage_benchmark_changes_the_views(tmp_path):
  # Colour and blur apply with a probability: some seeds must show them.
  records = input_pipeline.write_records(str(tmp_path), input_pipeline.SMOKE)
  serialized = next(iter(tf.data.TFRecordDataset(
      tf.io.gfile.glob(records['pattern']))))
  frames = video_decoder.Decoder().decode(serialized)['frames'][:4]
  spatial = input_pipeline.ours_config('', input_pipeline.SMOKE
                                       ).augmentation.spatial
  changed = {'colour': False, 'blur': False}
  for seed in range(8):
    views = {stage: input_stages._augmented_view(  # pylint: disable=protected-access
        frames, tf.constant([seed, 1], tf.int64), stage,
        input_pipeline.SMOKE, spatial).numpy()
             for stage in ('resize', 'colour', 'blur')}
    assert views['resize'].shape == views['blur'].shape == (4, 32, 32, 3)
    changed['colour'] |= not np.array_equal(views['resize'], views['colour'])
    changed['blur'] |= not np.array_equal(views['colour'], views['blur'])
  assert changed == {'colour': True, 'blur': True}


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


def test_view_summary_benchmark_alternates_and_reports_medians_and_ratios():
  assert [view_summaries.round_order(['a', 'b'], r) for r in range(3)] == [
      ['a', 'b'], ['b', 'a'], ['a', 'b']]
  rng = np.random.default_rng(0)
  samples = {name: [{'wall_s_per_step': w, 'cpu_s_per_step': c}
                    for w, c in rng.uniform(1, 2, (5, 2))]
             for name in view_summaries.RUNS}
  summary = view_summaries.summarize(samples)
  arrays = {name: {key: np.array([s[key] for s in rows])
                   for key in view_summaries.TIMES}
            for name, rows in samples.items()}
  for key in view_summaries.TIMES:
    images, no_images = arrays['images'][key], arrays['no_images'][key]
    np.testing.assert_allclose(summary['images'][key], np.median(images))
    np.testing.assert_allclose(summary['ratio'][key],
                               np.median(images) / np.median(no_images))
    np.testing.assert_allclose(summary['round_ratio'][key],
                               np.median(images / no_images))
    np.testing.assert_allclose(summary['round_ratio_min'][key],
                               np.min(images / no_images))
  table = view_summaries.format_table(summary)
  assert f'| {summary["round_ratio"]["cpu_s_per_step"]:.4f} |' in table


def test_flow_cost_benchmark_times_each_method_and_scales_to_kinetics():
  result = flow_cost.run(['farneback', 'tvl1'], height=32, width=48,
                         frames_per_rep=2, repetitions=2)

  assert result['opencv_threads'] == 1
  for method in ('farneback', 'tvl1'):
    row = result['methods'][method]
    assert len(row['cpu_ms_per_frame_samples']) == 2
    assert row['cpu_ms_per_frame_median'] > 0
    kinetics = row['kinetics400']
    assert kinetics['frames'] == 240_000 * 10 * 25
    assert kinetics['cpu_core_hours'] == pytest.approx(
        60e6 * row['cpu_ms_per_frame_median'] / 1e3 / 3600)
