"""End-to-end tests for cvrl_tf.dataloaders.video_input on tiny records."""
import numpy as np
import pytest
import tensorflow as tf

from official.projects.video_ssl.configs import video_ssl as mg_cfg
from official.projects.video_ssl.dataloaders import video_ssl_input

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.dataloaders import video_decoder
from cvrl_tf.dataloaders import video_input
from test_temporal_sampling import tclr_retrieval_frames

HEIGHT, WIDTH = 48, 64
NUM_CLASSES = 3


def _frames(video, num_frames):
  """Smooth frames whose colour identifies the video and the frame."""
  y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
  return [
      np.clip(np.stack([2 * y + 4 * t, x + 30 * video, 100 + x - y], -1), 0,
              255).astype(np.uint8) for t in range(num_frames)
  ]


def _record(video, num_frames, with_id=True, bad=False):
  example = tf.train.SequenceExample()
  example.context.feature['clip/label/index'].int64_list.value.append(
      video % NUM_CLASSES)
  if with_id:
    example.context.feature['video/id'].bytes_list.value.append(
        b'video_%d' % video)
  frames = example.feature_lists.feature_list['image/encoded']
  for frame in _frames(video, num_frames):
    data = b'not a jpeg' if bad else tf.io.encode_jpeg(frame).numpy()
    frames.feature.add().bytes_list.value.append(data)
  return example.SerializeToString()


@pytest.fixture(scope='module')
def record_dir(tmp_path_factory):
  """Three files with two videos each, 10 to 20 frames."""
  path = tmp_path_factory.mktemp('records')
  for shard in range(3):
    with tf.io.TFRecordWriter(str(path / f'train-{shard}.tfrecord')) as w:
      for video in (2 * shard, 2 * shard + 1):
        w.write(_record(video, 10 + 2 * video))
  with tf.io.TFRecordWriter(str(path / 'bad.tfrecord')) as w:
    w.write(_record(6, 12, bad=True))
    w.write(_record(7, 12, with_id=False))
  return path


def _params(record_dir, pattern='train-*', **kwargs):
  defaults = dict(
      input_path=str(record_dir / pattern), global_batch_size=2,
      feature_shape=(4, 32, 32, 3), temporal_stride=2,
      num_classes=NUM_CLASSES, min_image_size=40, seed=5)
  defaults.update(kwargs)
  return data_cfg.DataConfig(**defaults)


def test_decoder_defaults_missing_video_id():
  decoded = video_decoder.Decoder().decode(_record(7, 5, with_id=False))
  assert decoded['frames'].shape == (5,)
  assert decoded['video_id'].numpy() == b''
  np.testing.assert_array_equal(decoded['label'], [1])


def test_ssl_batches(record_dir):
  params = _params(record_dir, is_ssl=True, is_training=True)
  features, labels = next(iter(video_input.build_dataset(params)))
  assert features['image'].shape == (4, 4, 32, 32, 3)
  assert features['image'].dtype == tf.float32
  assert 0.0 <= features['image'].numpy().min()
  assert features['image'].numpy().max() <= 1.0
  assert labels.shape == (2, NUM_CLASSES)
  np.testing.assert_array_equal(labels.numpy().sum(-1), [1, 1])


def test_ssl_layout_is_view_major(record_dir):
  # Without augmentation the two views of a video are equal, so rows i and
  # B + i must match while different videos differ.
  params = _params(record_dir, is_ssl=True, is_training=True,
                   zero_centering_image=True)
  params.augmentation.temporal.enabled = False
  params.augmentation.spatial.enabled = False
  image = next(iter(video_input.build_dataset(params)))[0]['image'].numpy()
  np.testing.assert_array_equal(image[:2], image[2:])
  assert np.abs(image[0] - image[1]).max() > 0.05
  assert image.min() < -0.5


@pytest.mark.parametrize('photometric', [False, True])
def test_two_views_of_a_video_get_their_own_crops(record_dir, photometric):
  # With the same frames in both views (no temporal augmentation), views
  # still differ, and not by a mirror image alone: each view draws its own
  # crop. A shared crop would give the same pixels or their exact mirror
  # (difference 0); two crops of their own may still happen to be close
  # (0.04 seen), so the bound only asks for more than rounding.
  params = _params(record_dir, is_ssl=True, is_training=True)
  params.augmentation.temporal.enabled = False
  if not photometric:
    params.augmentation.spatial.color_jitter_prob = 0.0
    params.augmentation.spatial.grayscale_prob = 0.0
    params.augmentation.spatial.blur_prob = 0.0
  for features, _ in video_input.build_dataset(params).take(3):
    image = features['image'].numpy()
    for first, second in zip(image[:2], image[2:]):
      assert np.abs(first - second).max() > 1e-3
      assert np.abs(first - second[:, :, ::-1]).max() > 1e-3


def test_supervised_training_batches(record_dir):
  params = _params(record_dir, is_training=True, output_video_id=True)
  features, labels = next(iter(video_input.build_dataset(params)))
  assert features['image'].shape == (2, 4, 32, 32, 3)
  assert features['video_id'].shape == (2,)
  assert labels.shape == (2, NUM_CLASSES)


