"""Decodes one video file into upright, resized JPEG frames with PyAV.

This module runs inside the converter's worker processes, which are kept free
of TensorFlow so that they start fast and a crashing decoder cannot take the
writer process down; it must only depend on PyAV, NumPy, Pillow and OpenCV.
"""

import dataclasses
import io
from typing import Iterable, Iterator, List, Optional, Tuple, TypeVar

import av
import numpy as np
from PIL import Image

from cvrl_tf.data_prep import optical_flow

_Item = TypeVar('_Item')

# Containers may round timestamps to milliseconds (Matroska, WebM), so an
# output time less than this before the end of the last source frame is taken
# to be at the end and gets no frame.
_END_TOLERANCE_SECONDS = 1e-3
# An output time midway between two source frames takes the earlier one, which
# is on display at that time; this absorbs float rounding of the midpoint.
_TIE_TOLERANCE_SECONDS = 1e-9
# ViCC and CoCLR store flow as JPEG at quality 100 (`extract_ff.py`).
_FLOW_JPEG_QUALITY = 100


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
  """How frames are sampled and stored.

  Attributes:
    fps: Output frame rate. None keeps every decoded source frame.
    min_resize: Length in pixels of the short side of the output frames, the
      aspect ratio being kept. 0 keeps the source resolution.
    jpeg_quality: JPEG quality of the stored frames, in [1, 100].
    flow: Optical flow method between consecutive stored frames, one of
      `optical_flow.FLOW_METHODS`, or None for no flow.
  """
  fps: Optional[float] = None
  min_resize: int = 256
  jpeg_quality: int = 90
  flow: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class DecodedVideo:
  """Frames of one video, ready to be written as a record.

  Attributes:
    frames: One JPEG-encoded RGB image per output frame.
    fps: Frame rate of `frames`: the requested output rate when resampling,
      else the source rate.
    source_fps: Frame rate of the source stream.
    flows: One JPEG flow image per consecutive pair of `frames` (flow i from
      frame i to frame i + 1); empty without flow.
  """
  frames: List[bytes]
  fps: float
  source_fps: float
  flows: List[bytes] = dataclasses.field(default_factory=list)


def resized_shape(height: int, width: int, min_resize: int) -> Tuple[int, int]:
  """Returns (height, width) scaled so the short side equals `min_resize`.

  Args:
    height: Source height in pixels.
    width: Source width in pixels.
    min_resize: Target short side; 0 keeps the source shape.

  Returns:
    The output (height, width), aspect ratio kept up to rounding.
  """
  if min_resize <= 0:
    return height, width
  if height <= width:
    return min_resize, max(1, round(width * min_resize / height))
  return max(1, round(height * min_resize / width)), min_resize


def quarter_turns_to_upright(frame_rotation: float, stream_metadata) -> int:
  """Counter-clockwise quarter turns that make a decoded frame upright.

  FFmpeg exposes a display matrix as a counter-clockwise rotation on each
  frame (`VideoFrame.rotation`). Files muxed by older tools may only carry a
  `rotate` tag instead, which is a clockwise angle.

  Args:
    frame_rotation: `VideoFrame.rotation` in degrees, counter-clockwise.
    stream_metadata: The stream's metadata mapping (tag names are matched
      case-insensitively, as Matroska upper-cases them).

  Returns:
    Number of counter-clockwise 90 degree turns, in [0, 3].
  """
  if frame_rotation:
    return round(frame_rotation / 90) % 4
  tags = {key.lower(): value for key, value in stream_metadata.items()}
  try:
    clockwise = float(tags.get('rotate', 0))
  except ValueError:
    return 0
  return round(-clockwise / 90) % 4


def rotate_upright(image: np.ndarray, quarter_turns: int) -> np.ndarray:
  """Rotates an [H, W, C] image counter-clockwise by `quarter_turns` x 90°."""
  if quarter_turns % 4 == 0:
    return image
  return np.ascontiguousarray(np.rot90(image, k=quarter_turns))


def resample_by_time(timed_items: Iterable[Tuple[float, _Item]], fps: float,
                     frame_duration: float) -> Iterator[_Item]:
  """Resamples a timed sequence to `fps` by nearest timestamp.

  Output times are t0 + k / fps for every k with an output time before the end
  of the last source item (its time plus `frame_duration`), t0 being the time
  of the first item. Each output time takes the source item nearest to it, so
  items are dropped when slowing down and repeated when speeding up; a tie
  goes to the earlier item.

  Args:
    timed_items: (time in seconds, item) pairs in presentation order.
    fps: Output rate in frames per second.
    frame_duration: Display duration in seconds of the last item.

  Yields:
    The selected items, in output order.
  """
  start = None
  index = 0
  previous = None
  for time, item in timed_items:
    if previous is None:
      start = time
    else:
      # The previous item is the nearest one up to the midpoint between them.
      boundary = (previous[0] + time) / 2 + _TIE_TOLERANCE_SECONDS
      while start + index / fps <= boundary:
        yield previous[1]
        index += 1
    previous = (time, item)
  if previous is None:
    return
  end = previous[0] + frame_duration - _END_TOLERANCE_SECONDS
  while start + index / fps < end:
    yield previous[1]
    index += 1


