"""A small labeled video dataset whose classes differ only in their motion.

Every video shows one textured object on a static gradient background. The
object's appearance (shape, texture, colours, size, orientation) and
background come from a pool shared by all classes (by default a single
appearance, the same in every video), the start position and video length
(2-6 s) are random for every video; only the way the object moves depends
on the class. A single frame therefore says nothing
about the label, so a representation has to capture motion to classify these
videos, which is what CVRL pretraining is meant to learn.

With `vary_appearance`, every video also gets its own hue, saturation,
brightness and contrast, drawn separately for the object and the
background, and its own object scale: the per-video cues that CVRL's colour
jitter, grayscale and crops remove (the shortcut of the paper's Table 4,
where two clips of one video share colours and lighting). These are drawn
independently of the class, so they identify a video without predicting its
label.

The classes are motion types and speed ranges, never directions: CVRL's
horizontal flip would turn "moves left" into "moves right" and clockwise into
counter-clockwise, so each class contains both mirror images. Every motion is
continuous over the whole video and periodic motions repeat within ~1.4 s, so
any clip of 8-16 frames at stride 2 shows it. Speeds, distances and sizes are
fractions of the frame size, so a dataset rendered at another size is the same
dataset at another resolution.

Videos are written as H.264 mp4 files (libx264, yuv420p) in a folder-per-class
tree:

  OUTPUT_DIR/classes.json
  OUTPUT_DIR/{train,test}/<class_name>/<class_name>_<index>.mp4

Each video is rendered from its own random generator seeded by (seed, split,
class, index), so the files do not depend on the number of worker processes
or on the order in which they run.
"""
import concurrent.futures
import dataclasses
import functools
import json
import multiprocessing
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import av
import numpy as np

SPLITS = ('train', 'test')
MIN_SECONDS = 2.0
MAX_SECONDS = 6.0
MIN_SIZE = 32
# Appearances shared by all classes; see `appearance_pool`. With one, the
# contrastive task cannot be solved by telling appearances apart, and the
# toy preset learns motion (docs/results/demo.md compares 1 and 4).
DEFAULT_NUM_APPEARANCES = 1

# Object radius as a fraction of the frame size.
_RADIUS_RANGE = (0.09, 0.15)
# The farthest point of any shape from its centre, in radii: the square's
# corners at 0.85 * sqrt(2), plus a margin.
_SHAPE_EXTENT = 1.25
# Luma differences that keep the object and its texture visible after
# grayscale conversion and colour jitter.
_MIN_OBJECT_BACKGROUND_LUMA = 50.0
_MIN_TEXTURE_LUMA = 35.0
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)
# Per-video variation of `vary_appearance`: the brightness, contrast and
# saturation factors and the hue shift (in turns) that CVRL's colour jitter
# draws at strength 1 (SimCLR: 1 +/- 0.8 and +/- 0.2; configs/data.py), and
# object scales as far as the toy preset's crops (60-100% of the area) zoom.
_COLOR_FACTOR_RANGE = (0.2, 1.8)
_HUE_SHIFT_RANGE = (-0.2, 0.2)
_SCALE_RANGE = (0.8, 1.25)
# Redraws allowed to find a colour shift that keeps the object visible.
_MAX_SHIFT_DRAWS = 1000
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322],
                        [0.211, -0.523, 0.312]], np.float32)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Pose:
  """Per-frame placement of the object.

  Attributes:
    x: float32 [T], centre column in pixels. Positions wrap around the frame
      edges, so an object leaving on one side re-enters on the other.
    y: float32 [T], centre row in pixels, wrapping like `x`.
    angle: float32 [T], rotation in radians.
    scale: float32 [T], size multiplier of the object's radius.
  """
  x: np.ndarray
  y: np.ndarray
  angle: np.ndarray
  scale: np.ndarray


@dataclasses.dataclass(frozen=True)
class Appearance:
  """Everything about a video that does not depend on its class.

  Attributes:
    shape: index into `_SHAPES`.
    texture: index into `_TEXTURES`.
    texture_frequency: stripes or checks per radius, in radians.
    texture_angle: orientation of the texture in the object frame, radians.
    radius: object radius in pixels.
    angle: initial rotation in radians.
    colors: float32 [2, 3], the object's two texture colours in [0, 255].
    background: float32 [H, W, 3], the static background in [0, 255].
  """
  shape: int
  texture: int
  texture_frequency: float
  texture_angle: float
  radius: float
  angle: float
  colors: np.ndarray
  background: np.ndarray


