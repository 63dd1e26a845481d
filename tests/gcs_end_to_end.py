"""gs:// end to end: the tools on TensorFlow's own GCS client and an emulator.

Runs only inside the namespace that `gcs_namespace.py` makes (test_gcs.py
starts it); there `gs://cvrl-test` is served by `gcp-storage-emulator`
behind a TLS proxy, and no request can leave the machine.

One chain of real runs, the first two with each tool in its own process as
a user runs it:

  1. `tools/make_tfrecords.py --output_dir=gs://...`, SIGKILLed halfway
     through the copy + delete that renames a shard into place while a
     reader watches the bucket, then rerun;
  2. pretraining on those records with `--model_dir=gs://...`, killed while
     committing a checkpoint, then resumed, while `cvrl_knn_eval
     --mode=continuous_eval` follows the same model_dir;
  3. in this process, through the library functions of the trainer and
     tools: `cvrl_linear_eval` with `task.init_checkpoint=gs://...`, the
     export of `tools/export_model.py` to gs:// and the features of
     `tools/extract_features.py` to gs://.

On its own, in this process: every input format of `make_tfrecords` listed
from gs:// (`gcs_inputs`), and the Beam engine converting from and to gs://
(`beam_on_gcs`).
"""
import functools
import http.client
import io
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import types
import urllib.parse
from typing import Dict, List

import numpy as np
import pytest
import tensorflow as tf
import yaml

from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf import train
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.data_prep import converter
from cvrl_tf.data_prep import record_layout
from cvrl_tf.data_prep import records
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import video_decoding
from cvrl_tf.evaluation import extract
from cvrl_tf.serving import export_saved_model
import gcs_emulator
import gcs_namespace
import tiny_experiments
import video_fixtures

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKET = f'gs://{gcs_namespace.BUCKET}'
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
# A hang guard: generous, as the machine may be shared.
PROCESS_TIMEOUT = 1500
NUM_VIDEOS, NUM_SHARDS = 8, 4
# A checkpoint at every step: the kill comes at the second.
TRAIN_STEPS, CHECKPOINT_INTERVAL, KILLED_SAVE = 3, 1, 2
RESTORED = re.compile(r'restored from checkpoint: (\S*ckpt-\d+)')
PROGRESS = re.compile(r'\] step (\d+)/\d+ ')

if not gcs_namespace.in_private_network():
  pytest.skip('runs only inside the namespace of gcs_namespace.py',
              allow_module_level=True)


