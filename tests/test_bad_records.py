"""Bad video records stop the input naming their file, or are skipped."""
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from official.core import input_reader

from cvrl_tf import train
from cvrl_tf.configs import data as data_cfg
from cvrl_tf.data_prep import records
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import video_decoding
from cvrl_tf.dataloaders import batching
from cvrl_tf.dataloaders import record_checks
from cvrl_tf.dataloaders import video_decoder
from cvrl_tf.dataloaders import video_input
from cvrl_tf.dataloaders import video_parser
from cvrl_tf.evaluation import subsets
from cvrl_tf.tasks import classification
import tiny_experiments
import toy_records

NUM_CLASSES = 4
NUM_FRAMES = 6


def _jpegs(seed, num_frames=NUM_FRAMES):
  rng = np.random.default_rng(seed)
  return [tf.io.encode_jpeg(rng.integers(0, 256, (32, 32, 3), np.uint8))
          .numpy() for _ in range(num_frames)]


def _video(video_id, label=0, frames=None):
  """A serialized record as `make_tfrecords` writes it."""
  entry = sources.VideoEntry(path='', video_id=video_id, label_text='x',
                             label_index=label)
  decoded = video_decoding.DecodedVideo(
      frames=_jpegs(len(video_id)) if frames is None else frames, fps=25.0,
      source_fps=25.0)
  return records.make_sequence_example(entry, decoded).SerializeToString()


def _write(path, serialized):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in serialized:
      writer.write(record)
  return str(path)


def _corrupt(path, index):
  """Flips a data byte of record `index`, so that its CRC check fails.

  Returns:
    The byte offset at which the record starts.
  """
  lengths = [len(r) for r in tf.data.TFRecordDataset(path).as_numpy_iterator()]
  start = sum(16 + n for n in lengths[:index])
  with open(path, 'r+b') as f:
    f.seek(start + 12 + lengths[index] // 2)
    byte = f.read(1)[0]
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte ^ 0xFF]))
  return start


