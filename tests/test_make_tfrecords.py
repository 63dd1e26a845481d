"""End-to-end tests of the video to TFRecord conversion and its CLI."""
import fractions
import glob
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import av
import numpy as np
from official.vision.dataloaders import video_input
from PIL import Image
import pytest
import tensorflow as tf

from cvrl_tf.data_prep import converter
from cvrl_tf.data_prep import record_layout
from cvrl_tf.data_prep import records
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import video_decoding
import video_fixtures

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOL = os.path.join(_REPO, 'tools', 'make_tfrecords.py')
_MIN_RESIZE = 32

# (file name, write_video kwargs, frames, fps, (height, width)). Classes
# alternate between two folders.
_VIDEOS = [
    ('h264.mp4', {}, 45, 30, (48, 64)),
    ('vp9.webm', {'codec': 'libvpx-vp9'}, 30, 30, (48, 64)),
    ('mpeg4.avi', {'codec': 'mpeg4'}, 30, 30, (72, 96)),
    ('mjpeg.mov', {'codec': 'mjpeg', 'pix_fmt': 'yuvj420p'}, 30, 30, (48, 64)),
    ('fps60.mp4', {}, 60, 60, (48, 64)),
    ('ntsc.mp4', {}, 45, fractions.Fraction(30000, 1001), (48, 64)),
    ('odd.avi', {'codec': 'mpeg4'}, 30, 30, (45, 67)),
    ('portrait.mp4', {}, 30, 30, (64, 48)),
    ('short.mp4', {}, 3, 30, (48, 64)),
]
_CLASSES = ('class_a', 'class_b')


def _require_encoders(names):
  for name in names:
    try:
      av.Codec(name, 'w')
    except av.codec.codec.UnknownCodecError:
      pytest.skip(f'PyAV has no {name} encoder')


def _env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')


@pytest.fixture(scope='module')
def codec_dir(tmp_path_factory):
  """A folder-per-class tree of the _VIDEOS; returns (root, {id: spec})."""
  _require_encoders({kw.get('codec', 'libx264') for _, kw, *_ in _VIDEOS})
  root = str(tmp_path_factory.mktemp('codecs'))
  specs = {}
  for index, (name, kwargs, num_frames, fps, shape) in enumerate(_VIDEOS):
    label = _CLASSES[index % 2]
    os.makedirs(os.path.join(root, label), exist_ok=True)
    frames = video_fixtures.moving_frames(num_frames, *shape, seed=index)
    video_fixtures.write_video(
        os.path.join(root, label, name), frames, fps=fps, **kwargs)
    specs[f'{label}/{name}'] = dict(label=label, num_frames=num_frames,
                                    fps=float(fps), shape=shape)
  return root, specs


def _config(output_dir, **kwargs):
  kwargs.setdefault('num_shards', 3)
  kwargs.setdefault('num_workers', 2)
  kwargs.setdefault('timeout_per_video', 60.0)
  decode_options = video_decoding.DecodeOptions(
      fps=kwargs.pop('fps', None), min_resize=kwargs.pop('min_resize',
                                                         _MIN_RESIZE))
  return converter.ConversionConfig(output_dir=output_dir,
                                    decode_options=decode_options, **kwargs)


def _convert(video_dir, output_dir, **kwargs):
  videos, label_map = sources.load_videos(video_dir=video_dir)
  return converter.convert_videos(videos, label_map,
                                  _config(output_dir, **kwargs))


def _shards(output_dir, split='train'):
  return sorted(glob.glob(os.path.join(output_dir,
                                       records.shard_pattern(split))))


# Every key of the layout, for reading back the converter's records.
_CONTEXT_FEATURES = {
    record_layout.LABEL_INDEX_KEY: tf.io.FixedLenFeature((), tf.int64),
    record_layout.LABEL_TEXT_KEY: tf.io.FixedLenFeature((), tf.string),
    record_layout.VIDEO_ID_KEY: tf.io.FixedLenFeature((), tf.string),
    record_layout.FPS_KEY: tf.io.FixedLenFeature((), tf.float32),
    record_layout.SOURCE_FPS_KEY: tf.io.FixedLenFeature((), tf.float32),
    record_layout.NUM_FRAMES_KEY: tf.io.FixedLenFeature((), tf.int64),
}
_SEQUENCE_FEATURES = {
    record_layout.IMAGE_KEY: tf.io.FixedLenSequenceFeature((), tf.string)}


