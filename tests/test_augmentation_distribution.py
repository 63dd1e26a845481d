"""Our pretraining views and Model Garden's draw from the same distributions.

Both sides run their own parser on the same decoded video: ours
(`video_parser.Parser`, SSL training, configured as the paper YAMLs:
`crop_sampler: sample_distorted_bounding_box`, `view_blur_solarize:
asymmetric`) and Model Garden's `video_ssl_input.Parser`, whose
`video_ssl_preprocess_ops` draw with TensorFlow's stateful generator.
Synthetic frames make each parameter readable from the output, and a
two-sample test compares each parameter, or where one cannot be read, a
summary statistic of the output, per view:
  * geometry: frames whose red and green channels are the x and y pixel
    coordinates give each view's crop width and height (slopes of the
    ramps; the area and aspect ratio) and its flip (the sign of the slope);
  * colour: frames of one colour each (crop and flip change nothing there)
    give the brightness (HSV value), saturation, hue and grayscale of the
    clip and the contrast between its two frames;
  * blur and solarization: a checkerboard above 0.5 gives the sharpness
    (blur and its sigma) and solarization (every value below 0.5).
To isolate an operation, the others are switched off: in our config, and
in Model Garden's parser by replacing its stage functions (monkeypatch),
which it calls through their modules.

Deliberate differences, each shown here to be a difference:
  * `crop_sampler: inception` (our default, and that of every preset other
    than the paper's) draws areas uniformly and aspect ratios
    log-uniformly, as torchvision's RandomResizedCrop and the paper's
    description; the authors' release uses tf.image's bounding-box sampler.
  * `view_blur_solarize: symmetric` (our default): SimCLR's blur (p=0.5 on
    both views) and no solarization, as the paper lists its augmentation
    (sec. 3.4: crop, flip, colour jitter, blur); the release blurs view 1 always and view 2 with p=0.1,
    and solarizes view 2 with p=0.2.
  * `contrast_mean: frame` (our default) scales contrast around each
    frame's own channel means; Model Garden applies
    `tf.image.random_contrast` to the clip reshaped as one image, i.e.
    around the clip's means, which `contrast_mean: clip` (the paper YAMLs)
    reproduces. Either is temporally consistent in its factor; `frame`
    keeps a frame's result independent of the other frames of its clip.
  * `truncate_resized_frames: false` (our default) keeps the float resize
    (host path) or rounds it (device path); the release truncates it to
    uint8, which `truncate_resized_frames: true` (the paper YAMLs)
    reproduces.
"""
import numpy as np
import pytest
from scipy import stats
import tensorflow as tf

from official.projects.video_ssl.configs import video_ssl as mg_cfg
from official.projects.video_ssl.dataloaders import video_ssl_input
from official.projects.video_ssl.ops import video_ssl_preprocess_ops
from official.vision.ops import preprocess_ops_3d

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.dataloaders import video_parser
from cvrl_tf.ops import color_ops
from cvrl_tf.ops import color_ops_cpu
from cvrl_tf.ops import spatial_augmentation
from test_spatial_augmentation import crop_windows

NUM_DRAWS = 300
SIZE = 32
FRAMES = 2
# A two-sample test below this p-value says the distributions differ.
ALPHA = 1e-3

PAPER_SPATIAL = dict(crop_sampler='sample_distorted_bounding_box',
                     view_blur_solarize='asymmetric', contrast_mean='clip',
                     truncate_resized_frames=True)


def _encode(frames):
  """uint8 [F, H, W, 3] -> F lossless-enough JPEGs (q100, no subsampling)."""
  return tf.stack([tf.io.encode_jpeg(frame, quality=100,
                                     chroma_downsampling=False)
                   for frame in frames])


def _ours(encoded, n=NUM_DRAWS, **spatial):
  """Our views: float [n, 2 views, T, H, W, 3]."""
  params = data_cfg.DataConfig(
      is_training=True, is_ssl=True, feature_shape=(FRAMES, SIZE, SIZE, 3),
      temporal_stride=1)
  params.augmentation.spatial = data_cfg.SpatialAugmentation(**spatial)
  parse = video_parser.Parser(params).parse_fn(is_training=True)
  decoded = {'frames': encoded, 'label': tf.constant([0], tf.int64),
             'video_id': tf.constant('')}
  seeds = tf.data.Dataset.range(n).map(
      lambda i: tf.stack([i, tf.constant(7, tf.int64)]))
  views = seeds.map(lambda seed: tf.stack(parse(decoded, seed)[0]['image']))
  return next(views.batch(n).as_numpy_iterator())