class Tool:
  """A Python subprocess in the repository, its output kept in a file."""

  def __init__(self, args: List[str], log_path: str):
    self.log_path = log_path
    with open(log_path, 'w') as log:
      self.process = subprocess.Popen([sys.executable, *args], cwd=REPO,
                                      env=ENV, stdout=log,
                                      stderr=subprocess.STDOUT)

  def log(self) -> str:
    with open(self.log_path) as f:
      return f.read()

  def finish(self) -> 'Tool':
    try:
      self.process.wait(timeout=PROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
      self.process.kill()
      self.process.wait()
    return self

  @property
  def returncode(self):
    return self.process.returncode


def trainer_args(experiment: str, config_file: str, mode: str,
                 model_dir: str, *extra) -> List[str]:
  return ['-m', 'cvrl_tf.train', f'--experiment={experiment}',
          f'--config_file={config_file}', f'--mode={mode}',
          f'--model_dir={model_dir}', *extra]


def write_config(path: str, params) -> str:
  with open(path, 'w') as f:
    yaml.safe_dump(params.as_dict(), f)
  return path


def video_ids(paths) -> List[str]:
  """The video id of every record of the files; raises on a truncated file."""
  spec = {record_layout.VIDEO_ID_KEY: tf.io.FixedLenFeature((), tf.string)}
  return [tf.io.parse_single_sequence_example(serialized, spec)[0][
      record_layout.VIDEO_ID_KEY].numpy().decode()
          for serialized in tf.data.TFRecordDataset(paths)]


def scalars(pattern: str) -> Dict[str, Dict[int, float]]:
  """{tag: {step: value}} of every scalar in the event files of `pattern`."""
  found = {}
  for path in tf.io.gfile.glob(pattern):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        number = tf.make_ndarray(value.tensor) if value.HasField(
            'tensor') else value.simple_value
        if np.size(number) != 1:  # the training views' image summaries
          continue
        found.setdefault(value.tag, {})[event.step] = float(number)
  return found


def emulator_connection(secure: bool) -> http.client.HTTPConnection:
  """A connection to the emulator itself, or to it through the proxy."""
  if secure:
    return http.client.HTTPSConnection(
        gcs_emulator.GCS_HOSTS[0], timeout=30,
        context=ssl.create_default_context(
            cafile=os.environ['CURL_CA_BUNDLE']))
  host, port = os.environ[gcs_namespace.EMULATOR_ENV].split(':')
  return http.client.HTTPConnection(host, int(port), timeout=30)


def emulator_request(secure: bool, method: str, path: str,
                     headers=None) -> http.client.HTTPResponse:
  connection = emulator_connection(secure)
  connection.request(method, path, body=b'', headers={
      'Host': gcs_emulator.GCS_HOSTS[0], 'Content-Length': '0',
      **(headers or {})})
  response = connection.getresponse()
  response.read()
  connection.close()
  return response


def resumable_session(secure: bool, name: str) -> str:
  response = emulator_request(
      secure, 'POST', f'/upload/storage/v1/b/{gcs_namespace.BUCKET}/o?'
      + urllib.parse.urlencode({'uploadType': 'resumable', 'name': name}))
  assert response.status == 200
  return response.getheader('Location')


@pytest.mark.parametrize('secure', [False, True],
                         ids=['emulator', 'through_proxy'])
def test_gcs_emulator_quirks_and_their_workarounds(secure):
  """Each quirk the proxy works around, straight from the emulator."""
  # 1. The resumable session URI is plain http://.
  location = resumable_session(secure, f'quirks/session-{secure}')
  scheme = 'https' if secure else 'http'
  assert location.startswith(f'{scheme}://{gcs_emulator.GCS_HOSTS[0]}/')
  # 2. With no byte received, a status query answers `Range: bytes=0-0`.
  session = urllib.parse.urlsplit(location)
  status = emulator_request(secure, 'PUT', f'{session.path}?{session.query}',
                            {'Content-Range': 'bytes */10'})
  assert status.status == 308
  assert status.getheader('Range') == (None if secure else 'bytes=0-0')
  # 3. An empty media upload (how TensorFlow makes a directory) breaks the
  # emulator's handler, which drops the connection.
  empty = (f'/upload/storage/v1/b/{gcs_namespace.BUCKET}/o?uploadType=media&'
           f'name=quirks%2Fdir-{secure}%2F')
  if secure:
    assert emulator_request(secure, 'POST', empty).status == 200
    assert tf.io.gfile.isdir(f'{BUCKET}/quirks/dir-{secure}')
  else:
    with pytest.raises(http.client.RemoteDisconnected):
      emulator_request(secure, 'POST', empty)


def test_gcs_upload_resumes_after_a_failed_put_with_every_byte():
  """TensorFlow queries the session after a failed PUT and starts over."""
  path = f'{BUCKET}/quirks/{gcs_emulator.FAIL_FIRST_PUT}.bin'
  data = np.random.default_rng(0).bytes(100_000)
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(data)
  with tf.io.gfile.GFile(path, 'rb') as f:
    assert f.read() == data
  puts = [r for r in gcs_emulator.read_request_log(
      os.environ[gcs_namespace.REQUEST_LOG_ENV])
          if r['method'] == 'PUT' and gcs_emulator.FAIL_FIRST_PUT in r['query']]
  assert [(r['status'], r['content_range']) for r in puts] == [
      (503, f'bytes 0-{len(data) - 1}/{len(data)}'),
      (308, f'bytes */{len(data)}'),
      (200, f'bytes 0-{len(data) - 1}/{len(data)}')]


@pytest.fixture(scope='module')
def work_dir(tmp_path_factory):
  return tmp_path_factory.mktemp('gcs')


@pytest.fixture(scope='module')
def video_dir(work_dir):
  """NUM_VIDEOS copies of one 45-frame clip in two class folders."""
  root = work_dir / 'videos'
  source = video_fixtures.write_video(
      str(work_dir / 'clip.mp4'), video_fixtures.moving_frames(45, 48, 64))
  for index in range(NUM_VIDEOS):
    label_dir = root / ('class_a', 'class_b')[index % 2]
    label_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, label_dir / f'v{index:02d}.mp4')
  return str(root)


