"""TensorFlow Datasets input, offline through `tfds.testing.mock_data`."""
import os
import shlex
import shutil

import numpy as np
import pytest
import simple_parsing
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.scripts.cli import build as tfds_build_cli

from cvrl_tf import train as trainer_lib
from cvrl_tf.configs import EXPERIMENTS_DIR
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.configs import data as data_cfg
from cvrl_tf.configs import tfds_source
from cvrl_tf.data_prep import records
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import video_decoding
from cvrl_tf.dataloaders import record_checks
from cvrl_tf.dataloaders import skipped_records
from cvrl_tf.dataloaders import tfds_input
from cvrl_tf.dataloaders import video_input
from cvrl_tf.evaluation import protocols
from cvrl_tf.tasks import knn_eval
from cvrl_tf.tasks import pretrain
from cvrl_tf.training import determinism
from test_export_model import write_pretrained_checkpoint
from tfds_mock import build
from tfds_mock import jpegs
from tfds_mock import mock_examples
from tfds_mock import mock_ucf101
from tfds_mock import NUM_VIDEOS
from tfds_mock import serve
from tfds_mock import ShardedTinyVideos
from tfds_mock import TinyVideos
from tfds_mock import UCF101
import tiny_experiments
from tiny_experiments import tiny_knn
from tiny_experiments import tiny_pretrain

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = dict(feature_shape=[4, 32, 32, 3], temporal_stride=2,
             global_batch_size=2, min_image_size=36, seed=1, num_classes=101)


def tfds_config(**overrides):
  return data_cfg.DataConfig(
      **{'tfds_name': UCF101, 'tfds_split': 'train', **SHAPE, **overrides})


@pytest.fixture(scope='module')
def ucf101_examples():
  with mock_ucf101():
    return mock_examples()


def write_records(path, examples):
  """The examples as `make_tfrecords` writes videos, tfds_id as video id."""
  with tf.io.TFRecordWriter(str(path)) as writer:
    for video_id, label, frames in examples:
      entry = sources.VideoEntry(path='', video_id=video_id, label_text='x',
                                 label_index=label)
      decoded = video_decoding.DecodedVideo(frames=frames, fps=25.0,
                                            source_fps=25.0)
      writer.write(records.make_sequence_example(entry, decoded)
                   .SerializeToString())
  return str(path)


def test_decode_example_gives_the_record_form():
  frames = tf.constant([b'a', b'b', b'c'])
  decoded = tfds_input.decode_example({
      'video': frames, 'label': tf.constant(7, tf.int64),
      'tfds_id': tf.constant('ucf101-train.tfrecord-00003-of-00032__5')})
  assert decoded.keys() == {'frames', 'label', 'video_id'}
  np.testing.assert_array_equal(decoded['frames'], frames)
  np.testing.assert_array_equal(decoded['label'], [7])
  assert decoded['video_id'] == b'ucf101-train.tfrecord-00003-of-00032__5'


def test_read_split_leaves_frames_encoded_and_names_videos():
  with mock_ucf101():
    examples = list(tfds_input.read_split(tfds_config(is_training=False))
                    .as_numpy_iterator())
  assert len(examples) == NUM_VIDEOS
  for example in examples:
    assert example['video'].dtype == object and 5 <= len(example['video'])
    assert all(tf.io.is_jpeg(frame) for frame in example['video'])
  assert [e['tfds_id'].decode() for e in examples] == [
      f'ucf101-train.tfrecord-00000-of-00001__{i}' for i in range(NUM_VIDEOS)]


