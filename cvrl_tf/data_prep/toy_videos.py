"""A small labeled video dataset whose classes differ only in their motion.

Every video shows one textured object on a static gradient background. The
object's appearance (shape, texture, colours, size, orientation) and
background come from a pool shared by all classes (by default a single
appearance, the same in every video), the start position and video length
(2-6 s) are random for every video; only the way the object moves depends
on the class. A single frame therefore says nothing
about the label, so a representation has to capture motion to classify these
videos, which is what CVRL pretraining is meant to learn.

With `vary`, every video also gets its own hue, saturation, brightness and
contrast, drawn separately for the object and the background, and its own
object scale (`toy_appearance.vary_appearance`): the per-video cues that
CVRL's colour jitter, grayscale and crops remove. They are drawn
independently of the class, so they identify a video without predicting
its label.

The classes are in `toy_motions`, the appearances in `toy_appearance`.

Videos are written as H.264 mp4 files (libx264, yuv420p) in a folder-per-class
tree:

  OUTPUT_DIR/classes.json
  OUTPUT_DIR/{train,test}/<class_name>/<class_name>_<index>.mp4

Each video is rendered from its own random generator seeded by (seed, split,
class, index), so the files do not depend on the number of worker processes
or on the order in which they run.
"""
import concurrent.futures
import functools
import json
import multiprocessing
import os
from typing import Dict, List, Optional, Sequence, Tuple

import av
import numpy as np

from cvrl_tf.data_prep import toy_appearance
from cvrl_tf.data_prep import toy_motions

SPLITS = ('train', 'test')
MIN_SECONDS = 2.0
MAX_SECONDS = 6.0
MIN_SIZE = 32
# Appearances shared by all classes; see `appearance_pool`. With one, the
# contrastive task cannot be solved by telling appearances apart, and the
# toy preset learns motion (docs/results/demo.md compares 1 and 4).
DEFAULT_NUM_APPEARANCES = 1


def _composite(appearance: toy_appearance.Appearance,
               pose: toy_motions.Pose) -> np.ndarray:
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
  half = int(np.ceil(toy_appearance.SHAPE_EXTENT * appearance.radius *
                     pose.scale.max())) + 2
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
  distance = toy_appearance.SHAPES[appearance.shape](u, v) * radius
  alpha = np.clip(0.5 - distance, 0.0, 1.0)[..., None]
  blend = toy_appearance.TEXTURES[appearance.texture](
      u, v, appearance.texture_frequency, appearance.texture_angle)[..., None]
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
                    size: int) -> Tuple[toy_appearance.Appearance, ...]:
  """The appearances (object and background) shared by all classes.

  Videos draw their appearance from this pool, independently of their class.
  A small pool means appearance cannot tell one video from most others in a
  batch, so contrastive learning has to use motion to tell them apart, as it
  must on real data where many videos share similar scenes; with a unique
  appearance per video, matching colours and shapes solves the pretext task
  and the learned features ignore motion.
  """
  return tuple(
      toy_appearance.sample_appearance(np.random.default_rng(
          np.random.SeedSequence(seed, spawn_key=(len(SPLITS), k))), size)
      for k in range(num_appearances))


def render_video(
    class_name: str, rng: np.random.Generator, size: int = 128, fps: int = 25,
    appearances: Optional[Sequence[toy_appearance.Appearance]] = None,
    vary: bool = False) -> np.ndarray:
  """Renders one random video of a motion class.

  Args:
    class_name: one of `toy_motions.CLASS_NAMES`.
    rng: random generator; the video is a deterministic function of its state.
    size: frame height and width in pixels, even and at least `MIN_SIZE`.
    fps: frame rate, which sets how far the object moves per frame.
    appearances: a pool to draw the appearance from (see `appearance_pool`);
      None draws a fresh appearance for this video.
    vary: give the video its own colours and object scale
      (`toy_appearance.vary_appearance`).

  Returns:
    uint8 [T, size, size, 3] RGB frames, with T / fps between `MIN_SECONDS`
    and `MAX_SECONDS`.
  """
  if size < MIN_SIZE or size % 2:
    raise ValueError(f'size must be even and >= {MIN_SIZE}, got {size}.')
  motion = toy_motions.MOTION_CLASSES[
      toy_motions.CLASS_NAMES.index(class_name)].motion
  num_frames = int(rng.integers(round(MIN_SECONDS * fps),
                                round(MAX_SECONDS * fps) + 1))
  if appearances:
    appearance = appearances[int(rng.integers(len(appearances)))]
  else:
    appearance = toy_appearance.sample_appearance(rng, size)
  if vary:
    appearance = toy_appearance.vary_appearance(appearance, rng)
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
      num_appearances, vary).

  Returns:
    The path of the written file.
  """
  (output_dir, seed, split, class_index, index, size, fps, pool_size,
   vary) = task
  class_name = toy_motions.CLASS_NAMES[class_index]
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
      pool's appearance (`toy_appearance.vary_appearance`; the paper's
      Table 4 shortcut).

  Returns:
    A dict with 'classes' (names in label order), 'descriptions' (one per
    class), 'num_videos' ({split: count}) and 'paths' ({split: sorted list of
    video paths}).
  """
  counts = {'train': train_per_class, 'test': test_per_class}
  for split in SPLITS:
    for class_name in toy_motions.CLASS_NAMES:
      os.makedirs(os.path.join(output_dir, split, class_name), exist_ok=True)
  with open(os.path.join(output_dir, 'classes.json'), 'w') as f:
    json.dump([{'name': c.name, 'description': c.description}
               for c in toy_motions.MOTION_CLASSES], f, indent=2)
    f.write('\n')

  tasks = [(output_dir, seed, split, class_index, index, size, fps,
            num_appearances, vary)
           for split in SPLITS
           for class_index in range(len(toy_motions.CLASS_NAMES))
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
      'classes': list(toy_motions.CLASS_NAMES),
      'descriptions': [c.description for c in toy_motions.MOTION_CLASSES],
      'num_videos': {split: len(paths_by_split[split]) for split in SPLITS},
      'paths': {split: sorted(p) for split, p in paths_by_split.items()},
  }

