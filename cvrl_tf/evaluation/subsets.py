"""Deterministic class-balanced subsets for semi-supervised fine-tuning.

CVRL (Table 3) fine-tunes on 1% and 10% of the labelled Kinetics-400 train
set. Each class keeps its videos with the smallest sha256(seed, id) hash, so
the subset depends only on the (id, label) pairs, the fraction and the seed:
not on input order, the Python hash seed or the NumPy version. Because the
per-class ranking ignores the fraction, a smaller fraction's subset is
contained in a larger one's for the same seed.
"""
import collections
import hashlib
import math
import os
from typing import Dict, List, Sequence

import tensorflow as tf


def _rank_key(seed: int, video_id: str) -> str:
  return hashlib.sha256(f'{seed}:{video_id}'.encode('utf-8')).hexdigest()


def subset_size(fraction: float, class_count: int) -> int:
  """round(fraction * class_count), halves rounding up, and at least 1."""
  return max(1, math.floor(fraction * class_count + 0.5))


def _group_by_class(video_ids: Sequence[str],
                    labels: Sequence[int]) -> Dict[int, List[str]]:
  if len(video_ids) != len(labels):
    raise ValueError(f'{len(video_ids)} ids but {len(labels)} labels.')
  if len(set(video_ids)) != len(video_ids):
    raise ValueError('video_ids contain duplicates.')
  by_class = collections.defaultdict(list)
  for video_id, label in zip(video_ids, labels):
    by_class[int(label)].append(video_id)
  return by_class


def select_subset(video_ids: Sequence[str], labels: Sequence[int],
                  fraction: float, seed: int) -> List[str]:
  """Picks `subset_size(fraction, n_c)` videos from each class c.

  Args:
    video_ids: [N] unique video ids.
    labels: [N] class of each video.
    fraction: in (0, 1].
    seed: selects which videos of each class are kept.

  Returns:
    Sorted list of the selected ids.
  """
  if not 0.0 < fraction <= 1.0:
    raise ValueError(f'fraction must be in (0, 1], got {fraction}.')
  selected = []
  for class_ids in _group_by_class(video_ids, labels).values():
    ranked = sorted(class_ids, key=lambda i: (_rank_key(seed, i), i))
    selected.extend(ranked[:subset_size(fraction, len(class_ids))])
  return sorted(selected)


def write_subset(path: str, ids: Sequence[str]) -> None:
  """Writes one id per line; any `tf.io.gfile` path (local, gs://, ram://)."""
  for video_id in ids:
    if not video_id or '\n' in video_id or video_id != video_id.strip():
      raise ValueError(f'Cannot store id {video_id!r} one per line.')
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  with tf.io.gfile.GFile(path, 'w') as f:
    f.write(''.join(f'{video_id}\n' for video_id in ids))