def _model_garden(encoded, n=NUM_DRAWS):
  """Model Garden's views: float [n, 2 views, T, H, W, 3]."""
  params = mg_cfg.DataConfig(
      is_training=True, is_ssl=True, feature_shape=(FRAMES, SIZE, SIZE, 3),
      temporal_stride=1, num_classes=10)
  parse = video_ssl_input.Parser(params).parse_fn(is_training=True)
  decoded = {video_ssl_input.IMAGE_KEY: encoded,
             video_ssl_input.LABEL_KEY: tf.constant([0], tf.int64)}
  # Its stateful random ops take their seeds from the global seed: fixed,
  # the test's draws, and so its outcome, are the same on every run.
  tf.random.set_seed(0)
  try:
    views = tf.data.Dataset.range(n).map(
        lambda _: tf.reshape(parse(decoded)[0]['image'],
                             [2, FRAMES, SIZE, SIZE, 3]))
    return next(views.batch(n).as_numpy_iterator())
  finally:
    tf.random.set_seed(None)


def _identity(frames, *unused_args, **unused_kwargs):
  return frames


def _resize(frames, output_h, output_w, *unused_args):
  return tf.cast(tf.image.resize(frames, (output_h, output_w)), frames.dtype)


def _ks_pvalue(a, b):
  """Two-sample Kolmogorov-Smirnov p-value of statistics `a` and `b`.

  Both sides leave many clips unchanged (no jitter, say): atoms of the same
  value, which ours computes as x * (1 / 255) and Model Garden as x / 255,
  one float32 ulp apart. Rounding makes them one atom again; unrounded, KS
  would count a 20% atom as a 20% gap between the distributions.
  """
  return stats.ks_2samp(np.round(a, 4), np.round(b, 4)).pvalue


def _differ(a, b):
  return _ks_pvalue(a, b) < ALPHA


def _same(a, b):
  return _ks_pvalue(a, b) > ALPHA


def _same_rate(a, b):
  """Two-sided Fisher test of two boolean samples' rates."""
  table = [[a.sum(), (~a).sum()], [b.sum(), (~b).sum()]]
  return stats.fisher_exact(table).pvalue > ALPHA


# Geometry ------------------------------------------------------------------

# The image size of `crop_windows`.
HEIGHT, WIDTH = 48, 64
# Channel values per pixel of the coordinate frames.
X_STEP, Y_STEP = 4, 5


def _coordinate_frames():
  y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
  frame = np.stack([X_STEP * x, Y_STEP * y, np.full_like(x, 128)], -1)
  return _encode(np.repeat(frame[None].astype(np.uint8), FRAMES, 0))


def _geometry(views):
  """Crop area, aspect ratio and flip of each view: dict of [n, 2]."""
  frame = views[:, :, 0] * 255.0
  inner = slice(4, SIZE - 4)
  # Output pixel j samples x0 + (j + 0.5) w / SIZE - 0.5: the ramp's slope
  # per output pixel is X_STEP * w / SIZE.
  x_slope = np.polyfit(np.arange(SIZE)[inner], np.moveaxis(
      frame[:, :, inner, inner, 0].mean(2), -1, 0).reshape(
          SIZE - 8, -1), 1)[0].reshape(frame.shape[:2])
  y_slope = np.polyfit(np.arange(SIZE)[inner], np.moveaxis(
      frame[:, :, inner, inner, 1].mean(3), -1, 0).reshape(
          SIZE - 8, -1), 1)[0].reshape(frame.shape[:2])
  width = np.abs(x_slope) * SIZE / X_STEP
  height = y_slope * SIZE / Y_STEP
  return {'area': width * height / (HEIGHT * WIDTH),
          'aspect': width / height, 'flip': x_slope < 0}


@pytest.fixture(scope='module')
def geometry():
  encoded = _coordinate_frames()
  ours = _geometry(_ours(encoded, color_jitter_prob=0.0, grayscale_prob=0.0,
                         blur_prob=0.0,
                         crop_sampler='sample_distorted_bounding_box'))
  with pytest.MonkeyPatch.context() as patch:
    for name in ('random_color_jitter_3d', 'random_blur',
                 'random_solarization'):
      patch.setattr(video_ssl_preprocess_ops, name, _identity)
    theirs = _geometry(_model_garden(encoded))
  return ours, theirs