@pytest.fixture(scope='module')
def converted(work_dir, video_dir):
  """make_tfrecords to gs://, SIGKILLed inside a rename, then rerun.

  The kill comes after the second shard was copied to its final name and
  before its temporary object was deleted (`rename_kill_worker.py`). While
  the first run writes, the bucket is watched: after each request that may
  have changed it (in the proxy's log), every shard that has become visible
  is read whole at once.
  """
  output_dir = f'{BUCKET}/records'
  args = ['tools/make_tfrecords.py', f'--video_dir={video_dir}',
          f'--output_dir={output_dir}', f'--num_shards={NUM_SHARDS}',
          '--num_workers=1', '--min_resize=128']
  shard_glob = f'{output_dir}/{records.shard_pattern("train")}'
  seen = {}  # shard name -> the ids read from it while the run went on
  log_path, offset = os.environ[gcs_namespace.REQUEST_LOG_ENV], 0
  killed = Tool([os.path.join(REPO, 'tests', 'rename_kill_worker.py'),
                 records.shard_name('train', 1, NUM_SHARDS), *args],
                str(work_dir / 'make_tfrecords_killed.log'))
  deadline = time.monotonic() + PROCESS_TIMEOUT
  while True:
    running = killed.process.poll() is None
    changed, offset = gcs_emulator.writes_logged_since(log_path, offset)
    if changed:
      for path in tf.io.gfile.glob(shard_glob):
        name = os.path.basename(path)
        if name not in seen:
          seen[name] = video_ids(path)
    if not running:
      break
    assert time.monotonic() < deadline, 'the killed run did not end in time'
    if not changed:
      time.sleep(0.05)
  after_kill = types.SimpleNamespace(
      shards=sorted(os.path.basename(p) for p in tf.io.gfile.glob(shard_glob)),
      temporary=sorted(os.path.basename(p) for p in tf.io.gfile.glob(
          f'{output_dir}/{records.TEMP_PREFIX}*')),
      manifest=sorted(records.read_json(
          f'{output_dir}/{records.manifest_name("train")}')['shards']))
  kept = {name: tf.io.gfile.stat(f'{output_dir}/{name}').mtime_nsec
          for name in after_kill.manifest}
  rerun = Tool(args, str(work_dir / 'make_tfrecords_rerun.log')).finish()
  return types.SimpleNamespace(
      output_dir=output_dir, killed=killed, rerun=rerun, seen=seen,
      after_kill=after_kill, kept=kept,
      pattern=f'{output_dir}/train-*.tfrecord')


def test_gcs_make_tfrecords_killed_and_rerun_stores_every_video_once(
    converted, video_dir):
  assert converted.killed.returncode == -signal.SIGKILL, (
      converted.killed.log()[-3000:])
  # The kill left the second shard whole under its final name, its
  # temporary object, and a manifest that vouches for the first shard only.
  first, second = (records.shard_name('train', i, NUM_SHARDS) for i in (0, 1))
  assert converted.after_kill.shards == [first, second]
  assert len(converted.after_kill.temporary) == 1
  assert converted.after_kill.temporary[0].startswith(
      records.TEMP_PREFIX + second)
  assert converted.after_kill.manifest == [first]
  assert converted.rerun.returncode == 0, converted.rerun.log()[-3000:]
  output_dir = converted.output_dir
  report = records.read_json(f'{output_dir}/train_report.json')
  assert report == {'converted': NUM_VIDEOS, 'failed': []}
  shards = tf.io.gfile.glob(f'{output_dir}/{records.shard_pattern("train")}')
  assert len(shards) == NUM_SHARDS
  ids = [video_id for path in shards for video_id in video_ids(path)]
  videos, _ = sources.load_videos(video_dir=video_dir)
  assert sorted(ids) == sorted(video.video_id for video in videos)
  assert not tf.io.gfile.glob(f'{output_dir}/{records.TEMP_PREFIX}*')
  # The shard the killed run had finished was kept, not rewritten.
  for name, mtime in converted.kept.items():
    assert tf.io.gfile.stat(f'{output_dir}/{name}').mtime_nsec == mtime, name