def test_eval_batches_fold_clips_and_crops(record_dir):
  params = _params(record_dir, is_training=False, num_test_clips=2,
                   num_test_crops=3, output_video_id=True, one_hot=False)
  batches = list(video_input.build_dataset(params))
  assert len(batches) == 3
  features, labels = batches[0]
  assert features['image'].shape == (2 * 2 * 3, 4, 32, 32, 3)
  assert labels.shape == (2, 1)
  ids = [i for f, _ in batches for i in f['video_id'].numpy()]
  assert sorted(ids) == [b'video_%d' % v for v in range(6)]
  # Clip-major: the first clip's three crops share the first clip's frames,
  # whose mean brightness is below the later second clip's.
  image = features['image'].numpy()
  assert image[:3, :, :, :, 0].mean() < image[3:6, :, :, :, 0].mean()


def test_eval_matches_model_garden_center_clip(record_dir):
  # Stride 1, min size = frame height: identical clip and crop, no resize.
  kwargs = dict(input_path=str(record_dir / 'train-0.tfrecord'),
                global_batch_size=1, feature_shape=(4, 32, 32, 3),
                temporal_stride=1, num_classes=NUM_CLASSES,
                min_image_size=HEIGHT, is_training=False)
  ours = next(iter(video_input.build_dataset(data_cfg.DataConfig(**kwargs))))
  decoded = video_ssl_input.Decoder().decode(_record(0, 10))
  parse = video_ssl_input.Parser(mg_cfg.DataConfig(**kwargs)).parse_fn(False)
  theirs = parse(decoded)
  np.testing.assert_allclose(ours[0]['image'][0], theirs[0]['image'],
                             atol=1e-6)
  np.testing.assert_array_equal(ours[1][0], theirs[1])


def test_seeded_pipeline_is_deterministic(record_dir):
  params = _params(record_dir, is_ssl=True, is_training=True)

  def first_batches(dataset):
    return [b[0]['image'].numpy() for b in dataset.take(3)]

  # InputReader reshuffles on every new iterator of one dataset, so
  # reproducibility is between datasets built from the same config.
  first = first_batches(video_input.build_dataset(params))
  again = first_batches(video_input.build_dataset(params))
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)
  params.seed = 6
  changed = first_batches(video_input.build_dataset(params))
  assert any(np.abs(a - b).max() > 0 for a, b in zip(first, changed))


def test_bad_records_raise_or_are_skipped(record_dir):
  params = _params(record_dir, pattern='bad.tfrecord', is_training=False,
                   global_batch_size=1, output_video_id=True)
  with pytest.raises(tf.errors.InvalidArgumentError):
    list(video_input.build_dataset(params))
  params.skip_bad_records = True
  batches = list(video_input.build_dataset(params))
  assert [f['video_id'].numpy()[0] for f, _ in batches] == [b'']


def test_files_are_sharded_across_input_pipelines(record_dir):
  params = _params(record_dir, is_training=False, global_batch_size=1,
                   output_video_id=True)
  seen = []
  for pipeline_id in range(2):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=pipeline_id)
    seen.append({f['video_id'].numpy()[0]
                 for f, _ in video_input.build_dataset(params, context)})
  assert not seen[0] & seen[1]
  assert len(seen[0] | seen[1]) == 6
  assert len(seen[0]) in (2, 4)


def test_training_input_never_reads_a_file_twice_at_once(record_dir):
  # 3 files of 2 videos and the default cycle_length of 10: the first epoch
  # of the repeating training stream holds every video exactly once.
  params = _params(record_dir, is_ssl=False, global_batch_size=1,
                   shuffle_buffer_size=1, output_video_id=True)
  assert params.cycle_length > 3
  assert video_input.interleave_cycle_length(params) == 3
  ids = [features['video_id'].numpy()[0]
         for features, _ in video_input.build_dataset(params).take(6)]
  assert sorted(ids) == [b'video_%d' % v for v in range(6)]


@pytest.mark.parametrize('test_clip_starts', ['even', 'tclr'])
def test_eval_clips_start_where_test_clip_starts_says(record_dir,
                                                      test_clip_starts):
  """Frame t's red channel is 4 t above frame 0's: the clips' frame indices."""
  params = _params(record_dir, pattern='train-2.tfrecord', is_training=False,
                   num_test_clips=2, one_hot=False, output_video_id=True,
                   test_clip_starts=test_clip_starts)
  features, _ = next(iter(video_input.build_dataset(params)))
  red = features['image'].numpy()[..., 0].mean(axis=(2, 3)).reshape(2, 2, 4)
  for video_id, clips in zip(features['video_id'].numpy(), red):
    length = 10 + 2 * int(video_id.decode().rsplit('_', 1)[1])
    if test_clip_starts == 'tclr':
      expected = [tclr_retrieval_frames(length, mode, num_frames=4,
                                        num_modes=2) for mode in range(2)]
    else:
      expected = [np.arange(4) * 2, length - 7 + np.arange(4) * 2]
    np.testing.assert_array_equal(np.round((clips - clips[0, 0]) * 255 / 4),
                                  np.array(expected) - expected[0][0])