@pytest.mark.parametrize('mode', ['ssl', 'supervised', 'eval'])
def test_pipeline_matches_the_same_videos_as_tfrecords(mode, ucf101_examples,
                                                     tmp_path):
  """Sampling, augmentation and test views equal those of the record path.

  The record pipeline reads the mock's videos written as records; with one
  file, a shuffle buffer of 1 and a seed both see the videos in the same
  order with the same per-video seeds.
  """
  # Device augmentation keeps the test short: the host then only samples,
  # crops, flips and resizes, and both paths' colour parameters are compared.
  modes = {'ssl': dict(is_training=True, is_ssl=True,
                       augmentation={'device_augmentation': True}),
           'supervised': dict(is_training=True),
           'eval': dict(is_training=False, num_test_clips=2,
                        num_test_crops=3, output_video_id=True)}
  common = dict(SHAPE, shuffle_buffer_size=1, **modes[mode])
  num_batches = 3 if mode != 'eval' else 2  # training crosses an epoch
  path = write_records(tmp_path / 'train.tfrecord', ucf101_examples)
  with mock_ucf101(as_dataset_fn=serve(
      [(frames, label) for _, label, frames in ucf101_examples])):
    from_tfds = list(video_input.build_dataset(tfds_config(**common)).take(
        num_batches).as_numpy_iterator())
  from_records = list(video_input.build_dataset(data_cfg.DataConfig(
      input_path=path, **common)).take(num_batches).as_numpy_iterator())
  assert len(from_tfds) == len(from_records) == num_batches
  for (tfds_features, tfds_label), (record_features, record_label) in zip(
      from_tfds, from_records):
    tf.nest.assert_same_structure(tfds_features, record_features)
    for tfds_value, record_value in zip(tf.nest.flatten(tfds_features),
                                        tf.nest.flatten(record_features)):
      np.testing.assert_array_equal(tfds_value, record_value)
    np.testing.assert_array_equal(tfds_label, record_label)
  expected_views = {'ssl': 4, 'supervised': 2, 'eval': 12}[mode]
  assert from_tfds[0][0]['image'].shape == (expected_views, 4, 32, 32, 3)


def test_shards_per_input_pipeline():
  """Each pipeline reads its own share, together every video once.

  The mock's split has a single file, fewer than the pipelines, so the
  examples themselves are sharded (the mock ignores TFDS's own file sharding
  by input context).
  """
  config = tfds_config(is_training=False, output_video_id=True,
                       global_batch_size=4, drop_remainder=False)
  shares = []
  with mock_ucf101(num_examples=7):
    for pipeline_id in range(2):
      context = tf.distribute.InputContext(
          num_input_pipelines=2, input_pipeline_id=pipeline_id,
          num_replicas_in_sync=2)
      shares.append([
          video_id.decode() for features, _ in
          video_input.build_dataset(config, input_context=context)
          for video_id in features['video_id'].numpy()])
  assert [len(share) for share in shares] == [4, 3]
  assert sorted(shares[0] + shares[1]) == sorted(
      f'ucf101-train.tfrecord-00000-of-00001__{i}' for i in range(7))
  assert shares[0] == [f'ucf101-train.tfrecord-00000-of-00001__{i}'
                       for i in (0, 2, 4, 6)]


# Good, no frames, a PNG frame, a label outside [0, 5), good.
_PNG = tf.io.encode_png(np.zeros((32, 32, 3), np.uint8)).numpy()
_BAD_VIDEOS = [(jpegs(6), 1), ([], 2), (jpegs(2) + [_PNG] + jpegs(3), 3),
               (jpegs(6), 7), (jpegs(6, seed=1), 4)]


def test_bad_videos_stop_the_input_naming_the_split_and_video():
  config = tfds_config(is_training=False, num_classes=5)
  with mock_ucf101(as_dataset_fn=serve(_BAD_VIDEOS)):
    dataset = video_input.build_dataset(config)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match='bad record in TFDS ucf101/ucf101_1_256 split '
                       'train: video has no frames .* '
                       r'\(video id ucf101-train.tfrecord-00000-of-00001__1\)'):
      list(dataset)


