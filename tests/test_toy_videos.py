"""Tests for the toy motion-class video dataset."""
import glob
import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest

from cvrl_tf.data_prep import toy_appearance
from cvrl_tf.data_prep import toy_motions
from cvrl_tf.data_prep import toy_videos

_SIZE = 64
_FPS = 25
_NUM_CLASSES = len(toy_motions.CLASS_NAMES)
# Videos per class for the classification tests: half fit, half evaluate.
_VIDEOS_PER_CLASS = 20
_TOOL = os.path.join(os.path.dirname(__file__), os.pardir, 'tools',
                     'make_toy_videos.py')


def _decode(path):
  """Returns (uint8 [T, H, W, 3] frames, video stream facts) of an mp4."""
  with av.open(path) as container:
    stream = container.streams.video[0]
    facts = {
        'codec': stream.codec_context.name,
        'pix_fmt': stream.codec_context.pix_fmt,
        'rate': stream.average_rate,
    }
    frames = np.stack([f.to_ndarray(format='rgb24')
                       for f in container.decode(stream)])
  return frames, facts


def _videos(root):
  return sorted(glob.glob(os.path.join(root, '*', '*', '*.mp4')))


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  """The same small dataset written with 2 worker processes and with 1."""
  roots = {}
  for num_workers in (2, 1):
    root = str(tmp_path_factory.mktemp(f'toy_{num_workers}'))
    info = toy_videos.make_toy_dataset(root, train_per_class=2,
                                       test_per_class=1, seed=3, size=_SIZE,
                                       fps=_FPS, num_workers=num_workers)
    roots[num_workers] = (root, info)
  return roots


def test_tree_classes_json_and_counts(dataset):
  root, info = dataset[2]
  assert info['classes'] == list(toy_motions.CLASS_NAMES)
  assert info['num_videos'] == {'train': 2 * _NUM_CLASSES,
                                'test': _NUM_CLASSES}
  with open(os.path.join(root, 'classes.json')) as f:
    entries = json.load(f)
  assert [e['name'] for e in entries] == info['classes']
  assert all(e['description'] for e in entries)
  for split, per_class in (('train', 2), ('test', 1)):
    assert sorted(os.listdir(os.path.join(root, split))) == sorted(
        toy_motions.CLASS_NAMES)
    for class_name in toy_motions.CLASS_NAMES:
      names = os.listdir(os.path.join(root, split, class_name))
      assert len(names) == per_class
      assert all(n.startswith(class_name) and n.endswith('.mp4')
                 for n in names)
  assert sorted(info['paths']['train'] + info['paths']['test']) == _videos(
      root)


def test_files_are_h264_mp4_of_expected_size_rate_and_length(dataset):
  root, _ = dataset[2]
  for path in _videos(root):
    frames, facts = _decode(path)
    assert facts == {'codec': 'h264', 'pix_fmt': 'yuv420p', 'rate': _FPS}
    assert frames.shape[1:] == (_SIZE, _SIZE, 3)
    assert (toy_videos.MIN_SECONDS <= len(frames) / _FPS <=
            toy_videos.MAX_SECONDS)


def test_decoded_video_matches_rendered_frames(dataset):
  root, _ = dataset[2]
  class_index = toy_motions.CLASS_NAMES.index('orbit')
  rendered = toy_videos.render_video(
      'orbit', toy_videos.video_rng(3, 'test', class_index, 0), _SIZE, _FPS,
      toy_videos.appearance_pool(3, toy_videos.DEFAULT_NUM_APPEARANCES,
                                 _SIZE))
  decoded, _ = _decode(os.path.join(root, 'test', 'orbit', 'orbit_0000.mp4'))
  assert decoded.shape == rendered.shape
  # H.264 at crf 18 with 4:2:0 chroma is close to, not equal to, the source.
  error = np.abs(decoded.astype(np.float32) - rendered).mean()
  assert error < 4.0