def parse_sequence_example(serialized):
  """Parses a serialized record into a dict of its context and sequence."""
  context, sequence = tf.io.parse_single_sequence_example(
      serialized, _CONTEXT_FEATURES, _SEQUENCE_FEATURES)
  return {**context, **sequence}


def _read_records(output_dir, split='train'):
  """Returns {video id: (parsed record, serialized record)} of all shards."""
  parsed = {}
  for serialized in tf.data.TFRecordDataset(_shards(output_dir, split)):
    record = {key: value.numpy() for key, value in
              parse_sequence_example(serialized).items()}
    video_id = record[record_layout.VIDEO_ID_KEY].decode()
    assert video_id not in parsed, f'{video_id} stored twice'
    parsed[video_id] = (record, serialized)
  return parsed


def _video_ids(output_dir, split='train'):
  """Returns the video ids of all shards, repeats included."""
  ids = []
  for path in _shards(output_dir, split):
    for serialized in tf.data.TFRecordDataset(path):
      record = parse_sequence_example(serialized)
      ids.append(record[record_layout.VIDEO_ID_KEY].numpy().decode())
  return ids


def _jpeg_shape(jpeg):
  return np.asarray(Image.open(io.BytesIO(jpeg))).shape


def _temp_files(output_dir):
  return glob.glob(os.path.join(output_dir, records.TEMP_PREFIX + '*'))


def test_round_trip_keeps_frames_labels_and_short_side(codec_dir, tmp_path):
  video_dir, specs = codec_dir
  output_dir = str(tmp_path / 'out')

  report = _convert(video_dir, output_dir)

  assert (report.converted, report.failed) == (len(specs), [])
  assert json.load(open(report.report_path)) == {
      'converted': len(specs), 'failed': []}
  label_map = {'class_a': 0, 'class_b': 1}
  assert json.load(open(os.path.join(output_dir, 'label_map.json'))) == (
      label_map)
  assert [os.path.basename(p) for p in _shards(output_dir)] == [
      'train-00000-of-00003.tfrecord', 'train-00001-of-00003.tfrecord',
      'train-00002-of-00003.tfrecord']
  stored = _read_records(output_dir)
  assert sorted(stored) == sorted(specs)
  model_garden_decoder = video_input.Decoder()
  for video_id, spec in specs.items():
    record, serialized = stored[video_id]
    frames = record[record_layout.IMAGE_KEY]
    assert (record[record_layout.NUM_FRAMES_KEY] == len(frames)
            == spec['num_frames'])
    assert record[record_layout.FPS_KEY] == record[record_layout.SOURCE_FPS_KEY]
    assert record[record_layout.FPS_KEY] == pytest.approx(spec['fps'], rel=1e-4)
    assert record[record_layout.LABEL_TEXT_KEY] == spec['label'].encode()
    assert record[record_layout.LABEL_INDEX_KEY] == label_map[spec['label']]
    height, width = spec['shape']
    out_height, out_width, channels = _jpeg_shape(frames[-1])
    assert min(out_height, out_width) == _MIN_RESIZE
    assert channels == 3
    assert out_width / out_height == pytest.approx(width / height, rel=0.03)

    decoded = model_garden_decoder.decode(serialized)
    assert decoded[video_input.IMAGE_KEY].shape[0] == spec['num_frames']
    assert decoded[video_input.LABEL_KEY].numpy().tolist() == [
        label_map[spec['label']]]