def encode_jpeg(image: np.ndarray, quality: int,
                subsampling: int = -1) -> bytes:
  """Encodes an [H, W, 3] uint8 RGB image as JPEG bytes.

  Args:
    image: The image.
    quality: JPEG quality in [1, 100].
    subsampling: Pillow's chroma subsampling: -1 its default, 0 for 4:4:4.
  """
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='JPEG', quality=quality,
                              subsampling=subsampling)
  return buffer.getvalue()


def encode_flow_jpeg(image: np.ndarray) -> bytes:
  """Encodes an [H, W, 3] uint8 flow image as records store it.

  Quality 100 as ViCC; 4:4:4, since subsampled chroma would average x and
  y over 2x2 pixels.
  """
  return encode_jpeg(image, _FLOW_JPEG_QUALITY, subsampling=0)


def _frame_to_rgb(frame: av.VideoFrame, quarter_turns: int,
                  min_resize: int) -> np.ndarray:
  """Converts a decoded frame to an upright resized [H, W, 3] uint8 array."""
  stored_height, stored_width = frame.height, frame.width
  sideways = quarter_turns % 2 == 1
  display_shape = ((stored_width, stored_height) if sideways else
                   (stored_height, stored_width))
  height, width = resized_shape(*display_shape, min_resize)
  # Resizing before rotating keeps the rotation a cheap array transpose.
  if sideways:
    height, width = width, height
  shrinking = height * width < stored_height * stored_width
  interpolation = 'AREA' if shrinking else 'BICUBIC'
  rgb = frame.reformat(width=width, height=height, format='rgb24',
                       interpolation=interpolation).to_ndarray()
  return rotate_upright(rgb, quarter_turns)


def _stream_frame_rate(stream: av.video.stream.VideoStream) -> float:
  """Returns the nominal frame rate of a video stream in frames per second."""
  rate = stream.average_rate or stream.guessed_rate or stream.base_rate
  if not rate:
    raise ValueError('video stream has no frame rate')
  return float(rate)


def _timed_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    frame_duration: float) -> Iterator[Tuple[float, av.VideoFrame]]:
  """Yields (presentation time in seconds, frame) for every decoded frame."""
  for index, frame in enumerate(container.decode(stream)):
    time = frame.time
    yield (index * frame_duration if time is None else time), frame


def decode_video(path: str, options: DecodeOptions) -> DecodedVideo:
  """Decodes the first video stream of a file into JPEG frames.

  Args:
    path: Local path of the video file.
    options: Sampling, resizing and encoding options.

  Returns:
    The decoded video.

  Raises:
    ValueError: The file has no video stream or no decodable frame.
    av.FFmpegError: The file cannot be opened or decoding fails, e.g. because
      it is truncated or not a video.
  """
  with av.open(path) as container:
    if not container.streams.video:
      raise ValueError('no video stream')
    stream = container.streams.video[0]
    stream.thread_type = 'AUTO'
    source_fps = _stream_frame_rate(stream)
    timed_frames = _timed_frames(container, stream, 1.0 / source_fps)
    if options.fps is None:
      frames = (frame for _, frame in timed_frames)
    else:
      frames = resample_by_time(timed_frames, options.fps, 1.0 / source_fps)
    jpegs, flow_jpegs = [], []
    flows = (optical_flow.FlowSequence(options.flow) if options.flow
             else None)
    previous_frame, previous_jpeg, rgb = None, None, None
    for frame in frames:
      repeated = frame is previous_frame
      # Upsampling repeats frames; encode each source frame only once.
      if not repeated:
        turns = quarter_turns_to_upright(frame.rotation, stream.metadata)
        rgb = _frame_to_rgb(frame, turns, options.min_resize)
        previous_frame = frame
        previous_jpeg = encode_jpeg(rgb, options.jpeg_quality)
      jpegs.append(previous_jpeg)
      if flows is not None:
        flow_image = flows.add(rgb, repeats_previous=repeated)
        if flow_image is not None:
          flow_jpegs.append(encode_flow_jpeg(flow_image))
  if not jpegs:
    raise ValueError('no decodable video frame')
  return DecodedVideo(
      frames=jpegs,
      fps=source_fps if options.fps is None else float(options.fps),
      source_fps=source_fps,
      flows=flow_jpegs)