def test_gcs_no_partial_shard_is_ever_visible(converted, video_dir):
  assert converted.seen
  videos, _ = sources.load_videos(video_dir=video_dir)
  expected = {
      records.shard_name('train', index, NUM_SHARDS):
          sorted(video.video_id for video in shard)
      for index, shard in enumerate(
          converter.assign_shards(videos, NUM_SHARDS))}
  for name, ids in converted.seen.items():
    assert sorted(ids) == expected[name], name


@pytest.fixture(scope='module')
def pretrained(work_dir, converted):
  """Pretraining to gs://, killed while committing a checkpoint, resumed.

  The resumed run and a continuous kNN evaluation of the same model_dir
  run side by side.
  """
  assert converted.rerun.returncode == 0, converted.rerun.log()[-3000:]
  model_dir = f'{BUCKET}/pretrain'
  params = tiny_experiments.tiny_pretrain(converted.pattern, TRAIN_STEPS,
                                          CHECKPOINT_INTERVAL)
  # Spatial augmentation only lengthens start-up (XLA-compiled colour ops).
  params.override({'task': {'train_data': {
      'global_batch_size': 4, 'augmentation': {'spatial': {
          'enabled': False}}}},
                   'trainer': {'steps_per_loop': 1, 'summary_interval': 1}})
  config = write_config(str(work_dir / 'pretrain.yaml'), params)
  killed = Tool([os.path.join(REPO, 'tests', 'checkpoint_kill_worker.py'),
                 str(KILLED_SAVE), *trainer_args(
                     'cvrl_pretrain', config, 'train', model_dir)[2:]],
                str(work_dir / 'pretrain_killed.log')).finish()
  latest_after_kill = tf.train.latest_checkpoint(model_dir)
  resumed = Tool(trainer_args('cvrl_pretrain', config, 'train', model_dir),
                 str(work_dir / 'pretrain_resumed.log'))
  knn_params = tiny_experiments.tiny_knn(converted.pattern, converted.pattern,
                                         train_steps=TRAIN_STEPS)
  knn_params.override({'trainer': {'continuous_eval_timeout': 5}})
  knn = Tool(trainer_args('cvrl_knn_eval',
                          write_config(str(work_dir / 'knn.yaml'), knn_params),
                          'continuous_eval', model_dir),
             str(work_dir / 'knn.log'))
  resumed.finish()
  knn.finish()
  return types.SimpleNamespace(model_dir=model_dir, config=config,
                               killed=killed, resumed=resumed, knn=knn,
                               latest_after_kill=latest_after_kill)


def test_gcs_pretraining_resumes_after_a_kill(pretrained):
  killed, resumed = pretrained.killed, pretrained.resumed
  assert killed.returncode == -signal.SIGKILL, killed.log()[-3000:]
  assert resumed.returncode == 0, resumed.log()[-3000:]
  model_dir = pretrained.model_dir
  # The killed save had written its files; the state file does not name it.
  assert tf.io.gfile.exists(f'{model_dir}/ckpt-{KILLED_SAVE}.index')
  assert pretrained.latest_after_kill == (
      f'{model_dir}/ckpt-{KILLED_SAVE - CHECKPOINT_INTERVAL}')
  assert RESTORED.search(resumed.log()).group(1) == (
      pretrained.latest_after_kill)
  steps = [int(step) for step in PROGRESS.findall(resumed.log())]
  assert steps == list(range(KILLED_SAVE - CHECKPOINT_INTERVAL + 1,
                             TRAIN_STEPS + 1))
  assert tf.train.latest_checkpoint(model_dir) == (
      f'{model_dir}/ckpt-{TRAIN_STEPS}')
  assert tf.io.gfile.exists(f'{model_dir}/params.yaml')
  assert not tf.io.gfile.glob(f'{model_dir}/*_temp*')


