"""Optical flow between consecutive stored frames, encoded as JPEG images.

Runs inside the converter's worker processes next to `video_decoding`, so it
depends on OpenCV and NumPy only. The flow itself comes from OpenCV:
TV-L1 (`cv2.optflow.DualTVL1OpticalFlow_create`, OpenCV's contrib modules)
with OpenCV's default parameters, as ViCC's and CoCLR's `extract_ff.py` use
it (there through the OpenCV 3 name `cv2.DualTVL1OpticalFlow_create`), or
Farneback (`cv2.calcOpticalFlowFarneback`) with the parameters of OpenCV's
optical flow tutorial, which is much cheaper.

Flow is computed on the resized RGB frames before JPEG compression, converted
to grey with OpenCV's luma weights, in pixels of the stored frames. Each flow
is encoded as `record_layout` describes: x and y clipped to +-FLOW_BOUND and
mapped linearly to [0, 255] as ViCC does (`round((v + 20) * 255 / 40)`), the
third channel 128.
"""

from typing import Optional

import cv2
import numpy as np

from cvrl_tf.data_prep import record_layout

FLOW_METHODS = ('tvl1', 'farneback')

# OpenCV's optical flow tutorial (samples/python/tutorial_code/video/
# optical_flow/optical_flow_dense.py).
_FARNEBACK_PARAMS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3,
                         poly_n=5, poly_sigma=1.2, flags=0)


def method_unavailable(method: str) -> Optional[str]:
  """Why `method` cannot run with the installed OpenCV, or None if it can."""
  if method not in FLOW_METHODS:
    return (f'unknown flow method {method!r}; expected one of '
            f'{", ".join(FLOW_METHODS)}')
  # Not just `hasattr(cv2, 'optflow')`: when opencv-python-headless is
  # installed over the contrib package, contrib's `cv2/optflow/` stub folder
  # stays behind and imports as an empty namespace package.
  if method == 'tvl1' and not hasattr(getattr(cv2, 'optflow', None),
                                      'DualTVL1OpticalFlow_create'):
    return ('--flow=tvl1 needs OpenCV\'s contrib modules '
            f'(cv2.optflow.DualTVL1OpticalFlow_create), missing from the '
            f'OpenCV {cv2.__version__} at {cv2.__file__}; run `make '
            'opencv-contrib` (reinstalls opencv-contrib-python-headless at '
            'the version of opencv-python-headless)')
  return None


def flow_to_image(flow: np.ndarray) -> np.ndarray:
  """Encodes [H, W, 2] float flow (x, y) as an [H, W, 3] uint8 RGB image."""
  bound = record_layout.FLOW_BOUND
  scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2 * bound))
  image = np.full(flow.shape[:2] + (3,), record_layout.FLOW_FILL_VALUE,
                  np.uint8)
  image[..., :2] = np.round(scaled).astype(np.uint8)
  return image


def image_to_flow(image: np.ndarray) -> np.ndarray:
  """Decodes an [H, W, 3] uint8 flow image into [H, W, 2] float32 (x, y)."""
  bound = record_layout.FLOW_BOUND
  return (image[..., :2].astype(np.float32) * (2 * bound / 255.0) -
          bound).astype(np.float32)


class FlowEstimator:
  """Dense flow from one grey uint8 frame to the next, in pixels."""

  def __init__(self, method: str):
    problem = method_unavailable(method)
    if problem:
      raise ValueError(problem)
    # The converter runs one worker process per core; OpenCV's own threads
    # would oversubscribe them.
    cv2.setNumThreads(1)
    self._tvl1 = (cv2.optflow.DualTVL1OpticalFlow_create()
                  if method == 'tvl1' else None)

  def __call__(self, previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Returns [H, W, 2] float32 flow (x right, y down) of two [H, W] frames."""
    if self._tvl1 is not None:
      return self._tvl1.calc(previous, current, None)
    return cv2.calcOpticalFlowFarneback(previous, current, None,
                                        **_FARNEBACK_PARAMS)


class FlowSequence:
  """Turns the frames of a video, one after another, into flow images.

  Frame k (k >= 1) added gives the flow from frame k - 1 to frame k, so N
  frames give N - 1 flows, flow i going from frame i to frame i + 1.
  """

  def __init__(self, method: str):
    self._estimate = FlowEstimator(method)
    self._previous: Optional[np.ndarray] = None

  def add(self, rgb: np.ndarray,
          repeats_previous: bool = False) -> Optional[np.ndarray]:
    """Adds the next frame; returns the flow image into it, None for the first.

    Args:
      rgb: [H, W, 3] uint8 RGB frame as stored (resized, upright).
      repeats_previous: The frame is the previous one again (frame-rate
        upsampling): its flow is zero and is not estimated.

    Returns:
      [H, W, 3] uint8 flow image (see `flow_to_image`), or None.

    Raises:
      ValueError: The frame's size differs from the previous frame's.
    """
    if self._previous is None:
      self._previous = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
      return None
    if repeats_previous:
      return flow_to_image(
          np.zeros(self._previous.shape + (2,), np.float32))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if grey.shape != self._previous.shape:
      raise ValueError(
          f'frame size changed from {self._previous.shape[1]}x'
          f'{self._previous.shape[0]} to {grey.shape[1]}x{grey.shape[0]}; '
          'optical flow needs one size')
    flow = self._estimate(self._previous, grey)
    self._previous = grey
    return flow_to_image(flow)