# Shapes as signed distance functions of object coordinates (u, v) in units
# of the radius: negative inside. The edges get one pixel of antialiasing so
# sub-pixel motion stays smooth.
def _disk(u: np.ndarray, v: np.ndarray) -> np.ndarray:
  return np.sqrt(u * u + v * v) - 1.0


def _ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
  # Not an exact distance, but close enough for a one-pixel antialiased edge.
  return (np.sqrt(u * u + (v / 0.55) ** 2) - 1.0) * 0.55


def _box_sdf(u: np.ndarray, v: np.ndarray, half_u: float,
             half_v: float) -> np.ndarray:
  qu = np.abs(u) - half_u
  qv = np.abs(v) - half_v
  outside = np.sqrt(np.maximum(qu, 0.0) ** 2 + np.maximum(qv, 0.0) ** 2)
  return outside + np.minimum(np.maximum(qu, qv), 0.0)


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
  return _box_sdf(u, v, 0.85, 0.85)


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
  return np.minimum(_box_sdf(u, v, 1.0, 0.38), _box_sdf(u, v, 0.38, 1.0))


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
  """Equilateral triangle with circumradius 1 (Quilez's exact distance)."""
  k = np.sqrt(3.0)
  half_side = k / 2.0
  pu = np.abs(u) - half_side
  pv = v + half_side / k
  fold = pu + k * pv > 0.0
  pu, pv = (np.where(fold, (pu - k * pv) / 2.0, pu),
            np.where(fold, (-k * pu - pv) / 2.0, pv))
  pu = pu - np.clip(pu, -2.0 * half_side, 0.0)
  return -np.sqrt(pu * pu + pv * pv) * np.sign(pv)


_SHAPES = (_disk, _ellipse, _square, _cross, _triangle)


# Textures map object coordinates to a blend weight in [0, 1] between the two
# object colours. None is rotationally symmetric, so a spinning object looks
# different from a still one whatever its shape.
def _stripes(u: np.ndarray, v: np.ndarray, frequency: float,
             angle: float) -> np.ndarray:
  w = np.sin(frequency * (u * np.cos(angle) + v * np.sin(angle)))
  return np.clip(0.5 + 2.0 * w, 0.0, 1.0)


def _checks(u: np.ndarray, v: np.ndarray, frequency: float,
            angle: float) -> np.ndarray:
  c, s = np.cos(angle), np.sin(angle)
  w = np.sin(frequency * (u * c + v * s)) * np.sin(frequency * (v * c - u * s))
  return np.clip(0.5 + 4.0 * w, 0.0, 1.0)


def _halves(u: np.ndarray, v: np.ndarray, frequency: float,
            angle: float) -> np.ndarray:
  del frequency  # Two halves have no spatial frequency.
  w = u * np.cos(angle) + v * np.sin(angle)
  return np.clip(0.5 + 8.0 * w, 0.0, 1.0)


_TEXTURES = (_stripes, _checks, _halves)


def _pose(num_frames: int, x, y, angle=0.0, scale=1.0) -> Pose:
  """Broadcasts scalars or [T] arrays into a float32 `Pose`."""
  def full(value):
    return np.broadcast_to(np.asarray(value, np.float32),
                           (num_frames,)).astype(np.float32)
  return Pose(full(x), full(y), full(angle), full(scale))


def _position(rng: np.random.Generator, size: int, margin: float) -> float:
  """A coordinate that keeps the object at least `margin` pixels inside."""
  return float(rng.uniform(margin, size - margin))


def _direction(rng: np.random.Generator) -> float:
  return float(rng.choice([-1.0, 1.0]))


# Motions. Each takes (rng, t, size, radius) with t the float32 [T] frame
# times in seconds, size the frame size and radius the object radius in
# pixels, and returns the object's `Pose` relative to its initial rotation.
def _static(rng, t, size, radius) -> Pose:
  margin = _SHAPE_EXTENT * radius
  return _pose(t.size, _position(rng, size, margin),
               _position(rng, size, margin))