def test_gcs_pretraining_writes_tensorboard_summaries(pretrained):
  train = scalars(f'{pretrained.model_dir}/train/events.out.tfevents.*')
  assert 'learning_rate' in train, sorted(train)
  # Both runs' event files together cover every step.
  assert sorted(train['learning_rate']) == list(range(1, TRAIN_STEPS + 1))
  losses = [tag for tag in train if 'loss' in tag]
  assert losses and all(np.isfinite(list(train[tag].values())).all()
                        for tag in losses)


def test_gcs_continuous_knn_eval_follows_the_model_dir(pretrained):
  knn = pretrained.knn
  assert knn.returncode == 0, knn.log()[-3000:]
  validation = scalars(
      f'{pretrained.model_dir}/validation/events.out.tfevents.*')
  assert 'recall@1' in validation, sorted(validation)
  # It evaluated the last checkpoint, then stopped by itself.
  assert TRAIN_STEPS in validation['recall@1']
  assert all(0.0 <= value <= 1.0 for value in validation['recall@1'].values())


@pytest.fixture(scope='module')
def downstream(work_dir, converted, pretrained):
  """Linear eval, export and feature extraction from the gs:// checkpoint.

  In this process, through the library functions the trainer binary and
  the tools call: the file system is what is tested, and no other
  TensorFlow starts.
  """
  checkpoint = f'{pretrained.model_dir}/ckpt-{TRAIN_STEPS}'
  linear_params = tiny_experiments.tiny_classification(
      'cvrl_linear_eval', converted.pattern, converted.pattern,
      train_steps=2, init_checkpoint=checkpoint)
  # What is tested is the checkpoint read from gs://, not the training
  # views: spatial augmentation only lengthens start-up.
  linear_params.task.train_data.augmentation.spatial.enabled = False
  train.run(linear_params, 'train', f'{BUCKET}/linear')
  params = config_validation.experiment_params('cvrl_pretrain',
                                               [pretrained.config])
  export_saved_model.export_saved_model(params, pretrained.model_dir,
                                        f'{BUCKET}/export')
  extract.extract_to_npz(params, pretrained.model_dir, converted.pattern,
                         f'{BUCKET}/features/train.npz')
  return types.SimpleNamespace(checkpoint=checkpoint, params=params)


def backbone_values(checkpoint: str) -> Dict[str, np.ndarray]:
  """The variables of a checkpoint's `backbone/` item, by name."""
  reader = tf.train.load_checkpoint(checkpoint)
  values = {}
  for name in reader.get_variable_to_shape_map():
    if (name.startswith('backbone/') and '.OPTIMIZER_SLOT' not in name and
        name.endswith('.ATTRIBUTES/VARIABLE_VALUE')):
      values[name] = reader.get_tensor(name)
  return values


def test_gcs_linear_eval_starts_from_the_gs_checkpoint(downstream):
  trained = tf.train.latest_checkpoint(f'{BUCKET}/linear')
  assert trained
  # The linear probe freezes the backbone: it must hold the pretrained
  # weights it was initialised with, read from gs://.
  pretrained = backbone_values(downstream.checkpoint)
  probed = backbone_values(trained)
  assert pretrained and probed.keys() == pretrained.keys()
  for name, value in pretrained.items():
    np.testing.assert_array_equal(probed[name], value, err_msg=name)