def _truncate(path):
  """Cuts the file inside its last record.

  Returns:
    The byte offset at which that record starts.
  """
  lengths = [len(r) for r in tf.data.TFRecordDataset(path).as_numpy_iterator()]
  start = sum(16 + n for n in lengths[:-1])
  with open(path, 'r+b') as f:
    f.truncate(start + 12 + lengths[-1] // 2)
  return start


def _png_at_2():
  frames = _jpegs(1)
  frames[2] = tf.io.encode_png(np.zeros((32, 32, 3), np.uint8)).numpy()
  return frames


# name -> (records of the bad shard, problem, ids kept when skipping).
# Every bad shard is [good, bad, good]; a CRC error loses the rest of it.
BAD_SHARDS = {
    'crc': (lambda: [_video('crc_a'), _video('crc_b'), _video('crc_c')],
            'TFRecord framing or CRC check failed at byte {offset} '
            '(after 1 good records); the rest of the file is not read',
            ['crc_a']),
    'truncated': (
        lambda: [_video('cut_a'), _video('cut_b'), _video('cut_c')],
        'TFRecord framing or CRC check failed at byte {offset} (after 2 good '
        'records); the rest of the file is not read', ['cut_a', 'cut_b']),
    'not_a_sequence_example': (
        lambda: [_video('proto_a'), b'\xff\xff not a protocol buffer',
                 _video('proto_c')],
        'record 1 of the file did not parse as a tf.train.SequenceExample '
        'with string frames image/encoded and int64 labels',
        ['proto_a', 'proto_c']),
    'not_jpeg': (
        lambda: [_video('png_a'), _video('png_b', frames=_png_at_2()),
                 _video('png_c')],
        f"frame 2 of {NUM_FRAMES} is not a JPEG (video id png_b)",
        ['png_a', 'png_c']),
    'no_frames': (
        lambda: [_video('empty_a'), _video('empty_b', frames=[]),
                 _video('empty_c')],
        'video has no frames (feature list image/encoded is empty or '
        'missing) (video id empty_b)', ['empty_a', 'empty_c']),
    'label_out_of_range': (
        lambda: [_video('label_a'), _video('label_b', label=NUM_CLASSES + 3),
                 _video('label_c')],
        f"label {NUM_CLASSES + 3} is outside [0, {NUM_CLASSES}) "
        '(video id label_b)', ['label_a', 'label_c']),
}
GOOD_IDS = ['good_0', 'good_1', 'good_2']


def _write_bad_shard(directory, name):
  """Writes BAD_SHARDS[name] to `directory`; returns (path, problem)."""
  make_records, problem, _ = BAD_SHARDS[name]
  path = _write(directory / f'train-{name}.tfrecord', make_records())
  if name == 'crc':
    problem = problem.format(offset=_corrupt(path, 1))
  elif name == 'truncated':
    problem = problem.format(offset=_truncate(path))
  return path, problem


def _params(directory, **overrides):
  config = dict(
      input_path=str(directory / 'train-*.tfrecord'), is_training=False,
      global_batch_size=1, feature_shape=(4, 32, 32, 3), temporal_stride=1,
      min_image_size=32, num_classes=NUM_CLASSES, output_video_id=True,
      seed=3)
  config.update(overrides)
  return data_cfg.DataConfig(**config)


def _video_ids(dataset):
  return [i.decode() for features, _ in dataset
          for i in features['video_id'].numpy()]


def _skip_lines(stderr):
  return [line for line in stderr.splitlines()
          if line.startswith('skipped bad record in ')]


@pytest.mark.parametrize('name', sorted(BAD_SHARDS))
def test_bad_record_stops_input_naming_file_and_problem(tmp_path, name):
  _write(tmp_path / 'train-good.tfrecord', [_video(i) for i in GOOD_IDS])
  path, problem = _write_bad_shard(tmp_path, name)
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    _video_ids(video_input.build_dataset(_params(tmp_path)))
  assert f'bad record in {path}: {problem}' in str(error.value)


def test_skipped_records_are_logged_and_counted(tmp_path, capfd):
  _write(tmp_path / 'train-good.tfrecord', [_video(i) for i in GOOD_IDS])
  problems = dict(_write_bad_shard(tmp_path, name) for name in BAD_SHARDS)
  params = _params(tmp_path, skip_bad_records=True)
  ids = _video_ids(video_input.build_dataset(params))
  expected = GOOD_IDS + [i for _, _, kept in BAD_SHARDS.values()
                         for i in kept]
  assert sorted(ids) == sorted(expected)
  lines = _skip_lines(capfd.readouterr().err)
  assert len(lines) == len(BAD_SHARDS), lines
  for path, problem in problems.items():
    assert sum(f'bad record in {path}: {problem} (' in line
               for line in lines) == 1, (path, lines)
  totals = [int(re.search(r'\((\d+) bad records skipped so far\)$',
                          line).group(1)) for line in lines]
  assert totals == list(range(1, len(BAD_SHARDS) + 1))


@pytest.mark.parametrize('is_training', [False, True])
def test_jpeg_damaged_after_its_header_fails_at_decoding(tmp_path, capfd,
                                                         is_training):
  # The header passes the record checks; the cut-off data fails to decode.
  # The skip is reported by the project itself, whatever the TensorFlow log
  # level.
  frames = _jpegs(1)
  frames[1] = frames[1][:len(frames[1]) // 2]
  path = _write(tmp_path / 'train-a.tfrecord',
                [_video('cut_jpeg', frames=frames)] +
                [_video(i) for i in GOOD_IDS])
  with pytest.raises(tf.errors.InvalidArgumentError, match='JPEG'):
    _video_ids(video_input.build_dataset(
        _params(tmp_path, is_training=is_training)))
  capfd.readouterr()
  params = _params(tmp_path, skip_bad_records=True, is_training=is_training,
                   global_batch_size=len(GOOD_IDS))
  # Training input repeats its shuffled files: two epochs.
  batches = list(video_input.build_dataset(params).take(
      2 if is_training else 1))
  ids = _video_ids(batches)
  assert sorted(set(ids)) == GOOD_IDS and len(ids) == len(batches) * 3
  skipped = [int(count) for features, _ in batches
             for count in features['bad_records_skipped'].numpy()]
  assert skipped == sorted(skipped) and skipped[0] >= 1
  lines = _skip_lines(capfd.readouterr().err)
  assert lines[:1] == [
      f'skipped bad record in {path}: frames fail to decode as JPEG or to '
      'augment (video id cut_jpeg) (1 bad records skipped so far)']


def test_undecodable_videos_count_after_the_checked_ones(tmp_path, capfd):
  frames = _jpegs(1)
  frames[1] = frames[1][:len(frames[1]) // 2]
  _write(tmp_path / 'train-a.tfrecord',
         [_video('empty', frames=[]), _video('cut_jpeg', frames=frames),
          _video('good_0')])
  dataset = video_input.build_dataset(_params(tmp_path,
                                              skip_bad_records=True))
  (features, _), = list(dataset)
  assert features['video_id'].numpy().tolist() == [b'good_0']
  assert features['bad_records_skipped'].numpy().tolist() == [2]
  lines = _skip_lines(capfd.readouterr().err)
  assert [line.rsplit('(', 1)[1] for line in lines] == [
      '1 bad records skipped so far)', '2 bad records skipped so far)']


def test_training_input_that_never_decodes_stops(tmp_path, monkeypatch,
                                                 capfd):
  monkeypatch.setattr(video_input, 'MAX_BAD_IN_A_ROW', 5)
  frames = _jpegs(1)
  frames[1] = frames[1][:len(frames[1]) // 2]
  _write(tmp_path / 'train-bad.tfrecord', [_video('cut', frames=frames)])
  params = _params(tmp_path, is_training=True, skip_bad_records=True,
                   temporal_stride=1)
  with pytest.raises(tf.errors.FailedPreconditionError):
    next(iter(video_input.build_dataset(params)))
  stderr = capfd.readouterr().err
  assert len(_skip_lines(stderr)) == 5
  assert 'stopped reading the input: 5 bad records in a row' in stderr


def _unchecked_dataset(params):
  """The pipeline reading records without checks, as Model Garden does."""
  params = params.replace(
      cycle_length=video_input.interleave_cycle_length(params))
  reader = input_reader.InputReader(
      params, dataset_fn=tf.data.TFRecordDataset,
      decoder_fn=video_decoder.Decoder().decode,
      sample_fn=lambda dataset: video_input.attach_seeds(dataset, params.seed),
      parser_fn=video_parser.Parser(params).parse_fn(True),
      transform_and_batch_fn=lambda dataset, _: dataset.batch(
          params.global_batch_size, drop_remainder=True),
      postprocess_fn=batching.PostBatchProcessor(params))
  return reader.read()


@pytest.mark.parametrize('skip_bad_records', [False, True])
def test_checks_leave_clean_input_unchanged(tmp_path, skip_bad_records):
  # Same videos, order and seeded augmentation as without the checks.
  for shard in 'ab':
    _write(tmp_path / f'train-{shard}.tfrecord',
           [_video(f'{shard}{i}' * (i + 1)) for i in range(3)])
  params = _params(tmp_path, is_training=True, global_batch_size=2,
                   skip_bad_records=skip_bad_records)
  checked = list(video_input.build_dataset(params).take(5))
  unchecked = list(_unchecked_dataset(params).take(5))
  for (features, _), (expected, _) in zip(checked, unchecked):
    np.testing.assert_array_equal(features['video_id'], expected['video_id'])
    np.testing.assert_array_equal(features['image'], expected['image'])
  ids = {i for features, _ in checked for i in features['video_id'].numpy()}
  assert len(ids) > 3


def test_training_stream_skips_bad_records_every_epoch(tmp_path, capfd):
  _write(tmp_path / 'train-good.tfrecord', [_video(i) for i in GOOD_IDS])
  _write_bad_shard(tmp_path, 'not_jpeg')
  params = _params(tmp_path, is_training=True, global_batch_size=2,
                   skip_bad_records=True)
  batches = list(video_input.build_dataset(params).take(10))
  assert batches[-1][0]['image'].shape == (2, 4, 32, 32, 3)
  ids = _video_ids(batches)
  assert 'png_b' not in ids and set(ids) == {*GOOD_IDS, 'png_a', 'png_c'}
  assert _skip_lines(capfd.readouterr().err)


def test_training_input_without_good_videos_stops(tmp_path, monkeypatch,
                                                  capfd):
  # Training input repeats its files: skipping alone would never end.
  monkeypatch.setattr(video_input, 'MAX_BAD_IN_A_ROW', 20)
  _write(tmp_path / 'train-bad.tfrecord',
         [_video('empty', frames=[]), _video('png', frames=_png_at_2())])
  params = _params(tmp_path, is_training=True, skip_bad_records=True)
  with pytest.raises(tf.errors.FailedPreconditionError):
    next(iter(video_input.build_dataset(params)))
  stderr = capfd.readouterr().err
  assert len(_skip_lines(stderr)) == 20
  assert ('stopped reading the input: 20 bad records in a row without a '
          'good video; is the input data corrupt?') in stderr


@pytest.fixture(scope='module')
def toy_with_bad_shard(tmp_path_factory):
  """(pattern, path, problem): toy record shards and a not_jpeg bad shard
  that the pattern matches, shared by the training runs below."""
  directory = tmp_path_factory.mktemp('toy_with_bad_shard')
  pattern = toy_records.write_toy_records(str(directory), videos_per_class=1,
                                          num_shards=2, max_frames=12)
  return (pattern, *_write_bad_shard(directory, 'not_jpeg'))


def test_pretraining_fails_naming_the_bad_file(tmp_path, toy_with_bad_shard):
  pattern, bad_path, problem = toy_with_bad_shard
  params = tiny_experiments.tiny_pretrain(pattern, train_steps=2,
                                          spatial_augmentation=False)
  params.override({'task': {'train_data': {'global_batch_size': 4}}})
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    train.run(params, 'train', str(tmp_path / 'model'))
  assert f'bad record in {bad_path}: {problem}' in str(error.value)


def _logged_values(model_dir, tag):
  """{step: value} of a scalar in the training summaries."""
  values = {}
  for path in tf.io.gfile.glob(os.path.join(model_dir, 'train', 'events*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = float(tf.make_ndarray(value.tensor))
  return values


@pytest.mark.parametrize('experiment', ['cvrl_pretrain', 'cvrl_finetune'])
def test_training_logs_the_skipped_count_as_a_metric(tmp_path, capfd,
                                                     toy_with_bad_shard,
                                                     experiment):
  pattern, _, _ = toy_with_bad_shard
  # With this seed the bad record comes after the first epoch's good videos
  # of the shuffled input, i.e. in the fourth batch.
  steps = 4
  if experiment == 'cvrl_pretrain':
    params = tiny_experiments.tiny_pretrain(pattern, train_steps=steps,
                                            spatial_augmentation=False)
  else:
    params = tiny_experiments.tiny_classification(experiment, pattern,
                                                  pattern, train_steps=steps)
  params.override({
      'task': {'train_data': {'global_batch_size': 4,
                              'skip_bad_records': True}},
      'trainer': {'steps_per_loop': 1, 'summary_interval': 1}})
  train.run(params, 'train', str(tmp_path / 'model'))
  logged = _logged_values(str(tmp_path / 'model'), 'bad_records_skipped')
  assert sorted(logged) == list(range(1, steps + 1))
  counts = [logged[step] for step in sorted(logged)]
  assert counts == sorted(counts)
  # The input runs ahead of training: it may have skipped more by the end.
  assert 1 <= counts[-1] <= len(_skip_lines(capfd.readouterr().err))


class _Subset:
  fraction, seed, ids_file = 0.5, 0, ''


@pytest.mark.parametrize('name', ['crc', 'truncated',
                                  'not_a_sequence_example'])
def test_subset_selection_stops_naming_the_bad_file(tmp_path, name):
  """Reading the ids of a semi-supervised subset checks records as the
  input does; the trainer prints the message as its one-line error."""
  _write(tmp_path / 'train-good.tfrecord', [_video(i) for i in GOOD_IDS])
  path, problem = _write_bad_shard(tmp_path, name)
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    classification.subset_video_ids(_params(tmp_path), _Subset(),
                                     str(tmp_path / 'ids.txt'))
  assert record_checks.bad_record_message(error.value.message) == (
      f'bad record in {path}: {problem}')


def test_subset_selection_skips_and_reports_bad_records(tmp_path, capfd):
  _write(tmp_path / 'train-good.tfrecord', [_video(i) for i in GOOD_IDS])
  problems = dict(_write_bad_shard(tmp_path, name) for name in BAD_SHARDS)
  params = _params(tmp_path, skip_bad_records=True)
  selected = classification.subset_video_ids(params, _Subset(),
                                             str(tmp_path / 'ids.txt'))
  # The good videos, file by file in name order.
  kept = {name: kept for name, (_, _, kept) in BAD_SHARDS.items()}
  kept['good'] = GOOD_IDS
  good = [i for name in sorted(kept) for i in kept[name]]
  assert selected == subsets.select_subset(good, [0] * len(good), 0.5, 0)
  assert (tmp_path / 'ids.txt').read_text().split() == selected
  lines = _skip_lines(capfd.readouterr().err)
  assert len(lines) == len(BAD_SHARDS), lines
  for path, problem in problems.items():
    assert sum(f'bad record in {path}: {problem} (' in line
               for line in lines) == 1, (path, lines)