def _slide(rng, t, size, radius, speed_range, vertical) -> Pose:
  """Constant velocity along one axis, wrapping around the frame."""
  speed = _direction(rng) * rng.uniform(*speed_range) * size
  along = rng.uniform(0.0, size) + speed * t
  across = _position(rng, size, _SHAPE_EXTENT * radius)
  if vertical:
    return _pose(t.size, across, along)
  return _pose(t.size, along, across)


def _slide_slow(rng, t, size, radius) -> Pose:
  return _slide(rng, t, size, radius, (0.15, 0.22), vertical=False)


def _slide_fast(rng, t, size, radius) -> Pose:
  return _slide(rng, t, size, radius, (0.6, 0.9), vertical=False)


def _slide_vertical(rng, t, size, radius) -> Pose:
  return _slide(rng, t, size, radius, (0.3, 0.45), vertical=True)


def _orbit(rng, t, size, radius) -> Pose:
  orbit_radius = rng.uniform(0.15, 0.25) * size
  margin = orbit_radius + _SHAPE_EXTENT * radius
  cx, cy = _position(rng, size, margin), _position(rng, size, margin)
  phase = rng.uniform(0.0, 2.0 * np.pi)
  omega = _direction(rng) * 2.0 * np.pi / rng.uniform(1.2, 2.0)
  return _pose(t.size, cx + orbit_radius * np.cos(phase + omega * t),
               cy + orbit_radius * np.sin(phase + omega * t))


def _spin(rng, t, size, radius) -> Pose:
  margin = _SHAPE_EXTENT * radius
  omega = _direction(rng) * 2.0 * np.pi * rng.uniform(0.5, 1.0)
  return _pose(t.size, _position(rng, size, margin),
               _position(rng, size, margin), angle=omega * t)


def _pulse(rng, t, size, radius) -> Pose:
  amplitude = rng.uniform(0.3, 0.45)
  margin = _SHAPE_EXTENT * radius * (1.0 + amplitude)
  phase = rng.uniform(0.0, 2.0 * np.pi)
  frequency = 1.0 / rng.uniform(0.8, 1.4)
  return _pose(t.size, _position(rng, size, margin),
               _position(rng, size, margin),
               scale=1.0 + amplitude * np.sin(2.0 * np.pi * frequency * t +
                                              phase))


def _bounce(rng, t, size, radius) -> Pose:
  """A ball under gravity bouncing elastically on an invisible floor."""
  margin = _SHAPE_EXTENT * radius
  height = rng.uniform(0.25, 0.4) * size
  floor = rng.uniform(height + margin, size - margin)
  period = rng.uniform(0.7, 1.1)
  air = np.mod(t / period + rng.uniform(0.0, 1.0), 1.0)
  return _pose(t.size, _position(rng, size, margin),
               floor - 4.0 * height * air * (1.0 - air))


def _swing(rng, t, size, radius) -> Pose:
  amplitude = rng.uniform(0.12, 0.22) * size
  margin = _SHAPE_EXTENT * radius
  x0 = _position(rng, size, margin + amplitude)
  y0 = _position(rng, size, margin)
  phase = rng.uniform(0.0, 2.0 * np.pi)
  frequency = 1.0 / rng.uniform(0.8, 1.4)
  return _pose(t.size, x0 + amplitude * np.sin(2.0 * np.pi * frequency * t +
                                               phase), y0)


def _shake(rng, t, size, radius) -> Pose:
  """Independent random displacements every frame, at any frame stride."""
  sigma = 0.035 * size
  margin = _SHAPE_EXTENT * radius + 2.5 * sigma
  x0, y0 = _position(rng, size, margin), _position(rng, size, margin)
  offsets = np.clip(rng.normal(0.0, sigma, (2, t.size)), -2.5 * sigma,
                    2.5 * sigma)
  return _pose(t.size, x0 + offsets[0], y0 + offsets[1])


@dataclasses.dataclass(frozen=True)
class MotionClass:
  """A label: its name, a one-line description and its motion function."""
  name: str
  description: str
  motion: Callable[..., Pose]