def test_gcs_export_and_extract_write_to_gs(downstream, converted):
  params = downstream.params
  feature_shape = params.task.validation_data.feature_shape
  model = extract.restore_model(params.task.model, feature_shape,
                                downstream.checkpoint)
  clips = np.random.default_rng(0).uniform(
      0, 1, [2, *feature_shape]).astype(np.float32)
  encoder = tf.saved_model.load(f'{BUCKET}/export')
  served = encoder.signatures['serve_float'](images=tf.constant(clips))
  np.testing.assert_allclose(served['features'].numpy(),
                             model.encode(clips, training=False).numpy(),
                             rtol=1e-5, atol=1e-5)

  with tf.io.gfile.GFile(f'{BUCKET}/features/train.npz', 'rb') as f:
    arrays = np.load(io.BytesIO(f.read()))
    ids, features = arrays['video_ids'], arrays['features']
  stored = video_ids(tf.io.gfile.glob(converted.pattern))
  assert sorted(ids) == sorted(stored)
  assert features.shape == (NUM_VIDEOS, served['features'].shape[1])
  assert np.isfinite(features).all()


# UCF-101-like names, so that one tree serves every input format: a
# Kinetics row whose youtube_id is a file's stem finds that file.
BEAM_CLASSES = ('Archery', 'Bowling')
BEAM_NOT_A_VIDEO = 'Bowling/v_Bowling_g01_c03.avi'


def beam_tree(root: str) -> List[str]:
  """Writes 2 tiny videos per class and a file that is not a video.

  Returns:
    The file names relative to `root`, `Class/v_Class_g01_cNN.avi`.
  """
  names = []
  for label_index, label in enumerate(BEAM_CLASSES):
    for clip in (1, 2):
      name = f'{label}/v_{label}_g01_c{clip:02d}.avi'
      os.makedirs(os.path.join(root, label), exist_ok=True)
      video_fixtures.write_video(
          os.path.join(root, name), video_fixtures.moving_frames(
              6, 32, 48, seed=2 * label_index + clip), codec='mpeg4')
      names.append(name)
  with open(os.path.join(root, BEAM_NOT_A_VIDEO), 'wb') as f:
    f.write(b'not a video')
  return names + [BEAM_NOT_A_VIDEO]


def upload(local_root: str, names: List[str], gcs_root: str) -> None:
  for name in names:
    tf.io.gfile.makedirs(os.path.dirname(f'{gcs_root}/{name}'))
    tf.io.gfile.copy(os.path.join(local_root, name), f'{gcs_root}/{name}')


def write_text(path: str, lines: List[str]) -> str:
  with tf.io.gfile.GFile(path, 'w') as f:
    f.write(''.join(f'{line}\n' for line in lines))
  return path


def parsed_records(output_dir: str) -> Dict[str, tf.train.SequenceExample]:
  """{video id: record} of a split's shards; fails on a repeated id."""
  by_id = {}
  for serialized in tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(
      f'{output_dir}/{records.shard_pattern("train")}'))):
    example = tf.train.SequenceExample.FromString(serialized.numpy())
    video_id = example.context.feature[
        record_layout.VIDEO_ID_KEY].bytes_list.value[0].decode()
    assert video_id not in by_id, f'{video_id} stored twice'
    by_id[video_id] = example
  return by_id


def small_conversion(output_dir: str) -> converter.ConversionConfig:
  return converter.ConversionConfig(
      output_dir=output_dir, num_shards=2, num_workers=1,
      timeout_per_video=120.0,
      decode_options=video_decoding.DecodeOptions(min_resize=32))