def test_skip_bad_records_reports_each_and_keeps_the_good(capfd):
  config = tfds_config(is_training=False, num_classes=5,
                       skip_bad_records=True, output_video_id=True,
                       global_batch_size=1)
  with mock_ucf101(as_dataset_fn=serve(_BAD_VIDEOS)):
    batches = list(video_input.build_dataset(config).as_numpy_iterator())
  kept = [features['video_id'][0].decode() for features, _ in batches]
  assert kept == ['ucf101-train.tfrecord-00000-of-00001__0',
                  'ucf101-train.tfrecord-00000-of-00001__4']
  assert [features[skipped_records.SKIPPED_KEY][0]
          for features, _ in batches] == [0, 3]
  reports = [line for line in capfd.readouterr().err.splitlines()
             if line.startswith('skipped bad record')]
  assert reports == [
      'skipped bad record in TFDS ucf101/ucf101_1_256 split train: video has '
      'no frames (feature list video is empty or missing) (video id '
      'ucf101-train.tfrecord-00000-of-00001__1) (1 bad records skipped so '
      'far)',
      'skipped bad record in TFDS ucf101/ucf101_1_256 split train: frame 2 '
      'of 6 is not a JPEG (video id ucf101-train.tfrecord-00000-of-00001__2) '
      '(2 bad records skipped so far)',
      'skipped bad record in TFDS ucf101/ucf101_1_256 split train: label 7 '
      'is outside [0, 5) (video id ucf101-train.tfrecord-00000-of-00001__3) '
      '(3 bad records skipped so far)']


def test_read_ids_and_labels_for_subsets(ucf101_examples):
  with mock_ucf101():
    ids, labels = video_input.read_ids_and_labels(tfds_config())
  assert ids == [video_id for video_id, _, _ in ucf101_examples]
  assert labels == [label for _, label, _ in ucf101_examples]


def _validate(**data):
  params = tiny_experiments.tiny_experiment('cvrl_pretrain', {
      'task': {'train_data': data}})
  config_validation.validate(params, 'train')


@pytest.mark.parametrize('data, expected', [
    ({'input_path': '/data/train-*', 'tfds_name': UCF101,
      'tfds_split': 'train'},
     'task.train_data sets both input_path and tfds_name'),
    ({}, 'task.train_data.input_path is empty'),
    ({'tfds_name': 'no_such_dataset', 'tfds_split': 'train'},
     "task.train_data.tfds_name 'no_such_dataset' is not a TFDS dataset"),
    ({'tfds_name': 'ucf101/ucf101_9', 'tfds_split': 'train'},
     "task.train_data.tfds_name 'ucf101/ucf101_9' is not a TFDS dataset"),
    ({'tfds_name': UCF101}, 'task.train_data.tfds_split is empty'),
    ({'tfds_name': UCF101, 'tfds_split': 'train', 'tfds_as_supervised': True},
     'task.train_data.tfds_as_supervised must be false'),
    ({'tfds_name': 'mnist', 'tfds_split': 'train'},
     "task.train_data.tfds_name 'mnist' has no JPEG-encoded video feature"),
    ({'tfds_name': UCF101, 'tfds_split': 'train', 'num_classes': 50},
     'task.train_data.num_classes=50 but ucf101/ucf101_1_256 has 101'),
    ({'tfds_name': UCF101, 'tfds_split': 'train', 'tfds_data_dir': '{tmp}'},
     "task.train_data.tfds_name 'ucf101/ucf101_1_256' has no data in {tmp}"
     '/ucf101/ucf101_1_256/2.0.0: build it with `tfds build ucf101 --config '
     'ucf101_1_256 --data_dir=DIR` and set tfds_data_dir to that DIR.'),
])
def test_config_errors_are_one_line(data, expected, tmp_path):
  data = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v
          for k, v in data.items()}
  data.setdefault('input_path', '')
  with pytest.raises(config_validation.ConfigError) as error:
    _validate(**data)
  message = str(error.value)
  assert message.startswith(expected.format(tmp=tmp_path)), message
  assert '\n' not in message


def test_a_mocked_split_passes_validation():
  with mock_ucf101():
    _validate(input_path='', tfds_name=UCF101, tfds_split='train')


