"""The Apache Beam engine of the converter against the local worker pool."""
import functools
import glob
import json
import os
import random
import subprocess
import sys

import pytest
import tensorflow as tf

pytest.importorskip('apache_beam')

# pylint: disable=g-import-not-at-top
from cvrl_tf.data_prep import beam_pipeline
from cvrl_tf.data_prep import converter
from cvrl_tf.data_prep import record_layout
from cvrl_tf.data_prep import records
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import toy_videos
from cvrl_tf.data_prep import video_decoding
import crashing_decoder
import video_fixtures

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOL = os.path.join(_REPO, 'tools', 'make_tfrecords.py')
_DIRECT_RUNNER = ['--runner=DirectRunner', '--direct_num_workers=2',
                  '--direct_running_mode=multi_processing']
_NUM_SHARDS = 3
_MIN_RESIZE = crashing_decoder.MIN_RESIZE
# The hanging video (a FIFO nobody writes to) is abandoned after this long;
# the first video of a decoding process also waits for the process to start,
# which takes seconds on a loaded machine.
_TIMEOUT_SECONDS = 30.0


@pytest.fixture(scope='module')
def mixed_dir(tmp_path_factory):
  """Toy videos, real encodings and bad files in one folder-per-class tree.

  Returns:
    (root, {video id: 'good' or 'bad'}).
  """
  root = str(tmp_path_factory.mktemp('mixed'))
  info = toy_videos.make_toy_dataset(root, train_per_class=1,
                                     test_per_class=0, size=32, fps=4,
                                     num_workers=1)
  video_dir = os.path.join(root, 'train')
  kinds = {os.path.relpath(path, video_dir): 'good'
           for path in info['paths']['train']}
  first, second = info['classes'][:2]
  encodings = [('h264.mp4', {}), ('vp9.webm', {'codec': 'libvpx-vp9'}),
               ('mpeg4.avi', {'codec': 'mpeg4'})]
  for index, (name, kwargs) in enumerate(encodings):
    label = (first, second)[index % 2]
    frames = video_fixtures.moving_frames(8, 48, 64, seed=index)
    video_fixtures.write_video(os.path.join(video_dir, label, name), frames,
                               **kwargs)
    kinds[f'{label}/{name}'] = 'good'
  broken = video_fixtures.write_broken_files(
      os.path.join(video_dir, second),
      os.path.join(video_dir, first, 'h264.mp4'))
  for path in broken.values():
    kinds[os.path.relpath(path, video_dir)] = 'bad'
  # Opening a FIFO without a writer blocks the decoder forever.
  os.mkfifo(os.path.join(video_dir, first, 'hangs.mp4'))
  kinds[f'{first}/hangs.mp4'] = 'bad'
  return video_dir, kinds


def _config(output_dir, flow=None):
  return converter.ConversionConfig(
      output_dir=output_dir, num_shards=_NUM_SHARDS, num_workers=2,
      timeout_per_video=_TIMEOUT_SECONDS,
      decode_options=video_decoding.DecodeOptions(min_resize=_MIN_RESIZE,
                                                  flow=flow))


def _records_by_shard(output_dir):
  """{shard name: {video id: parsed record}}, failing on repeats.

  Records are compared parsed: the serialized order of the context map
  varies between processes.
  """
  shards = {}
  for path in sorted(glob.glob(os.path.join(
      output_dir, records.shard_pattern('train')))):
    by_id = {}
    for serialized in tf.data.TFRecordDataset(path).as_numpy_iterator():
      example = tf.train.SequenceExample.FromString(serialized)
      video_id = example.context.feature[
          record_layout.VIDEO_ID_KEY].bytes_list.value[0]
      assert video_id.decode() not in by_id, f'{video_id} stored twice'
      by_id[video_id.decode()] = example
    shards[os.path.basename(path)] = by_id
  return shards


def _read_json(path):
  with open(path) as f:
    return json.load(f)