def test_same_seed_gives_identical_files_for_any_worker_count(dataset):
  (root_a, _), (root_b, _) = dataset[2], dataset[1]
  paths_a, paths_b = _videos(root_a), _videos(root_b)
  assert ([os.path.relpath(p, root_a) for p in paths_a] ==
          [os.path.relpath(p, root_b) for p in paths_b])
  for path_a, path_b in zip(paths_a, paths_b):
    with open(path_a, 'rb') as fa, open(path_b, 'rb') as fb:
      assert fa.read() == fb.read(), path_a
  np.testing.assert_array_equal(_decode(paths_a[0])[0], _decode(paths_b[0])[0])


def test_different_seed_gives_different_videos(dataset, tmp_path):
  root, _ = dataset[2]
  toy_videos.make_toy_dataset(str(tmp_path), train_per_class=1,
                              test_per_class=0, seed=4, size=_SIZE, fps=_FPS,
                              num_workers=1)
  for class_name in toy_motions.CLASS_NAMES:
    name = os.path.join('train', class_name, f'{class_name}_0000.mp4')
    frames_a, _ = _decode(os.path.join(root, name))
    frames_b, _ = _decode(os.path.join(str(tmp_path), name))
    assert (frames_a.shape != frames_b.shape or
            np.abs(frames_a.astype(np.int16) - frames_b).mean() > 5.0)


def test_tool_writes_dataset(tmp_path):
  subprocess.run(
      [sys.executable, _TOOL, f'--output_dir={tmp_path}', '--train_per_class=1',
       '--test_per_class=1', f'--size={_SIZE}', '--num_workers=1',
       '--vary_appearance'],
      check=True)
  assert len(_videos(str(tmp_path))) == 2 * _NUM_CLASSES


def test_render_rejects_odd_or_tiny_size():
  rng = np.random.default_rng(0)
  with pytest.raises(ValueError):
    toy_videos.render_video('spin', rng, size=63)
  with pytest.raises(ValueError):
    toy_videos.render_video('spin', rng, size=16)


def _appearance_features(frames):
  """Colour statistics of the first frame: float32 [18].

  Per-channel mean and standard deviation of the whole frame and the
  per-channel means of its four quadrants.
  """
  frame = frames[0].astype(np.float32)
  half = frame.shape[0] // 2
  quadrants = [frame[:half, :half], frame[:half, half:], frame[half:, :half],
               frame[half:, half:]]
  return np.concatenate([frame.mean((0, 1)), frame.std((0, 1))] +
                        [q.mean((0, 1)) for q in quadrants])


def _motion_features(frames):
  """Statistics of where and how much consecutive frames differ: float32 [8].

  Frames are taken at stride 2, as CVRL samples clips. The changed pixels of
  each step are located by their circular mean position (positions wrap
  around the frame like the objects do), and that location's velocity is
  summarised. The features keep the sign of horizontal motion, so a class
  and its horizontal mirror image would be told apart.
  """
  frames = frames[::2].astype(np.float32)
  size = frames.shape[1]
  changed = (np.abs(frames[1:] - frames[:-1]).mean(-1) > 8.0).astype(
      np.float32)
  amount = changed.mean((1, 2))
  phase = np.exp(2j * np.pi * np.arange(size) / size)
  to_pixels = size / (2.0 * np.pi)
  x = np.angle((changed.sum(1) * phase).sum(-1)) * to_pixels
  y = np.angle((changed.sum(2) * phase).sum(-1)) * to_pixels
  moving = amount > 0
  both = moving[1:] & moving[:-1]

  def velocity(position):
    step = (np.diff(position) + size / 2) % size - size / 2
    return np.where(both, step, 0.0) / size

  vx, vy = velocity(x), velocity(y)
  eps = 1e-4
  power = (vx**2 + vy**2).mean() + eps**2
  return np.array([
      np.log(amount.mean() + eps),
      amount.std() / (amount.mean() + eps),
      np.log(np.abs(vx).mean() + eps),
      np.log(np.abs(vy).mean() + eps),
      vx.mean() / (np.abs(vx).mean() + eps),
      vy.mean() / (np.abs(vy).mean() + eps),
      (vx[1:] * vx[:-1] + vy[1:] * vy[:-1]).mean() / power,
      (vx[:-1] * vy[1:] - vy[:-1] * vx[1:]).mean() / power,
  ], np.float32)