@pytest.mark.parametrize('view', [0, 1])
def test_crop_area_aspect_and_flip(geometry, view):
  ours, theirs = geometry
  for key in ('area', 'aspect'):
    assert _same(ours[key][:, view], theirs[key][:, view]), key
  assert _same_rate(ours['flip'][:, view], theirs['flip'][:, view])
  assert abs(ours['flip'][:, view].mean() - 0.5) < 0.1
  # The statistics read the window: areas span the configured range.
  assert 0.25 < np.percentile(theirs['area'], 1)
  assert np.percentile(theirs['area'], 99) < 1.05


def test_inception_crops_differ_from_the_release():
  # The window functions our parser calls for `crop_sampler: inception` and
  # for the release's sampler (shown equal to Model Garden's draws above),
  # drawn directly: the difference in area is too small for 300 clips, and
  # too close to the test's power for 3000 windows against 600.
  def areas(window_fn):
    windows = crop_windows(window_fn, 3000)
    return windows[:, 2] * windows[:, 3] / (HEIGHT * WIDTH)
  assert _differ(areas(spatial_augmentation.random_crop_window),
                 areas(spatial_augmentation.bounding_box_crop_window))


# Colour --------------------------------------------------------------------

# Saturated colours of different hue and value.
COLOURS = ((200, 60, 40), (50, 90, 170))
NO_GEOMETRY = dict(crop_area_range=(1.0, 1.0),
                   crop_aspect_ratio_range=(1.0, 1.0), flip=False)