@pytest.mark.timeout(1500)
def test_beam_cli_writes_the_same_records_and_report_as_the_pool(
    mixed_dir, tmp_path):
  video_dir, kinds = mixed_dir
  local_dir, beam_dir = str(tmp_path / 'local'), str(tmp_path / 'beam')
  videos, label_map = sources.load_videos(video_dir=video_dir)
  # Flow (Farneback, the cheap one) shows that both engines run the same
  # per-video work.
  converter.convert_videos(videos, label_map,
                           _config(local_dir, flow='farneback'))

  subprocess.run(
      [sys.executable, _TOOL, '--engine=beam', f'--video_dir={video_dir}',
       f'--output_dir={beam_dir}', f'--num_shards={_NUM_SHARDS}',
       f'--min_resize={_MIN_RESIZE}',
       f'--timeout_per_video={_TIMEOUT_SECONDS}', '--flow=farneback', '--',
       *_DIRECT_RUNNER],
      check=True, timeout=1200)

  local, beam = _records_by_shard(local_dir), _records_by_shard(beam_dir)
  # Same shard names and members, the same context and frames per video id.
  assert list(beam) == [records.shard_name('train', i, _NUM_SHARDS)
                        for i in range(_NUM_SHARDS)]
  assert beam == local
  for shard in beam.values():
    for example in shard.values():
      lists = example.feature_lists.feature_list
      assert len(lists[record_layout.FLOW_KEY].feature) == len(
          lists[record_layout.IMAGE_KEY].feature) - 1
  stored = [video_id for shard in beam.values() for video_id in shard]
  assert sorted(stored) == sorted(
      video_id for video_id, kind in kinds.items() if kind == 'good')
  report = _read_json(os.path.join(beam_dir, 'train_report.json'))
  assert report == _read_json(os.path.join(local_dir, 'train_report.json'))
  failed = {os.path.relpath(entry['path'], video_dir): entry['error']
            for entry in report['failed']}
  assert sorted(failed) == sorted(
      video_id for video_id, kind in kinds.items() if kind == 'bad')
  assert 'timed out' in failed[next(f for f in failed if 'hangs' in f)]
  assert _read_json(os.path.join(beam_dir, 'label_map.json')) == label_map
  # Every video is in exactly one shard; shards differ by at most one video.
  manifest = _read_json(os.path.join(beam_dir, 'train_manifest.json'))
  sizes = [entry['converted'] + len(entry['failed'])
           for entry in manifest['shards'].values()]
  assert sum(sizes) == len(kinds) and max(sizes) - min(sizes) <= 1
  assert not glob.glob(os.path.join(beam_dir, records.TEMP_PREFIX + '*'))


def test_shards_do_not_depend_on_the_order_videos_arrive_in():
  videos = [sources.VideoEntry(f'/v/{i}.mp4', f'c{i % 5}/{i}', f'c{i % 5}')
            for i in range(103)]
  shuffled = list(videos)
  random.Random(0).shuffle(shuffled)
  shards = converter.assign_shards(videos, 8)
  assert converter.assign_shards(shuffled, 8) == shards
  sizes = [len(shard) for shard in shards]
  assert sum(sizes) == 103 and max(sizes) - min(sizes) <= 1


def _decoded_outcomes(mixed_dir):
  """(position, record, failure) of the mixed tree's real videos."""
  video_dir, kinds = mixed_dir
  videos, _ = sources.load_videos(video_dir=video_dir)
  good = [video for video in videos if kinds[video.video_id] == 'good'][:3]
  outcomes = []
  for position, video in enumerate(good):
    decoded = video_decoding.decode_video(
        video.path, video_decoding.DecodeOptions(min_resize=_MIN_RESIZE))
    outcomes.append((position, records.make_sequence_example(
        video, decoded).SerializeToString(), None))
  outcomes.append((len(good), None, {'path': 'x.mp4', 'error': 'bad'}))
  return outcomes