def test_fps_resampling_matches_duration_times_target_rate(codec_dir,
                                                           tmp_path):
  video_dir, specs = codec_dir
  output_dir = str(tmp_path / 'out')

  report = _convert(video_dir, output_dir, fps=10, num_shards=2)

  assert report.converted == len(specs)
  stored = _read_records(output_dir)
  for video_id, spec in specs.items():
    record, _ = stored[video_id]
    expected = spec['num_frames'] / spec['fps'] * 10
    num_frames = int(record[record_layout.NUM_FRAMES_KEY])
    assert abs(num_frames - expected) <= 1, (video_id, num_frames, expected)
    assert len(record[record_layout.IMAGE_KEY]) == num_frames >= 1
    assert record[record_layout.FPS_KEY] == 10
    assert record[record_layout.SOURCE_FPS_KEY] == pytest.approx(
        spec['fps'], rel=1e-4)


def test_broken_inputs_are_reported_and_skipped(codec_dir, tmp_path):
  video_dir, _ = codec_dir
  mixed = tmp_path / 'mixed'
  good = {}
  for label in _CLASSES:
    os.makedirs(mixed / label)
    good[f'{label}/good.mp4'] = shutil.copy(
        os.path.join(video_dir, 'class_a', 'h264.mp4'), mixed / label /
        'good.mp4')
  broken = video_fixtures.write_broken_files(
      str(mixed / 'class_b'), os.path.join(video_dir, 'class_a', 'h264.mp4'))
  output_dir = str(tmp_path / 'out')

  report = _convert(str(mixed), output_dir, num_shards=2)

  saved = json.load(open(os.path.join(output_dir, 'train_report.json')))
  assert saved['converted'] == report.converted == len(good)
  assert sorted(entry['path'] for entry in saved['failed']) == sorted(
      broken.values())
  errors = {entry['path']: entry['error'] for entry in saved['failed']}
  assert all(errors.values())
  assert 'no video stream' in errors[broken['audio']]
  assert sorted(_read_records(output_dir)) == sorted(good)


def _copies(source, directory, count):
  """Copies one video `count` times into two class folders."""
  for index in range(count):
    label_dir = os.path.join(directory, _CLASSES[index % 2])
    os.makedirs(label_dir, exist_ok=True)
    shutil.copy(source, os.path.join(label_dir, f'v{index:02d}.mp4'))


def _stats(paths):
  return {os.path.basename(p): (os.stat(p).st_ino, os.stat(p).st_mtime_ns)
          for p in paths}


def test_rerun_keeps_finished_shards_and_rebuilds_on_change(
    codec_dir, tmp_path):
  video_dir = str(tmp_path / 'videos')
  _copies(os.path.join(codec_dir[0], 'class_a', 'short.mp4'), video_dir, 7)
  output_dir = str(tmp_path / 'out')
  _convert(video_dir, output_dir)
  first = _stats(_shards(output_dir))
  missing = 'train-00001-of-00003.tfrecord'
  os.remove(os.path.join(output_dir, missing))
  stale_temp = os.path.join(output_dir, f'.tmp.{missing}.0123abcd')
  open(stale_temp, 'wb').close()

  report = _convert(video_dir, output_dir)

  second = _stats(_shards(output_dir))
  assert report.converted == 7
  assert sorted(second) == sorted(first)
  assert {name for name in first if second[name] == first[name]} == (
      set(first) - {missing})
  assert not _temp_files(output_dir)
  assert sorted(_video_ids(output_dir)) == sorted(
      f'{_CLASSES[i % 2]}/v{i:02d}.mp4' for i in range(7))

  # Other settings change every shard; another shard count replaces them.
  sizes = {p: os.path.getsize(p) for p in _shards(output_dir)}
  _convert(video_dir, output_dir, min_resize=16)
  assert all(os.path.getsize(p) < sizes[p] for p in _shards(output_dir))
  _convert(video_dir, output_dir, num_shards=2)
  assert [os.path.basename(p) for p in _shards(output_dir)] == [
      'train-00000-of-00002.tfrecord', 'train-00001-of-00002.tfrecord']
  assert len(_video_ids(output_dir)) == len(set(_video_ids(output_dir))) == 7


