r"""CPU time per frame of the converter's optical flow, and what it means for
Kinetics-400.

Frames are the size the converter stores by default (`--min_resize=256`):
256 x 455 for Kinetics' usual 16:9 sources (`--width` to change). Each
repetition runs one method over a sequence of consecutive frames, exactly as
the converter's workers do (`optical_flow.FlowSequence`: grey conversion,
flow, clipping and mapping to uint8) plus the JPEG encoding at quality 100,
in this process on one OpenCV thread, and divides the process CPU time by
the number of flows. The frames are a smooth texture with a square moving a
few pixels per frame over it, so TV-L1's stopping test sees real motion.

  python -m benchmarks.flow_cost --output_json=/tmp/flow_cost.json
"""
import argparse
import json
import statistics
import time
from typing import Dict, List

import cv2
import numpy as np

from benchmarks import input_pipeline
from cvrl_tf.data_prep import optical_flow
from cvrl_tf.data_prep import video_decoding

# Kinetics-400 at the converter's usual settings: ~240k training videos of
# ~10 s stored at 25 fps.
KINETICS_VIDEOS = 240_000
KINETICS_SECONDS = 10
KINETICS_FPS = 25


def moving_frames(num_frames: int, height: int, width: int,
                  seed: int = 0) -> np.ndarray:
  """uint8 [T, H, W, 3]: a square of texture moving over a still texture."""
  rng = np.random.default_rng(seed)

  def texture(h, w):
    coarse = rng.uniform(0, 255, (h // 8 + 1, w // 8 + 1)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)

  backdrop = texture(height, width) * 0.5
  side = height // 3
  square = 128 + texture(side, side) * 0.5
  frames = np.repeat(backdrop[None], num_frames, axis=0)
  for t in range(num_frames):
    x, y = width // 4 + 3 * t, height // 3 + t
    frames[t, y:y + side, x:x + side] = square
  rgb = np.clip(frames, 0, 255).astype(np.uint8)
  return np.repeat(rgb[..., None], 3, axis=-1)


def cpu_seconds_per_flow(method: str, frames: np.ndarray) -> float:
  """Process CPU seconds per flow image of `frames`, JPEG encoding included."""
  sequence = optical_flow.FlowSequence(method)
  start = time.process_time()
  for frame in frames:
    image = sequence.add(frame)
    if image is not None:
      video_decoding.encode_jpeg(image, 100, subsampling=0)
  return (time.process_time() - start) / (len(frames) - 1)


def kinetics_cost(seconds_per_frame: float) -> Dict[str, float]:
  """CPU time of one method over Kinetics-400's training set."""
  frames = KINETICS_VIDEOS * KINETICS_SECONDS * KINETICS_FPS
  core_hours = frames * seconds_per_frame / 3600
  return {'frames': frames, 'cpu_core_hours': core_hours,
          'days_on_32_cores': core_hours / 32 / 24}


def run(methods: List[str], height: int, width: int, frames_per_rep: int,
        repetitions: int) -> dict:
  frames = moving_frames(frames_per_rep + 1, height, width)
  results = {}
  for method in methods:
    samples = [cpu_seconds_per_flow(method, frames)
               for _ in range(repetitions)]
    median = statistics.median(samples)
    results[method] = {
        'cpu_ms_per_frame_median': median * 1e3,
        'cpu_ms_per_frame_samples': [s * 1e3 for s in samples],
        'kinetics400': kinetics_cost(median),
    }
  return {
      'frame_shape': [height, width],
      'frames_per_repetition': frames_per_rep,
      'repetitions': repetitions,
      'opencv': cv2.__version__,
      'opencv_threads': cv2.getNumThreads(),
      **input_pipeline.environment(),
      'methods': results,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--methods', nargs='+', default=['farneback', 'tvl1'],
                      choices=optical_flow.FLOW_METHODS)
  parser.add_argument('--height', type=int, default=256)
  parser.add_argument('--width', type=int, default=455)
  parser.add_argument('--frames_per_rep', type=int, default=8)
  parser.add_argument('--repetitions', type=int, default=5)
  parser.add_argument('--output_json', default=None)
  args = parser.parse_args()
  for method in args.methods:
    problem = optical_flow.method_unavailable(method)
    if problem:
      parser.exit(1, f'error: {problem}\n')
  wall_start = time.monotonic()
  result = run(args.methods, args.height, args.width, args.frames_per_rep,
               args.repetitions)
  result['wall_seconds'] = time.monotonic() - wall_start
  print(json.dumps(result, indent=1))
  input_pipeline.write_json(args.output_json, result)


if __name__ == '__main__':
  main()