@pytest.fixture(scope='module')
def gcs_inputs(work_dir):
  """One tiny tree of videos on gs://, listed by every input format.

  Also converts it with the local engine from a UCF-101 split list and
  classInd.txt on gs:// and the videos on local disk, to local disk: the
  reference of `beam_on_gcs`.
  """
  local_root = str(work_dir / 'beam_videos')
  names = beam_tree(local_root)
  gcs = f'{BUCKET}/beam'
  upload(local_root, names, f'{gcs}/videos')
  lists = f'{gcs}/lists'
  write_text(f'{lists}/classInd.txt', [
      f'{index + 1} {label}' for index, label in enumerate(BEAM_CLASSES)])
  write_text(f'{lists}/trainlist01.txt', [
      f'{name} {BEAM_CLASSES.index(name.split("/")[0]) + 1}'
      for name in names])
  write_text(f'{lists}/list.csv', ['path,label', *[
      f'{name},{name.split("/")[0]}' for name in names]])
  stems = {os.path.splitext(os.path.basename(name))[0]: name
           for name in names}
  write_text(f'{lists}/kinetics.csv', [
      'label,youtube_id,time_start,time_end,split',
      *[f'{name.split("/")[0]},{stem},0,10,train'
        for stem, name in stems.items()],
      f'{BEAM_CLASSES[0]},missing,0,10,train'])
  inputs = {
      'local': sources.load_videos(
          ucf101_split_file=f'{lists}/trainlist01.txt',
          video_root=local_root),
      'video_dir': sources.load_videos(video_dir=f'{gcs}/videos'),
      'csv': sources.load_videos(csv_path=f'{lists}/list.csv',
                                 video_root=f'{gcs}/videos'),
      'kinetics': sources.load_videos(csv_path=f'{lists}/kinetics.csv',
                                      video_root=f'{gcs}/videos'),
  }
  reference = str(work_dir / 'beam_reference')
  reference_report = converter.convert_videos(*inputs['local'],
                                              small_conversion(reference))
  with pytest.raises(sources.InputError) as local_from_gcs:
    converter.convert_videos(
        *inputs['video_dir'],
        small_conversion(str(work_dir / 'local_from_gcs')))
  return types.SimpleNamespace(
      names=names, gcs=gcs, local_root=local_root, stems=stems,
      inputs=inputs, reference=reference, reference_report=reference_report,
      local_from_gcs=local_from_gcs.value)


@pytest.fixture(scope='module')
def beam_on_gcs(gcs_inputs):
  """Beam conversions of the tree, with index files, videos and output on
  gs://: from the video folder, and from the Kinetics CSV (with a row whose
  video is missing); beside the local reference, under `outputs`.

  In this process, on Beam's in-memory DirectRunner (its decoding still runs
  in worker processes), so that no second TensorFlow starts.
  """
  pytest.importorskip('apache_beam')
  from cvrl_tf.data_prep import beam_pipeline  # pylint: disable=g-import-not-at-top
  run = gcs_inputs
  beam = functools.partial(beam_pipeline.write_shards,
                           pipeline_args=['--runner=DirectRunner'])
  outputs = {'video_dir': f'{run.gcs}/from_video_dir',
             'kinetics': f'{run.gcs}/from_kinetics'}
  reports = {name: converter.convert_videos(
      *run.inputs[name], small_conversion(output_dir), beam)
             for name, output_dir in outputs.items()}
  return types.SimpleNamespace(
      **vars(run), outputs={'local': run.reference, **outputs},
      reports={'local': run.reference_report, **reports})


def test_gcs_every_input_format_lists_the_same_videos(gcs_inputs):
  """A folder, a CSV and a split list on gs:// name the same videos."""
  run = gcs_inputs
  expected = sorted(
      (f'{run.gcs}/videos/{name}', name, name.split('/')[0],
       BEAM_CLASSES.index(name.split('/')[0])) for name in run.names)
  label_map = {label: index for index, label in enumerate(BEAM_CLASSES)}
  for name in ('video_dir', 'csv'):
    videos, labels = run.inputs[name]
    assert labels == label_map, name
    assert sorted((v.path, v.video_id, v.label_text, v.label_index)
                  for v in videos) == expected, name
  videos, labels = run.inputs['local']
  assert labels == label_map
  assert sorted((v.path, v.video_id) for v in videos) == [
      (os.path.join(run.local_root, name), name) for name in run.names]
  # The Kinetics lookup walks the gs:// video root for each row's file.
  videos, labels = run.inputs['kinetics']
  assert labels == label_map
  found = {v.video_id: v.path for v in videos}
  assert found == {
      **{f'{stem}_000000_000010': f'{run.gcs}/videos/{name}'
         for stem, name in run.stems.items()},
      'missing_000000_000010':
          f'{run.gcs}/videos/{BEAM_CLASSES[0]}/missing_000000_000010.mp4'}