def _halves_frames():
  """Identical frames, top half COLOURS[0], bottom half COLOURS[1].

  Left-right flips change nothing, and as the frames are equal, the frame
  and clip means agree (see the module docstring on contrast).
  """
  frame = np.concatenate([np.full([SIZE // 2, SIZE, 3], c, np.uint8)
                          for c in COLOURS])
  return _encode(np.repeat(frame[None], FRAMES, 0))


def _colour(views):
  """Per view [n, 2]: HSV value, saturation and hue and grayscale of the
  top colour, and the distance between the two colours (contrast)."""
  top = views[:, :, 0, SIZE // 4, SIZE // 2]  # [n, 2, 3]
  bottom = views[:, :, 0, 3 * SIZE // 4, SIZE // 2]
  hsv = np.asarray(tf.image.rgb_to_hsv(top.astype(np.float32)))
  return {'value': hsv[..., 2], 'saturation': hsv[..., 1],
          'hue': hsv[..., 0], 'gray': np.ptp(top, axis=-1) < 1e-3,
          'contrast': np.linalg.norm(top - bottom, axis=-1)}


@pytest.fixture(scope='module')
def colour():
  encoded = _halves_frames()
  # Blur and solarization are off on both sides (tested below).
  ours = _colour(_ours(encoded, blur_prob=0.0, **NO_GEOMETRY))
  with pytest.MonkeyPatch.context() as patch:
    for name in ('random_blur', 'random_solarization'):
      patch.setattr(video_ssl_preprocess_ops, name, _identity)
    patch.setattr(preprocess_ops_3d, 'random_crop_resize', _resize)
    theirs = _colour(_model_garden(encoded))
  return ours, theirs


@pytest.mark.parametrize('view', [0, 1])
def test_brightness_contrast_saturation_hue_grayscale(colour, view):
  ours, theirs = colour
  for key in ('value', 'contrast', 'saturation', 'hue'):
    assert _same(ours[key][:, view], theirs[key][:, view]), key
  assert _same_rate(ours['gray'][:, view], theirs['gray'][:, view])
  assert abs(ours['gray'][:, view].mean() - 0.2) < 0.08


# Colour jitter that is contrast 0.5 only (order: contrast first).
CONTRAST_ONLY = {'jitter': True, 'grayscale': False, 'brightness': 1.0,
                 'contrast': 0.5, 'saturation': 1.0, 'hue': 0.0,
                 'order': [1, 0, 2, 3]}


@pytest.mark.parametrize('contrast_mean', data_cfg.CONTRAST_MEANS)
def test_contrast_mean_of_both_paths(contrast_mean):
  # A dark and a bright frame: their means differ, so the two choices do.
  rng = np.random.default_rng(0)
  frames = (rng.integers(0, 128, [FRAMES, 4, 8, 3])
            + np.arange(FRAMES)[:, None, None, None] * 127).astype(np.float32)
  over_clip = contrast_mean == 'clip'
  params = {key: tf.constant(value) for key, value in CONTRAST_ONLY.items()}
  host = color_ops_cpu.distort_colors_cpu(tf.constant(frames), params,
                                          1.0 / 255.0, over_clip)
  device = color_ops.distort_colors_compiled(tf.constant(frames / 255.0),
                                             params, over_clip)
  x = frames / 255.0
  mean = x.mean(axis=(0, 1, 2) if over_clip else (1, 2), keepdims=True)
  expected = np.clip(0.5 * (x - mean) + mean, 0.0, 1.0)
  np.testing.assert_allclose(host, expected, atol=1e-5)
  np.testing.assert_allclose(device, expected, atol=1e-5)
  # Model Garden's `random_color_jitter_3d` reshapes the clip into one
  # image: `clip` is the release's, `frame` differs from it.
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(video_ssl_preprocess_ops, 'random_apply',
                  lambda func, p, x: func(x))
    patch.setattr(video_ssl_preprocess_ops, 'to_grayscale', _identity)
    patch.setattr(video_ssl_preprocess_ops, 'color_jitter',
                  lambda image, strength: tf.image.adjust_contrast(image, 0.5))
    theirs = video_ssl_preprocess_ops.random_color_jitter_3d(
        tf.constant(x.astype(np.float32))).numpy()
  difference = np.abs(theirs - expected).max()
  assert difference < 1e-5 if over_clip else difference > 0.1, difference


@pytest.mark.parametrize('truncate', [False, True])
def test_resized_frames_truncated_as_the_release(truncate):
  # Model Garden's `random_crop_resize` with a crop that can only be the
  # whole frame (area 1, the frame's aspect ratio), so only the resize and
  # its cast to uint8 remain.
  rng = np.random.default_rng(0)
  frames = tf.constant(rng.integers(0, 256, [FRAMES, 20, 30, 3]), tf.uint8)
  theirs = preprocess_ops_3d.random_crop_resize(
      frames, 10, 15, FRAMES, 3, (1.0, 1.0), (1.0, 1.0)).numpy()
  ours = spatial_augmentation.resize_unscaled(frames, (10, 15),
                                              truncate).numpy()
  if truncate:
    np.testing.assert_array_equal(ours, theirs)
  else:
    # The float resize sits half a level above the truncation on average.
    assert 0.3 < (ours - theirs).mean() < 0.7
    assert ((ours - theirs) >= 0).all() and ((ours - theirs) < 1).all()


# Blur and solarization ------------------------------------------------------


def _checkerboard_frames():
  y, x = np.mgrid[0:SIZE, 0:SIZE]
  frame = np.where((x + y) % 2, 245, 190)[..., None].repeat(3, -1)
  return _encode(np.repeat(frame[None].astype(np.uint8), FRAMES, 0))


def _blur_and_solarize(views):
  inner = views[:, :, :, 2:-2, 2:-2]
  return {'sharpness': np.abs(np.diff(inner, axis=3)).mean(axis=(2, 3, 4, 5)),
          'solarized': inner.max(axis=(2, 3, 4, 5)) < 0.5}


@pytest.fixture(scope='module')
def blur_and_solarize():
  encoded = _checkerboard_frames()
  no_colour = dict(NO_GEOMETRY, color_jitter_prob=0.0, grayscale_prob=0.0)
  ours = _blur_and_solarize(_ours(encoded, **no_colour, **PAPER_SPATIAL))
  symmetric = _blur_and_solarize(_ours(encoded, **no_colour))
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(video_ssl_preprocess_ops, 'random_color_jitter_3d',
                  _identity)
    patch.setattr(preprocess_ops_3d, 'random_crop_resize', _resize)
    theirs = _blur_and_solarize(_model_garden(encoded))
  return ours, symmetric, theirs


@pytest.mark.parametrize('view', [0, 1])
def test_blur_and_solarization_per_view(blur_and_solarize, view):
  ours, _, theirs = blur_and_solarize
  assert _same(ours['sharpness'][:, view], theirs['sharpness'][:, view])
  assert _same_rate(ours['solarized'][:, view], theirs['solarized'][:, view])
  expected = (0.0, 0.2)[view]
  assert abs(ours['solarized'][:, view].mean() - expected) < 0.07


def test_symmetric_blur_differs_from_the_release(blur_and_solarize):
  _, symmetric, theirs = blur_and_solarize
  assert _differ(symmetric['sharpness'][:, 0], theirs['sharpness'][:, 0])
  assert not symmetric['solarized'].any()