def test_reads_a_built_dataset_from_its_data_dir(tmp_path):
  """Real TFDS files, not the mock: what `tfds build` leaves in a DIR."""
  TinyVideos(data_dir=str(tmp_path)).download_and_prepare()
  config = dict(input_path='', tfds_name='tiny_videos', tfds_split='train',
                tfds_data_dir=str(tmp_path), num_classes=3)
  _validate(**config)
  with pytest.raises(config_validation.ConfigError,
                     match="task.train_data.tfds_split 'validation' of "
                     'tiny_videos: '):
    _validate(**dict(config, tfds_split='validation'))
  ids, labels = video_input.read_ids_and_labels(tfds_config(**config))
  assert ids == [f'tiny_videos-train.tfrecord-00000-of-00001__{i}'
                 for i in range(5)]
  batches = list(video_input.build_dataset(tfds_config(
      **config, is_training=False, output_video_id=True, num_test_clips=2,
      num_test_crops=1, drop_remainder=False)).as_numpy_iterator())
  assert [v.decode() for features, _ in batches
          for v in features['video_id']] == ids
  assert [int(i) for _, label in batches for i in label.argmax(1)] == labels
  assert batches[0][0]['image'].shape == (4, 4, 32, 32, 3)


def tfds_build_builders(command):
  """The builders TFDS's own `tfds build` would prepare for `command`.

  Parsed and resolved by the CLI's functions, without downloading.
  """
  args = simple_parsing.parse(tfds_build_cli.Args,
                              args=shlex.split(command)[2:])
  builders = []
  for name in args.positional_datasets + args.datasets:
    builder_cls, kwargs = tfds_build_cli._get_builder_cls_and_kwargs(  # pylint: disable=protected-access
        name, has_imports=False)
    builders += tfds_build_cli._make_builders(args, builder_cls, kwargs)  # pylint: disable=protected-access
  return builders


def test_documented_tfds_build_prepares_what_the_experiment_reads():
  """The README's and the YAML's `tfds build` lines, parsed by TFDS."""
  yaml_file = os.path.join(EXPERIMENTS_DIR, 'cvrl_finetune_ucf101_tfds.yaml')
  commands = []
  for path in (os.path.join(REPO, 'README.md'), yaml_file):
    with open(path) as f:
      commands += [line.strip(' #\n') for line in f
                   if line.strip(' #').startswith('tfds build ')]
  assert len(commands) == 2
  params = config_validation.experiment_params('cvrl_finetune', [yaml_file])
  for data in (params.task.train_data, params.task.validation_data):
    reads = tfds.builder(data.tfds_name, data_dir=data.tfds_data_dir)
    # UCF-101 split 1 at its original frame size.
    assert reads.builder_config.split_number == 1
    assert reads.builder_config.width is None
    for command in commands:
      builders = tfds_build_builders(command)
      assert [b.data_dir for b in builders] == [reads.data_dir], command


NUM_FILES = 4


@pytest.fixture(scope='module')
def four_files(tmp_path_factory):
  """A built TFDS dataset, 8 train and 4 test videos, each split in 4 files.

  Returns:
    (its data dir, {split: [(tfds_id, label, JPEG frames)]}).
  """
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  builder = build(ShardedTinyVideos, data_dir, num_files=NUM_FILES)
  examples = {}
  for split in ('train', 'test'):
    assert builder.info.splits[split].num_shards == NUM_FILES
    dataset = builder.as_dataset(
        split=split, decoders=tfds_source.skip_video_decoding(),
        read_config=tfds.ReadConfig(add_tfds_id=True))
    examples[split] = [(x['tfds_id'].decode(), int(x['label']),
                        list(x['video'])) for x in dataset.as_numpy_iterator()]
  return data_dir, examples


def four_files_data(data_dir, split, **overrides):
  return dict(input_path='', tfds_name='sharded_tiny_videos',
              tfds_split=split, tfds_data_dir=data_dir, **overrides)