def _run_tool(*args, **popen_kwargs):
  popen_kwargs = dict(dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE),
                      **popen_kwargs)
  return subprocess.Popen([sys.executable, _TOOL, *args], cwd=_REPO,
                          env=_env(), text=True, **popen_kwargs)


def test_cli_exits_non_zero_with_one_line_message(codec_dir,
                                                          tmp_path):
  broken_dir = tmp_path / 'broken'
  broken = video_fixtures.write_broken_files(
      str(broken_dir / 'only_class'),
      os.path.join(codec_dir[0], 'class_a', 'h264.mp4'))
  output_dir = str(tmp_path / 'out')
  # Started together: each run spends most of its time importing TensorFlow.
  runs = {
      'nothing_converted': _run_tool(f'--video_dir={broken_dir}',
                                     f'--output_dir={output_dir}'),
      'no_input': _run_tool(f'--output_dir={output_dir}/unused'),
  }
  results = {name: (run.wait(timeout=120), run.stderr.read())
             for name, run in runs.items()}

  code, stderr = results['nothing_converted']
  assert code == 1
  assert stderr.strip().splitlines()[-1] == (
      f'error: no video converted, {len(broken)} failed; see '
      f'{output_dir}/train_report.json')
  report = json.load(open(os.path.join(output_dir, 'train_report.json')))
  assert report['converted'] == 0 and len(report['failed']) == len(broken)
  code, stderr = results['no_input']
  assert code == 1
  assert stderr.strip().splitlines()[-1].startswith(
      'error: give exactly one of --video_dir, --csv')
  assert not os.path.exists(f'{output_dir}/unused')


def _finished_shards(manifest_path):
  """Shards recorded in a manifest (written atomically, so never partial)."""
  if not os.path.exists(manifest_path):
    return []
  return sorted(json.load(open(manifest_path))['shards'])


def test_killed_cli_run_resumes_without_duplicates(codec_dir, tmp_path):
  """SIGKILLs the CLI after its first shard and reruns it from a CSV."""
  num_videos, num_shards = 16, 8
  root = tmp_path / 'kinetics'
  lines = ['label,youtube_id,time_start,time_end,split']
  source = os.path.join(codec_dir[0], 'class_a', 'h264.mp4')
  for index in range(num_videos):
    label = _CLASSES[index % 2]
    os.makedirs(root / label, exist_ok=True)
    shutil.copy(source, root / label / f'yt{index:02d}_000010_000020.mp4')
    lines.append(f'{label},yt{index:02d},10,20,train')
  csv_path = tmp_path / 'train.csv'
  csv_path.write_text('\n'.join(lines) + '\n')
  output_dir = str(tmp_path / 'out')
  args = (f'--csv={csv_path}', f'--video_root={root}',
          f'--output_dir={output_dir}', f'--num_shards={num_shards}',
          '--num_workers=1', '--min_resize=128')

  manifest_path = os.path.join(output_dir, 'train_manifest.json')
  run = _run_tool(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 120
  while not _finished_shards(manifest_path):
    assert run.poll() is None, 'the run ended before finishing a shard'
    assert time.monotonic() < deadline, 'no shard finished in time'
    time.sleep(0.02)
  run.send_signal(signal.SIGKILL)
  assert run.wait() == -signal.SIGKILL
  assert 1 <= len(_shards(output_dir)) < num_shards
  finished = _stats(os.path.join(output_dir, name)
                    for name in _finished_shards(manifest_path))
  assert finished

  rerun = _run_tool(*args)
  stdout, stderr = rerun.communicate(timeout=120)

  assert rerun.returncode == 0, stdout + stderr
  assert 'videos/s, ETA' in stderr
  assert json.load(open(os.path.join(output_dir, 'train_report.json'))) == {
      'converted': num_videos, 'failed': []}
  ids = _video_ids(output_dir)
  assert sorted(ids) == [f'yt{i:02d}_000010_000020' for i in range(num_videos)]
  assert len(_shards(output_dir)) == num_shards
  assert not _temp_files(output_dir)
  final = _stats(os.path.join(output_dir, name) for name in finished)
  assert final == finished