def test_retried_shard_write_is_finalised_once(mixed_dir, tmp_path):
  output_dir = str(tmp_path)
  config = _config(output_dir)
  outcomes = _decoded_outcomes(mixed_dir)
  expected = [tf.train.SequenceExample.FromString(serialized)
              for _, serialized, _ in outcomes if serialized]
  names = [records.shard_name('train', i, 2) for i in range(2)]
  # Two attempts at the same shard, as after a retried bundle, and a partial
  # file of an attempt that died while writing.
  attempts = [beam_pipeline.write_temp_shard(output_dir, names[0], outcomes)
              for _ in range(2)]
  with open(records.temp_path(os.path.join(output_dir, names[0])), 'wb') as f:
    f.write(b'partial')
  assert not glob.glob(os.path.join(output_dir, 'train-*'))

  manifest = {}
  beam_pipeline.finalise_shards(attempts, names, config, 'fp', manifest)
  # A retried finalisation changes nothing.
  beam_pipeline.finalise_shards(attempts, names, config, 'fp', dict(manifest))

  shards = _records_by_shard(output_dir)
  assert list(shards[names[0]].values()) == expected
  assert shards[names[1]] == {}  # a shard without videos is written empty
  assert sorted(os.listdir(output_dir)) == names + ['train_manifest.json']
  saved = _read_json(os.path.join(output_dir, 'train_manifest.json'))
  assert saved == {'fingerprint': 'fp', 'shards': manifest}
  assert manifest[names[0]]['converted'] == len(expected)
  assert manifest[names[0]]['failed'] == [{'path': 'x.mp4', 'error': 'bad'}]
  assert manifest[names[0]]['size'] == os.path.getsize(
      os.path.join(output_dir, names[0]))


@pytest.mark.timeout(120)
def test_decode_batch_reports_a_crashing_decoder_and_goes_on(mixed_dir):
  video_dir, _ = mixed_dir
  good = glob.glob(os.path.join(video_dir, '*', 'h264.mp4'))[0]
  batch = [('s', 0, sources.VideoEntry(good, 'a', 'x', 0)),
           ('s', 1, sources.VideoEntry('/no/such/crash', 'b', 'x', 0)),
           ('s', 2, sources.VideoEntry(good, 'c', 'x', 0))]
  config = converter.ConversionConfig(output_dir='unused',
                                      timeout_per_video=60.0)
  decode = beam_pipeline.DecodeBatch(config, crashing_decoder.decode_or_crash)

  results = sorted(decode.process(batch))

  assert [position for _, (position, _, _) in results] == [0, 1, 2]
  assert results[1][1][1:] == (None, {
      'path': '/no/such/crash', 'error': 'worker process died (exit code 7)'})
  for index in (0, 2):
    example = tf.train.SequenceExample.FromString(results[index][1][1])
    frames = example.feature_lists.feature_list[record_layout.IMAGE_KEY]
    assert len(frames.feature) == 8


@pytest.mark.parametrize('args, message', [
    (['--runner=NoSuchRunner'],
     'Beam runner: Unexpected pipeline runner: NoSuchRunner. Valid values '),
    (['--runner=DirectRunner', '--direct_num_workers=two'],
     "Beam pipeline option: argument --direct_num_workers: invalid int "
     "value: 'two'"),
    (['--direct_running_mode=parallel'],
     "Beam pipeline option: argument --direct_running_mode: invalid choice: "
     "'parallel'"),
], ids=['runner', 'int_value', 'choice'])
def test_unusable_pipeline_options_are_one_line_input_errors(args, message):
  with pytest.raises(sources.InputError) as raised:
    beam_pipeline.parse_pipeline_options(args)
  assert str(raised.value).startswith(message)
  assert '\n' not in str(raised.value)


@pytest.mark.timeout(300)
def test_cli_rejects_a_wrong_runner_in_one_line_before_any_work(tmp_path):
  output_dir = tmp_path / 'out'
  run = subprocess.run(
      [sys.executable, _TOOL, '--engine=beam', f'--video_dir={tmp_path}',
       f'--output_dir={output_dir}', '--', '--runner=DirectRuner'],
      capture_output=True, text=True, timeout=240, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
  assert run.returncode == 1
  assert 'Traceback' not in run.stderr
  assert run.stderr.strip().splitlines()[-1].startswith(
      'error: Beam runner: Unexpected pipeline runner: DirectRuner.')
  assert not output_dir.exists()