def file_of(tfds_id):
  """The file an example was read from: its `tfds_id` up to `__`."""
  return tfds_id.split('__')[0]


def test_tfds_gives_each_input_pipeline_its_own_files(four_files):
  """Per-file sharding by TFDS itself, as a 2-worker strategy's input
  contexts ask: pipeline p reads files p and p + 2 whole, evaluating and
  training (files shuffled, repeated)."""
  data_dir, examples = four_files
  files = [f'sharded_tiny_videos-train.tfrecord-{i:05d}-of-{NUM_FILES:05d}'
           for i in range(NUM_FILES)]
  assert sorted({file_of(i) for i, _, _ in examples['train']}) == files
  config = tfds_config(**four_files_data(
      data_dir, 'train', num_classes=3, is_training=False,
      output_video_id=True, global_batch_size=4, drop_remainder=False,
      num_test_clips=1, num_test_crops=1))
  shares = []
  for pipeline_id in range(2):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=pipeline_id,
        num_replicas_in_sync=2)
    share = [video_id.decode() for features, _ in
             video_input.build_dataset(config, input_context=context)
             for video_id in features['video_id'].numpy()]
    own = {files[pipeline_id], files[pipeline_id + 2]}
    assert {file_of(i) for i in share} == own
    assert sorted(share) == sorted(i for i, _, _ in examples['train']
                                   if file_of(i) in own)
    shares.append(share)
    training = tfds_input.read_split(config.replace(is_training=True),
                                     context).repeat().take(12)
    assert {file_of(x['tfds_id'].decode())
            for x in training.as_numpy_iterator()} == own
  assert sorted(shares[0] + shares[1]) == sorted(
      i for i, _, _ in examples['train'])


def test_deterministic_tfds_input_resumes_from_a_saved_iterator(four_files,
                                                                tmp_path):
  """`task.deterministic` saves the input iterator in checkpoints: restored
  into a new pipeline, it gives the batches an unbroken run would."""
  data_dir, _ = four_files
  params = tiny_pretrain('', train_steps=4)
  # Device augmentation: the host pipeline, whose state is saved, is then
  # quicker to build.
  params.override({'task': {'deterministic': True, 'train_data': dict(
      four_files_data(data_dir, 'train'), global_batch_size=2,
      augmentation={'device_augmentation': True})}})
  config_validation.validate(params, 'train')
  determinism.check_config(params)
  task = pretrain.CVRLPretrainTask(params.task)

  def host_iterator():
    return iter(determinism.host_dataset(task, params.task.train_data, 1))

  def images(iterator, count):
    return [next(iterator)[0]['image'].numpy() for _ in range(count)]

  unbroken = host_iterator()
  first = images(unbroken, 2)
  saved = tf.train.Checkpoint(train_iterator=unbroken).write(
      str(tmp_path / 'ckpt-2'))
  rest = images(unbroken, 3)  # 10 videos: past the first epoch of 8.

  # A new pipeline repeats the seeded file order and views...
  second = host_iterator()
  for got, want in zip(images(second, 3), first + rest):
    np.testing.assert_array_equal(got, want)
  # ...and, restored from the checkpoint, goes back to where the first one
  # was saved.
  tf.train.Checkpoint(train_iterator=second).read(saved).assert_consumed()
  for got, want in zip(images(second, 3), rest):
    np.testing.assert_array_equal(got, want)