MOTION_CLASSES: Tuple[MotionClass, ...] = (
    MotionClass('static', 'The object does not move.', _static),
    MotionClass(
        'slide_slow',
        'Constant horizontal velocity of 0.15-0.22 frame widths per second, '
        'leftwards or rightwards, wrapping around the frame edges.',
        _slide_slow),
    MotionClass(
        'slide_fast',
        'Constant horizontal velocity of 0.6-0.9 frame widths per second, '
        'leftwards or rightwards, wrapping around the frame edges.',
        _slide_fast),
    MotionClass(
        'slide_vertical',
        'Constant vertical velocity of 0.3-0.45 frame heights per second, '
        'upwards or downwards, wrapping around the frame edges.',
        _slide_vertical),
    MotionClass(
        'orbit',
        'Circles a fixed point at a radius of 0.15-0.25 frames, one turn '
        'every 1.2-2 s, either way round.', _orbit),
    MotionClass(
        'spin',
        'Rotates in place at 0.5-1 turns per second, either way round.',
        _spin),
    MotionClass(
        'pulse',
        'Grows and shrinks in place by 30-45% with a period of 0.8-1.4 s.',
        _pulse),
    MotionClass(
        'bounce',
        'Falls under gravity and bounces on an invisible floor, 0.25-0.4 '
        'frames high, every 0.7-1.1 s.', _bounce),
    MotionClass(
        'swing',
        'Swings left and right sinusoidally, 0.12-0.22 frames from its '
        'centre, with a period of 0.8-1.4 s.', _swing),
    MotionClass(
        'shake',
        'Jitters around a fixed point with an independent random offset of '
        '0.035 frames standard deviation every frame.', _shake),
)
CLASS_NAMES: Tuple[str, ...] = tuple(c.name for c in MOTION_CLASSES)


def _luma(colors: np.ndarray) -> np.ndarray:
  return colors @ _LUMA_WEIGHTS


def _distinguishable(object_colors: np.ndarray,
                     background_luma: np.ndarray) -> bool:
  """Whether the object stands out from the background and shows its texture.

  Args:
    object_colors: float32 [2, 3], the object's texture colours.
    background_luma: float32 [2], the background's darkest and brightest luma
      (a gradient's end colours).
  """
  luma = _luma(object_colors)
  contrast = np.abs(luma[:, None] - background_luma[None, :]).min()
  return bool(contrast >= _MIN_OBJECT_BACKGROUND_LUMA and
              abs(luma[0] - luma[1]) >= _MIN_TEXTURE_LUMA)