# Index of the signed horizontal-direction feature in `_motion_features`.
_HORIZONTAL_DIRECTION = 4


def _standardize(train, *others):
  mean, std = train.mean(0), train.std(0) + 1e-6
  return [(x - mean) / std for x in (train,) + others]


def _nearest_centroid(train, train_labels, test):
  centroids = np.stack([train[train_labels == k].mean(0)
                        for k in range(_NUM_CLASSES)])
  return ((test[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)


def _k_nearest_neighbours(train, train_labels, test, k=5):
  # Neighbours rather than centroids: a class holds both directions of a
  # motion, which are two clusters in the signed features.
  distances = ((test[:, None] - train[None]) ** 2).sum(-1)
  votes = train_labels[np.argsort(distances, 1)[:, :k]]
  return np.array([np.bincount(v, minlength=_NUM_CLASSES).argmax()
                   for v in votes])


@pytest.fixture(scope='module')
def features():
  """Features of rendered videos, [N, D] each, with labels and a fit mask."""
  appearance, motion, flipped_motion, labels = [], [], [], []
  for class_index, class_name in enumerate(toy_motions.CLASS_NAMES):
    for index in range(_VIDEOS_PER_CLASS):
      frames = toy_videos.render_video(
          class_name, toy_videos.video_rng(0, 'train', class_index, index),
          _SIZE, _FPS)
      appearance.append(_appearance_features(frames))
      motion.append(_motion_features(frames))
      flipped_motion.append(_motion_features(frames[:, :, ::-1]))
      labels.append(class_index)
  labels = np.array(labels)
  return {
      'appearance': np.stack(appearance),
      'motion': np.stack(motion),
      'flipped_motion': np.stack(flipped_motion),
      'labels': labels,
      'fit': np.arange(len(labels)) % 2 == 0,
  }


def test_first_frame_appearance_does_not_reveal_class(features):
  fit, labels = features['fit'], features['labels']
  train, test = _standardize(features['appearance'][fit],
                             features['appearance'][~fit])
  for classify in (_nearest_centroid, _k_nearest_neighbours):
    accuracy = (classify(train, labels[fit], test) == labels[~fit]).mean()
    # Chance is 0.1; with 100 test videos 0.25 is ~5 standard errors above.
    assert accuracy < 0.25, (classify.__name__, accuracy)


def test_motion_reveals_class(features):
  fit, labels = features['fit'], features['labels']
  train, test = _standardize(features['motion'][fit], features['motion'][~fit])
  predictions = _k_nearest_neighbours(train, labels[fit], test)
  assert (predictions == labels[~fit]).mean() > 0.85
  for k in range(_NUM_CLASSES):
    recall = (predictions[labels[~fit] == k] == k).mean()
    assert recall >= 0.7, (toy_motions.CLASS_NAMES[k], recall)


def test_motion_features_see_horizontal_direction(features):
  """Guards the flip test below against features that ignore direction."""
  labels = features['labels']
  for class_name in ('slide_slow', 'slide_fast'):
    in_class = labels == toy_motions.CLASS_NAMES.index(class_name)
    direction = features['motion'][in_class, _HORIZONTAL_DIRECTION]
    flipped = features['flipped_motion'][in_class, _HORIZONTAL_DIRECTION]
    assert np.all(np.abs(direction) > 0.5)
    np.testing.assert_allclose(flipped, -direction, atol=0.1)


def test_horizontally_flipped_videos_keep_their_class(features):
  """No class is the mirror image of another under CVRL's horizontal flip."""
  fit, labels = features['fit'], features['labels']
  train, test = _standardize(features['motion'][fit],
                             features['flipped_motion'][~fit])
  predictions = _k_nearest_neighbours(train, labels[fit], test)
  for k in range(_NUM_CLASSES):
    recall = (predictions[labels[~fit] == k] == k).mean()
    assert recall >= 0.7, (toy_motions.CLASS_NAMES[k], recall)


def test_appearances_come_from_a_pool_shared_by_all_classes():
  pool = toy_videos.appearance_pool(0, 3, 64)
  assert len(pool) == 3
  used = set()
  for class_index, name in enumerate(toy_motions.CLASS_NAMES):
    for index in range(3):
      rng = toy_videos.video_rng(0, 'train', class_index, index)
      frames = toy_videos.render_video(name, rng, 64, appearances=pool)
      # The background of the first frame is one of the pool's.
      matches = [k for k, a in enumerate(pool) if np.abs(
          frames[0, :4, :4].astype(np.float32) -
          a.background[:4, :4]).max() < 3]
      used.update(matches)
  assert used == {0, 1, 2}


def test_colour_shift_matches_its_definition():
  # Mid-range colours: no shift below reaches the clipping at 0 or 255.
  colors = np.random.default_rng(0).uniform(70, 180, (5, 3)).astype(
      np.float32)
  identity = toy_appearance.ColorShift(1.0, 1.0, 1.0, 0.0)
  np.testing.assert_allclose(toy_appearance.shift_colors(colors, identity),
                             colors, atol=1e-3)
  luma = colors @ np.array([0.299, 0.587, 0.114], np.float32)
  gray = toy_appearance.shift_colors(colors, toy_appearance.ColorShift(1, 1, 0, 0))
  np.testing.assert_allclose(gray, np.repeat(luma[:, None], 3, 1), atol=1e-3)
  # A hue rotation keeps luma; a full turn is no change.
  rotated = toy_appearance.shift_colors(colors, toy_appearance.ColorShift(
      1.0, 1.0, 0.5, 0.3))
  halved = toy_appearance.shift_colors(colors, toy_appearance.ColorShift(
      1.0, 1.0, 0.5, 0.0))
  np.testing.assert_allclose(rotated @ [0.299, 0.587, 0.114],
                             halved @ [0.299, 0.587, 0.114], atol=1e-2)
  np.testing.assert_allclose(toy_appearance.shift_colors(
      halved, toy_appearance.ColorShift(1.0, 1.0, 1.0, 1.0)), halved, atol=1e-2)
  brighter = toy_appearance.shift_colors(colors * 0.5, toy_appearance.ColorShift(
      1.5, 1.0, 1.0, 0.0))
  np.testing.assert_allclose(brighter, colors * 0.75, atol=1e-3)
  contrast = toy_appearance.shift_colors(colors, toy_appearance.ColorShift(
      1.0, 0.5, 1.0, 0.0))
  np.testing.assert_allclose(contrast, luma.mean() + (colors - luma.mean())
                             * 0.5, atol=1e-3)


def test_varied_appearance_changes_colours_and_scale_per_video():
  pool = toy_videos.appearance_pool(0, 1, 64)
  varied = [toy_appearance.vary_appearance(pool[0], toy_videos.video_rng(
      0, 'train', 0, index)) for index in range(20)]
  radii = np.array([a.radius for a in varied]) / pool[0].radius
  assert radii.min() >= 0.8 and radii.max() <= 1.25 and radii.std() > 0.05
  backgrounds = np.stack([a.background.mean((0, 1)) for a in varied])
  assert backgrounds.std(0).min() > 10.0
  for appearance in varied:
    luma = appearance.background @ np.array([0.299, 0.587, 0.114])
    assert toy_appearance.distinguishable(
        appearance.colors, np.array([luma.min(), luma.max()]))
  # The shapes and textures stay the pool's.
  assert {(a.shape, a.texture) for a in varied} == {(pool[0].shape,
                                                     pool[0].texture)}


def test_default_render_draws_no_variation():
  pool = toy_videos.appearance_pool(0, 1, 64)
  frames = toy_videos.render_video('static', toy_videos.video_rng(
      0, 'train', 0, 0), 64, appearances=pool)
  np.testing.assert_allclose(frames[0, :4, :4], pool[0].background[:4, :4],
                             atol=0.5)
