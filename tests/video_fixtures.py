"""Writes small synthetic video (and non-video) files for tests, with PyAV."""
import fractions
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import av
import numpy as np

Rate = Union[int, float, fractions.Fraction]


def moving_frames(num_frames: int, height: int, width: int,
                  seed: int = 0) -> np.ndarray:
  """Returns uint8 [T, H, W, 3] frames of a bright square crossing a backdrop.

  The top-left quadrant of the backdrop is red and the rest dark blue, so the
  orientation of a decoded frame can be checked.

  Args:
    num_frames: T.
    height: H.
    width: W.
    seed: Varies the square's colour and path.
  """
  rng = np.random.default_rng(seed)
  frames = np.zeros((num_frames, height, width, 3), np.uint8)
  frames[..., 2] = 96
  frames[:, :height // 2, :width // 2] = (220, 30, 30)
  side = max(2, min(height, width) // 4)
  colour = rng.integers(128, 256, size=3, dtype=np.uint8)
  top = int(rng.integers(0, height - side + 1))
  for t in range(num_frames):
    left = (int(rng.integers(0, width)) + t * 2) % (width - side + 1)
    frames[t, top:top + side, left:left + side] = colour
  return frames


def write_video(path: str,
                frames: np.ndarray,
                fps: Rate = 30,
                codec: str = 'libx264',
                pix_fmt: str = 'yuv420p',
                container_format: Optional[str] = None,
                codec_options: Optional[Mapping[str, str]] = None,
                stream_metadata: Optional[Mapping[str, str]] = None,
                rotation: Optional[float] = None) -> str:
  """Encodes uint8 [T, H, W, 3] RGB frames into a video file.

  Args:
    path: Output file; its extension picks the container unless
      `container_format` is given.
    frames: The frames.
    fps: Frame rate, e.g. `fractions.Fraction(30000, 1001)` for 29.97.
    codec: Encoder name from `av.codecs_available`.
    pix_fmt: Pixel format of the encoded stream (`yuvj420p` for mjpeg).
    container_format: FFmpeg muxer name, e.g. 'mov'.
    codec_options: Encoder options, e.g. {'crf': '30'}.
    stream_metadata: Tags of the video stream, e.g. {'rotate': '90'}.
    rotation: Display rotation in degrees counter-clockwise, stored as a
      display matrix.

  Returns:
    `path`.
  """
  rate = fractions.Fraction(fps).limit_denominator(100000)
  num_frames, height, width, _ = frames.shape
  with av.open(path, 'w', format=container_format) as container:
    stream = container.add_stream(codec, rate=rate,
                                  options=dict(codec_options or {}))
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.metadata.update(stream_metadata or {})
    if rotation is not None:
      stream.set_display_rotation(rotation)
    for t in range(num_frames):
      frame = av.VideoFrame.from_ndarray(frames[t], format='rgb24')
      container.mux(stream.encode(frame))
    container.mux(stream.encode())
  return path


def write_audio_only(path: str, seconds: float = 1.0,
                     sample_rate: int = 16000) -> str:
  """Writes an AAC file with a tone and no video stream; returns `path`."""
  with av.open(path, 'w') as container:
    stream = container.add_stream('aac', rate=sample_rate, layout='mono')
    samples_per_frame = 1024
    for start in range(0, int(seconds * sample_rate), samples_per_frame):
      t = (start + np.arange(samples_per_frame)) / sample_rate
      tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
      frame = av.AudioFrame.from_ndarray(tone, format='fltp', layout='mono')
      frame.sample_rate = sample_rate
      frame.pts = start
      container.mux(stream.encode(frame))
    container.mux(stream.encode())
  return path


def write_broken_files(directory: str, valid_mp4: str) -> Dict[str, str]:
  """Writes files that are not decodable videos.

  Args:
    directory: Where to write them.
    valid_mp4: A valid mp4 file, whose first half makes the truncated one.
      With the default muxer the index (moov atom) is at the end, so the
      truncated file cannot be opened.

  Returns:
    {kind: path} for kinds 'empty', 'truncated', 'random', 'text', 'audio'.
  """
  os.makedirs(directory, exist_ok=True)
  paths = {
      kind: os.path.join(directory, name) for kind, name in [
          ('empty', 'empty.mp4'), ('truncated', 'truncated.mp4'),
          ('random', 'random.avi'), ('text', 'notes.txt'),
          ('audio', 'audio_only.m4a')]
  }
  with open(paths['empty'], 'wb'):
    pass
  with open(valid_mp4, 'rb') as f:
    data = f.read()
  with open(paths['truncated'], 'wb') as f:
    f.write(data[:len(data) // 2])
  with open(paths['random'], 'wb') as f:
    f.write(np.random.default_rng(0).bytes(20000))
  with open(paths['text'], 'w') as f:
    f.write('path,label\nthis is not a video\n')
  write_audio_only(paths['audio'])
  return paths


def _smooth_texture(height: int, width: int, rng: np.random.Generator,
                    block: int = 3) -> np.ndarray:
  """Returns a [H, W] uint8 texture of blurred noise that flow can track."""
  coarse = rng.uniform(0, 255, (height // block + 2, width // block + 2))
  fine = np.kron(coarse, np.ones((block, block)))[:height, :width]
  # A 3x3 box filter twice: smooth enough for sub-pixel flow, still textured.
  for _ in range(2):
    padded = np.pad(fine, 1, mode='edge')
    fine = sum(padded[i:i + height, j:j + width]
               for i in range(3) for j in range(3)) / 9
  return fine.astype(np.uint8)


def translating_square_frames(
    displacements: Sequence[Tuple[int, int]], height: int, width: int,
    side: int, start: Tuple[int, int],
    seed: int = 0) -> Tuple[np.ndarray, List[Tuple[int, int]]]:
  """Frames of a textured square moving over a still textured backdrop.

  Args:
    displacements: (dx, dy) in pixels from each frame to the next, x to the
      right and y downwards; len + 1 frames are made.
    height: Frame height.
    width: Frame width.
    side: Side of the square.
    start: (x, y) of the square's top-left corner in the first frame.
    seed: Varies both textures.

  Returns:
    uint8 [T, H, W, 3] frames and the (x, y) top-left corner of the square
    in each frame.
  """
  rng = np.random.default_rng(seed)
  backdrop = _smooth_texture(height, width, rng) // 2
  square = 128 + _smooth_texture(side, side, rng) // 2
  corners = [tuple(start)]
  for dx, dy in displacements:
    corners.append((corners[-1][0] + dx, corners[-1][1] + dy))
  frames = np.repeat(backdrop[None], len(corners), axis=0)
  for t, (x, y) in enumerate(corners):
    frames[t, y:y + side, x:x + side] = square
  return np.repeat(frames[..., None], 3, axis=-1), corners


def write_size_changing_video(path: str, num_frames: int = 4) -> str:
  """Writes an MPEG-2 stream whose frame size changes halfway; returns path.

  Two elementary streams of different sizes, concatenated: decoders follow
  the second sequence header, as with streams recorded across a resolution
  switch.
  """
  parts = []
  for height, width in ((48, 64), (64, 96)):
    part = f'{path}.{width}x{height}'
    frames = moving_frames(num_frames, height, width)
    write_video(part, frames, fps=25, codec='mpeg2video',
                container_format='mpeg2video')
    with open(part, 'rb') as f:
      parts.append(f.read())
    os.remove(part)
  with open(path, 'wb') as f:
    f.write(b''.join(parts))
  return path