def test_gcs_beam_writes_the_records_of_a_local_conversion(beam_on_gcs):
  run = beam_on_gcs
  local = parsed_records(run.outputs['local'])
  good = sorted(name for name in run.names if name != BEAM_NOT_A_VIDEO)
  assert sorted(local) == good
  # Videos on gs://, records on gs://: per video id the same context and
  # frames as the local engine's from local files.
  assert parsed_records(run.outputs['video_dir']) == local
  # The Kinetics CSV's ids name the clip; the rest of each record is the
  # same.
  from_kinetics = parsed_records(run.outputs['kinetics'])
  assert sorted(from_kinetics) == sorted(
      f'{os.path.splitext(os.path.basename(name))[0]}_000000_000010'
      for name in good)
  for video_id, example in from_kinetics.items():
    name = run.stems[video_id[:-len('_000000_000010')]]
    ids = example.context.feature[record_layout.VIDEO_ID_KEY].bytes_list
    ids.value[:] = [name.encode()]
    assert example == local[name], video_id
  for name, output_dir in run.outputs.items():
    assert records.read_json(f'{output_dir}/label_map.json') == {
        label: index for index, label in enumerate(BEAM_CLASSES)}, name
    assert not tf.io.gfile.glob(f'{output_dir}/{records.TEMP_PREFIX}*'), name


def test_gcs_beam_reports_bad_and_missing_videos_on_gs(beam_on_gcs):
  run = beam_on_gcs
  reports = {name: records.read_json(f'{output_dir}/train_report.json')
             for name, output_dir in run.outputs.items()}
  for name, report in reports.items():
    assert report['converted'] == run.reports[name].converted == 4, name
    assert report['failed'] == run.reports[name].failed, name
  failed = {name: {entry['path']: entry['error'] for entry in report['failed']}
            for name, report in reports.items()}
  assert list(failed['local']) == [
      os.path.join(run.local_root, BEAM_NOT_A_VIDEO)]
  assert list(failed['video_dir']) == [
      f'{run.gcs}/videos/{BEAM_NOT_A_VIDEO}']
  missing = f'{run.gcs}/videos/{BEAM_CLASSES[0]}/missing_000000_000010.mp4'
  assert sorted(failed['kinetics']) == sorted(
      [f'{run.gcs}/videos/{BEAM_NOT_A_VIDEO}', missing])
  # The same decoder error, whichever engine and file system.
  error = failed['local'][os.path.join(run.local_root, BEAM_NOT_A_VIDEO)]
  assert error.split(':')[0] == failed['video_dir'][
      f'{run.gcs}/videos/{BEAM_NOT_A_VIDEO}'].split(':')[0]
  assert failed['kinetics'][missing].startswith(
      'cannot copy to a local file: NotFoundError: ')
  assert not any('\n' in error for errors in failed.values()
                 for error in errors.values())


def test_gcs_local_engine_stops_in_one_line_on_gs_videos(gcs_inputs):
  message = str(gcs_inputs.local_from_gcs)
  assert '\n' not in message
  assert message.startswith('5 videos are not on a local disk (e.g. gs://')
  assert message.endswith('use --engine=beam')


def test_gcs_requests_stay_on_the_storage_hosts_over_tls(downstream):
  del downstream  # Every other tool has run.
  requests = gcs_emulator.read_request_log(
      os.environ[gcs_namespace.REQUEST_LOG_ENV])
  assert requests
  assert {(r['scheme'], r['host']) for r in requests} <= {
      ('https', host) for host in gcs_emulator.GCS_HOSTS}
  lacking = sorted({f"{r['method']} {r['path']}" for r in requests
                    if r['status'] == 501})
  assert not lacking, f'endpoints the emulator lacks: {lacking}'