def _sample_colors(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
  """Draws 2 object and 2 background colours that stay distinguishable.

  Args:
    rng: random generator.

  Returns:
    (object_colors, background_colors), float32 [2, 3] each in [0, 255].
  """
  while True:
    colors = rng.uniform(0.0, 255.0, (4, 3)).astype(np.float32)
    if _distinguishable(colors[:2], _luma(colors[2:])):
      return colors[:2], colors[2:]


@dataclasses.dataclass(frozen=True)
class ColorShift:
  """A photometric change of one part of a video (object or background).

  Attributes:
    brightness: factor on every channel.
    contrast: factor on the distance from the part's mean luma.
    saturation: factor on the distance from each pixel's luma (0: grayscale).
    hue: rotation of the chroma plane (YIQ), in turns.
  """
  brightness: float
  contrast: float
  saturation: float
  hue: float


def _sample_color_shift(rng: np.random.Generator) -> ColorShift:
  return ColorShift(*rng.uniform(*_COLOR_FACTOR_RANGE, 3),
                    hue=float(rng.uniform(*_HUE_SHIFT_RANGE)))


def shift_colors(colors: np.ndarray, shift: ColorShift) -> np.ndarray:
  """Applies brightness, contrast, saturation, then hue, as colour jitter does.

  Args:
    colors: float32 [..., 3] RGB in [0, 255].
    shift: the change.

  Returns:
    float32 [..., 3] RGB clipped to [0, 255].
  """
  colors = colors * shift.brightness
  mean_luma = _luma(colors).mean()
  colors = mean_luma + (colors - mean_luma) * shift.contrast
  luma = _luma(colors)[..., None]
  colors = luma + (colors - luma) * shift.saturation
  yiq = colors @ _RGB_TO_YIQ.T
  angle = 2.0 * np.pi * shift.hue
  rotation = np.array([[1.0, 0.0, 0.0],
                       [0.0, np.cos(angle), -np.sin(angle)],
                       [0.0, np.sin(angle), np.cos(angle)]], np.float32)
  colors = yiq @ rotation.T @ _YIQ_TO_RGB.T
  return np.clip(colors, 0.0, 255.0).astype(np.float32)


def vary_appearance(appearance: Appearance,
                    rng: np.random.Generator) -> Appearance:
  """The appearance with this video's own colours and object scale.

  Object and background get independent colour shifts, redrawn until the
  object stays distinguishable (`_distinguishable`); after
  `_MAX_SHIFT_DRAWS` draws the colours stay as they are.

  Args:
    appearance: the appearance drawn from the pool.
    rng: the video's random generator.

  Returns:
    The appearance with shifted colours and background and a scaled radius.
  """
  radius = appearance.radius * float(rng.uniform(*_SCALE_RANGE))
  for _ in range(_MAX_SHIFT_DRAWS):
    colors = shift_colors(appearance.colors, _sample_color_shift(rng))
    background = shift_colors(appearance.background, _sample_color_shift(rng))
    background_luma = _luma(background)
    if _distinguishable(colors, np.array([background_luma.min(),
                                          background_luma.max()])):
      return dataclasses.replace(appearance, radius=radius, colors=colors,
                                 background=background)
  return dataclasses.replace(appearance, radius=radius)


def _background(rng: np.random.Generator, colors: np.ndarray,
                size: int) -> np.ndarray:
  """A linear gradient between two colours in a random direction.

  Args:
    rng: random generator.
    colors: float32 [2, 3], the gradient's end colours.
    size: frame height and width.

  Returns:
    float32 [size, size, 3].
  """
  angle = rng.uniform(0.0, 2.0 * np.pi)
  rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
  ramp = cols * np.cos(angle) + rows * np.sin(angle)
  ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
  return colors[0] + (colors[1] - colors[0]) * ramp[..., None]


def _sample_appearance(rng: np.random.Generator, size: int) -> Appearance:
  object_colors, background_colors = _sample_colors(rng)
  return Appearance(
      shape=int(rng.integers(len(_SHAPES))),
      texture=int(rng.integers(len(_TEXTURES))),
      texture_frequency=float(rng.uniform(2.0, 4.0)),
      texture_angle=float(rng.uniform(0.0, 2.0 * np.pi)),
      radius=float(rng.uniform(*_RADIUS_RANGE) * size),
      angle=float(rng.uniform(0.0, 2.0 * np.pi)),
      colors=object_colors,
      background=_background(rng, background_colors, size))


def _composite(appearance: Appearance, pose: Pose) -> np.ndarray:
  """Draws the object over the background in every frame.

  Only a square window around the object is shaded per frame, which keeps
  the cost independent of the frame size.

  Args:
    appearance: the object and background.
    pose: the object's placement, [T] per field.

  Returns:
    uint8 [T, H, W, 3] frames.
  """
  background = appearance.background
  size = background.shape[0]
  num_frames = pose.x.size
  half = int(np.ceil(_SHAPE_EXTENT * appearance.radius * pose.scale.max())) + 2
  offsets = np.arange(-half, half + 1)
  # Unwrapped pixel coordinates of each frame's window, [T, 2 * half + 1].
  cols = np.floor(pose.x)[:, None].astype(np.int64) + offsets
  rows = np.floor(pose.y)[:, None].astype(np.int64) + offsets
  dx = (cols - pose.x[:, None]).astype(np.float32)[:, None, :]
  dy = (rows - pose.y[:, None]).astype(np.float32)[:, :, None]
  angle = (appearance.angle + pose.angle)[:, None, None]
  radius = (appearance.radius * pose.scale)[:, None, None]
  cos, sin = np.cos(angle), np.sin(angle)
  u = (cos * dx + sin * dy) / radius
  v = (cos * dy - sin * dx) / radius
  distance = _SHAPES[appearance.shape](u, v) * radius
  alpha = np.clip(0.5 - distance, 0.0, 1.0)[..., None]
  blend = _TEXTURES[appearance.texture](u, v, appearance.texture_frequency,
                                        appearance.texture_angle)[..., None]
  object_colors = appearance.colors
  color = object_colors[0] + (object_colors[1] - object_colors[0]) * blend

  # Flat pixel indices of the windows, [T, 2 * half + 1, 2 * half + 1]:
  # indexing with one flat array is faster than with three broadcast ones.
  pixel = (np.mod(rows, size)[:, :, None] * size +
           np.mod(cols, size)[:, None, :])
  window = background.reshape(-1, 3)[pixel]
  frames = np.broadcast_to(np.round(background).astype(np.uint8),
                           (num_frames,) + background.shape).copy()
  frame_pixel = pixel + (np.arange(num_frames) * size * size)[:, None, None]
  frames.reshape(-1, 3)[frame_pixel] = np.round(
      window + (color - window) * alpha).astype(np.uint8)
  return frames


@functools.lru_cache(maxsize=4)
def appearance_pool(seed: int, num_appearances: int,
                    size: int) -> Tuple[Appearance, ...]:
  """The appearances (object and background) shared by all classes.

  Videos draw their appearance from this pool, independently of their class.
  A small pool means appearance cannot tell one video from most others in a
  batch, so contrastive learning has to use motion to tell them apart, as it
  must on real data where many videos share similar scenes; with a unique
  appearance per video, matching colours and shapes solves the pretext task
  and the learned features ignore motion.
  """
  return tuple(
      _sample_appearance(np.random.default_rng(np.random.SeedSequence(
          seed, spawn_key=(len(SPLITS), k))), size)
      for k in range(num_appearances))


def render_video(class_name: str, rng: np.random.Generator, size: int = 128,
                 fps: int = 25,
                 appearances: Optional[Sequence[Appearance]] = None,
                 vary: bool = False) -> np.ndarray:
  """Renders one random video of a motion class.

  Args:
    class_name: one of `CLASS_NAMES`.
    rng: random generator; the video is a deterministic function of its state.
    size: frame height and width in pixels, even and at least `MIN_SIZE`.
    fps: frame rate, which sets how far the object moves per frame.
    appearances: a pool to draw the appearance from (see `appearance_pool`);
      None draws a fresh appearance for this video.
    vary: give the video its own colours and object scale
      (`vary_appearance`).

  Returns:
    uint8 [T, size, size, 3] RGB frames, with T / fps between `MIN_SECONDS`
    and `MAX_SECONDS`.
  """
  if size < MIN_SIZE or size % 2:
    raise ValueError(f'size must be even and >= {MIN_SIZE}, got {size}.')
  motion = MOTION_CLASSES[CLASS_NAMES.index(class_name)].motion
  num_frames = int(rng.integers(round(MIN_SECONDS * fps),
                                round(MAX_SECONDS * fps) + 1))
  if appearances:
    appearance = appearances[int(rng.integers(len(appearances)))]
  else:
    appearance = _sample_appearance(rng, size)
  if vary:
    appearance = vary_appearance(appearance, rng)
  t = np.arange(num_frames, dtype=np.float32) / fps
  return _composite(appearance, motion(rng, t, size, appearance.radius))


def video_rng(seed: int, split: str, class_index: int,
              index: int) -> np.random.Generator:
  """The random generator of one video, independent of all the others."""
  return np.random.default_rng(
      np.random.SeedSequence(seed, spawn_key=(SPLITS.index(split),
                                              class_index, index)))


def write_mp4(path: str, frames: np.ndarray, fps: int) -> None:
  """Encodes frames as an H.264 (libx264, yuv420p) mp4 file.

  The file is written next to `path` and renamed, so an interrupted run never
  leaves a truncated video behind.

  Args:
    path: output file path ending in .mp4.
    frames: uint8 [T, H, W, 3] RGB frames with even H and W.
    fps: frame rate.
  """
  partial_path = path + '.partial'
  with av.open(partial_path, mode='w', format='mp4') as container:
    stream = container.add_stream('libx264', rate=fps)
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = 'yuv420p'
    # x264's macroblock tree rate control gave run-to-run differences in the
    # bitstream; without it the same frames always encode to the same bytes.
    stream.options = {'preset': 'superfast', 'crf': '18',
                      'x264-params': 'mbtree=0'}
    # Parallelism comes from the worker processes; one encoder thread each
    # avoids oversubscribing the cores.
    stream.codec_context.thread_count = 1
    for frame in frames:
      container.mux(stream.encode(av.VideoFrame.from_ndarray(frame,
                                                             format='rgb24')))
    container.mux(stream.encode())
  os.replace(partial_path, path)


def _make_video(
    task: Tuple[str, int, str, int, int, int, int, int, bool]) -> str:
  """Renders and writes one video; the unit of work of a worker process.

  Args:
    task: (output_dir, seed, split, class_index, index, size, fps,
      num_appearances, vary_appearance).

  Returns:
    The path of the written file.
  """
  (output_dir, seed, split, class_index, index, size, fps, pool_size,
   vary) = task
  class_name = CLASS_NAMES[class_index]
  frames = render_video(
      class_name, video_rng(seed, split, class_index, index), size, fps,
      appearance_pool(seed, pool_size, size) if pool_size else None, vary)
  path = os.path.join(output_dir, split, class_name,
                      f'{class_name}_{index:04d}.mp4')
  write_mp4(path, frames, fps)
  return path


def make_toy_dataset(output_dir: str,
                     train_per_class: int = 50,
                     test_per_class: int = 20,
                     seed: int = 0,
                     size: int = 128,
                     fps: int = 25,
                     num_workers: Optional[int] = None,
                     num_appearances: int = DEFAULT_NUM_APPEARANCES,
                     vary: bool = False) -> Dict[str, object]:
  """Writes the motion-class video dataset to `output_dir`.

  Files already in the tree are overwritten but never deleted, so reuse an
  output directory only with the same or larger per-class counts.

  Args:
    output_dir: root of the dataset tree.
    train_per_class: number of training videos per class.
    test_per_class: number of test videos per class.
    seed: dataset seed; the same seed gives the same videos.
    size: frame height and width in pixels.
    fps: frame rate.
    num_workers: number of worker processes; defaults to the number of CPUs.
      With 1, everything runs in the calling process.
    num_appearances: size of the appearance pool shared by all classes (see
      `appearance_pool`); 0 gives every video its own appearance.
    vary: give every video its own colours and object scale on top of the
      pool's appearance (`vary_appearance`; the paper's Table 4 shortcut).

  Returns:
    A dict with 'classes' (names in label order), 'descriptions' (one per
    class), 'num_videos' ({split: count}) and 'paths' ({split: sorted list of
    video paths}).
  """
  counts = {'train': train_per_class, 'test': test_per_class}
  for split in SPLITS:
    for class_name in CLASS_NAMES:
      os.makedirs(os.path.join(output_dir, split, class_name), exist_ok=True)
  with open(os.path.join(output_dir, 'classes.json'), 'w') as f:
    json.dump([{'name': c.name, 'description': c.description}
               for c in MOTION_CLASSES], f, indent=2)
    f.write('\n')

  tasks = [(output_dir, seed, split, class_index, index, size, fps,
            num_appearances, vary)
           for split in SPLITS
           for class_index in range(len(CLASS_NAMES))
           for index in range(counts[split])]
  num_workers = num_workers or os.cpu_count() or 1
  if num_workers == 1:
    paths = [_make_video(task) for task in tasks]
  else:
    # 'spawn' keeps workers independent of whatever the parent has imported
    # (TensorFlow is not fork-safe).
    with concurrent.futures.ProcessPoolExecutor(
        num_workers, mp_context=multiprocessing.get_context('spawn')) as pool:
      paths = list(pool.map(_make_video, tasks, chunksize=8))

  paths_by_split: Dict[str, List[str]] = {split: [] for split in SPLITS}
  for task, path in zip(tasks, paths):
    paths_by_split[task[2]].append(path)
  return {
      'classes': list(CLASS_NAMES),
      'descriptions': [c.description for c in MOTION_CLASSES],
      'num_videos': {split: len(paths_by_split[split]) for split in SPLITS},
      'paths': {split: sorted(p) for split, p in paths_by_split.items()},
  }

