"""Training logs one line per train loop; TensorBoard gets every output."""
import logging
import os
import re

import tensorflow as tf

import cvrl_tf.registry_imports  # pylint: disable=unused-import
from cvrl_tf import train
import tiny_experiments
import toy_records

STEPS = 3
PROGRESS = re.compile(
    r'^step (\d+)/3 (\S+=\S+ )+steps/sec=\S+ ETA (\d:\d\d:\d\d|\?)$')


def _summaries(model_dir):
  """{tag: sorted steps} of the training summaries."""
  steps = {}
  for path in tf.io.gfile.glob(os.path.join(model_dir, 'train', 'events*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        steps.setdefault(value.tag, []).append(event.step)
  return {tag: sorted(s) for tag, s in steps.items()}


def test_one_line_per_loop_and_every_summary(tmp_path, caplog, capfd):
  pattern = toy_records.write_toy_records(str(tmp_path), videos_per_class=1,
                                          num_shards=2, max_frames=12)
  params = tiny_experiments.tiny_pretrain(pattern, train_steps=STEPS,
                                          spatial_augmentation=False)
  params.override({
      'task': {'train_data': {'global_batch_size': 4}},
      'trainer': {'steps_per_loop': 1, 'summary_interval': 1}})
  # absl's own logger keeps the level of whatever parsed absl flags earlier
  # in this process (WARNING by default); the binary sets INFO in main().
  with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO,
                                                      logger='absl'):
    train.run(params, 'train', str(tmp_path / 'model'))
  output = capfd.readouterr()
  messages = [record.getMessage() for record in caplog.records]
  progress = [m for m in messages if PROGRESS.match(m)]
  assert [int(PROGRESS.match(m).group(1)) for m in progress] == [1, 2, 3]
  assert 'training_loss=' in progress[-1] and 'learning_rate=' in progress[-1]
  # No second report of a loop, as a log record or printed.
  everything = messages + output.out.splitlines() + output.err.splitlines()
  assert not [line for line in everything
              if re.search(r'train \| step: +\d+ \| steps/sec', line)]
  summaries = _summaries(str(tmp_path / 'model'))
  for tag in ('training_loss', 'contrast_acc', 'learning_rate',
              'steps_per_second'):
    assert summaries.get(tag) == [1, 2, 3], (tag, summaries)