def test_knn_task_on_tfds_equals_the_same_videos_as_records(four_files,
                                                            tmp_path):
  """`cvrl_knn_eval` through orbit on TFDS splits, against the protocol run
  on the same videos written as TFRecords."""
  data_dir, examples = four_files
  patterns = [write_records(tmp_path / f'{split}.tfrecord', examples[split])
              for split in ('train', 'test')]
  checkpoint_dir = str(tmp_path / 'pretrained')
  record_params = tiny_knn(*patterns)
  write_pretrained_checkpoint(record_params, checkpoint_dir)
  params = tiny_knn('', '', init_checkpoint=checkpoint_dir)
  params.override({'task': {
      'train_data': four_files_data(data_dir, 'train'),
      'validation_data': four_files_data(data_dir, 'test')}})
  config_validation.validate(params, 'eval')
  _, logs = trainer_lib.run(params, 'eval', str(tmp_path / 'knn'))

  record_params.override({'task': {'init_checkpoint': checkpoint_dir}})
  task = knn_eval.KnnEvalTask(record_params.task)
  model = task.build_model()
  task.initialize(model)
  expected = protocols.knn_eval(
      tf.function(lambda x: model.encode(x, training=False)),
      record_params.task.train_data, record_params.task.validation_data,
      ks=(1, 5), knn_k=5)
  assert expected.keys() <= logs.keys()
  for key, value in expected.items():
    assert logs[key] == pytest.approx(value, abs=1e-6), key


@pytest.fixture
def damaged_files(four_files, tmp_path):
  """A copy of `four_files` with a CRC error in the second record of train
  file 1 and train file 2 cut short.

  Returns:
    (data dir, the two damaged files' paths).
  """
  data_dir = str(tmp_path / 'damaged')
  shutil.copytree(four_files[0], data_dir)
  version_dir = os.path.join(data_dir, 'sharded_tiny_videos', '1.0.0')
  paths = [os.path.join(version_dir, f'sharded_tiny_videos-train.tfrecord-'
                        f'{i:05d}-of-{NUM_FILES:05d}') for i in (1, 2)]
  with open(paths[0], 'rb') as f:
    data = bytearray(f.read())
  data[-30] ^= 0xFF  # In the data of the last record: its CRC fails.
  with open(paths[0], 'wb') as f:
    f.write(data)
  with open(paths[1], 'rb') as f:
    data = f.read()
  with open(paths[1], 'wb') as f:
    f.write(data[:-100])
  return data_dir, paths


def damaged_config(data_dir, **overrides):
  return tfds_config(**four_files_data(
      data_dir, 'train', num_classes=3, is_training=False,
      output_video_id=True, global_batch_size=1, num_test_clips=1,
      num_test_crops=1, **overrides))


def test_a_damaged_file_stops_the_input_naming_it(damaged_files):
  data_dir, paths = damaged_files
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    list(video_input.build_dataset(damaged_config(data_dir)))
  # The trainer's one `error:` line.
  assert record_checks.bad_record_message(error.value.message) == (
      f'bad record in {paths[0]}: 1 of 2 examples read; 1 lost to a damaged '
      'record (TFRecord framing or CRC check failed, or a record that does '
      'not parse)')


def test_skip_bad_records_reports_what_damaged_files_lost(damaged_files,
                                                          four_files, capfd):
  data_dir, paths = damaged_files
  batches = list(video_input.build_dataset(damaged_config(
      data_dir, skip_bad_records=True)).as_numpy_iterator())
  kept = sorted(features['video_id'][0].decode() for features, _ in batches)
  # The first record of each damaged file, and both of the others.
  assert kept == sorted(
      i for i, _, _ in four_files[1]['train']
      if not i.endswith(('00001-of-00004__1', '00002-of-00004__1')))
  reports = sorted(line for line in capfd.readouterr().err.splitlines()
                   if line.startswith('skipped bad record'))
  problem = ('1 of 2 examples read; 1 lost to a damaged record (TFRecord '
             'framing or CRC check failed, or a record that does not parse)')
  assert reports == [
      f'skipped bad record in {paths[0]}: {problem} (1 bad records skipped '
      'so far)',
      f'skipped bad record in {paths[1]}: {problem} (2 bad records skipped '
      'so far)'] or reports == [
      f'skipped bad record in {paths[0]}: {problem} (2 bad records skipped '
      'so far)',
      f'skipped bad record in {paths[1]}: {problem} (1 bad records skipped '
      'so far)']
