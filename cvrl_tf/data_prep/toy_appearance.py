"""What a toy video looks like apart from its motion.

One textured object on a static gradient background. Shapes are signed
distance functions and textures blend the object's two colours, both of
object coordinates in units of the radius, so that `toy_videos` can draw
the object at any pose. Colours are drawn so that object, texture and
background stay distinguishable after grayscale conversion and colour
jitter.
"""
import dataclasses
from typing import Tuple

import numpy as np

# Object radius as a fraction of the frame size.
_RADIUS_RANGE = (0.09, 0.15)
# The farthest point of any shape from its centre, in radii: the square's
# corners at 0.85 * sqrt(2), plus a margin.
SHAPE_EXTENT = 1.25
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
class Appearance:
  """Everything about a video that does not depend on its class.

  Attributes:
    shape: index into `SHAPES`.
    texture: index into `TEXTURES`.
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


SHAPES = (_disk, _ellipse, _square, _cross, _triangle)


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


TEXTURES = (_stripes, _checks, _halves)


def _luma(colors: np.ndarray) -> np.ndarray:
  return colors @ _LUMA_WEIGHTS


def distinguishable(object_colors: np.ndarray,
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
    if distinguishable(colors[:2], _luma(colors[2:])):
      return colors[:2], colors[2:]


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


def sample_appearance(rng: np.random.Generator, size: int) -> Appearance:
  object_colors, background_colors = _sample_colors(rng)
  return Appearance(
      shape=int(rng.integers(len(SHAPES))),
      texture=int(rng.integers(len(TEXTURES))),
      texture_frequency=float(rng.uniform(2.0, 4.0)),
      texture_angle=float(rng.uniform(0.0, 2.0 * np.pi)),
      radius=float(rng.uniform(*_RADIUS_RANGE) * size),
      angle=float(rng.uniform(0.0, 2.0 * np.pi)),
      colors=object_colors,
      background=_background(rng, background_colors, size))


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

  These are the per-video cues that CVRL's colour jitter, grayscale and
  crops remove: the shortcut of the paper's Table 4, where two clips of one
  video share colours and lighting. Object and background get independent
  colour shifts, redrawn until the object stays distinguishable
  (`distinguishable`); after `_MAX_SHIFT_DRAWS` draws the colours stay as
  they are.

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
    if distinguishable(colors, np.array([background_luma.min(),
                                         background_luma.max()])):
      return dataclasses.replace(appearance, radius=radius, colors=colors,
                                 background=background)
  return dataclasses.replace(appearance, radius=radius)
