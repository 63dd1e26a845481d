"""The classes of the toy dataset: how the object moves.

The classes are motion types and speed ranges, never directions: CVRL's
horizontal flip would turn "moves left" into "moves right" and clockwise into
counter-clockwise, so each class contains both mirror images. Every motion is
continuous over the whole video and periodic motions repeat within ~1.4 s, so
any clip of 8-16 frames at stride 2 shows it. Speeds, distances and sizes are
fractions of the frame size, so a dataset rendered at another size is the same
dataset at another resolution.
"""
import dataclasses
from typing import Callable, Tuple

import numpy as np

from cvrl_tf.data_prep import toy_appearance


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
  margin = toy_appearance.SHAPE_EXTENT * radius
  return _pose(t.size, _position(rng, size, margin),
               _position(rng, size, margin))


def _slide(rng, t, size, radius, speed_range, vertical) -> Pose:
  """Constant velocity along one axis, wrapping around the frame."""
  speed = _direction(rng) * rng.uniform(*speed_range) * size
  along = rng.uniform(0.0, size) + speed * t
  across = _position(rng, size, toy_appearance.SHAPE_EXTENT * radius)
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
  margin = orbit_radius + toy_appearance.SHAPE_EXTENT * radius
  cx, cy = _position(rng, size, margin), _position(rng, size, margin)
  phase = rng.uniform(0.0, 2.0 * np.pi)
  omega = _direction(rng) * 2.0 * np.pi / rng.uniform(1.2, 2.0)
  return _pose(t.size, cx + orbit_radius * np.cos(phase + omega * t),
               cy + orbit_radius * np.sin(phase + omega * t))


def _spin(rng, t, size, radius) -> Pose:
  margin = toy_appearance.SHAPE_EXTENT * radius
  omega = _direction(rng) * 2.0 * np.pi * rng.uniform(0.5, 1.0)
  return _pose(t.size, _position(rng, size, margin),
               _position(rng, size, margin), angle=omega * t)


def _pulse(rng, t, size, radius) -> Pose:
  amplitude = rng.uniform(0.3, 0.45)
  margin = toy_appearance.SHAPE_EXTENT * radius * (1.0 + amplitude)
  phase = rng.uniform(0.0, 2.0 * np.pi)
  frequency = 1.0 / rng.uniform(0.8, 1.4)
  return _pose(t.size, _position(rng, size, margin),
               _position(rng, size, margin),
               scale=1.0 + amplitude * np.sin(2.0 * np.pi * frequency * t +
                                              phase))


def _bounce(rng, t, size, radius) -> Pose:
  """A ball under gravity bouncing elastically on an invisible floor."""
  margin = toy_appearance.SHAPE_EXTENT * radius
  height = rng.uniform(0.25, 0.4) * size
  floor = rng.uniform(height + margin, size - margin)
  period = rng.uniform(0.7, 1.1)
  air = np.mod(t / period + rng.uniform(0.0, 1.0), 1.0)
  return _pose(t.size, _position(rng, size, margin),
               floor - 4.0 * height * air * (1.0 - air))


def _swing(rng, t, size, radius) -> Pose:
  amplitude = rng.uniform(0.12, 0.22) * size
  margin = toy_appearance.SHAPE_EXTENT * radius
  x0 = _position(rng, size, margin + amplitude)
  y0 = _position(rng, size, margin)
  phase = rng.uniform(0.0, 2.0 * np.pi)
  frequency = 1.0 / rng.uniform(0.8, 1.4)
  return _pose(t.size, x0 + amplitude * np.sin(2.0 * np.pi * frequency * t +
                                               phase), y0)


def _shake(rng, t, size, radius) -> Pose:
  """Independent random displacements every frame, at any frame stride."""
  sigma = 0.035 * size
  margin = toy_appearance.SHAPE_EXTENT * radius + 2.5 * sigma
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
