r"""Whether a toy dataset has the shortcut of the CVRL paper's Table 4.

Two clips of one Kinetics video share colours and lighting, so a
contrastive task can tell videos apart without reading motion; that is the
shortcut spatial augmentation blocks. On the decoded videos of a toy
dataset (`make_toy_videos`), this measures, from per-video colour
histograms (RGB, `BINS` levels per channel):

- label: a linear probe trained on the training videos' histograms and
  tested on the test videos'. At chance, appearance does not predict the
  class;
- identity: two clips of every video, its first and last `CLIP_FRAMES`
  frames (the span of a toy clip: 8 frames at stride 2). A linear probe
  with one class per video learns the first clips' histograms and names
  the video of each last clip. Far above chance (1 / videos), appearance
  identifies a video, which is the shortcut.

  python -m benchmarks.toy_shortcut \
      --video_dirs=varied=/tmp/toy_varied,default=/tmp/toy \
      --output_dir=docs/results
"""
import argparse
import glob
import json
import os
import sys
from typing import Dict, Optional, Sequence, Tuple

import av
import numpy as np
import tensorflow as tf

from cvrl_tf.evaluation import linear_probe
from cvrl_tf.evaluation import protocols

BINS = 4
CLIP_FRAMES = 16


def _histogram(frames: np.ndarray) -> np.ndarray:
  """uint8 [T, H, W, 3] -> float32 [BINS ** 3], the pixels' joint RGB
  histogram as fractions."""
  levels = frames.astype(np.int64) * BINS // 256
  index = (levels[..., 0] * BINS + levels[..., 1]) * BINS + levels[..., 2]
  counts = np.bincount(index.reshape(-1), minlength=BINS ** 3)
  return (counts / index.size).astype(np.float32)


def video_histograms(path: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(whole video, first clip, last clip) histograms of one video file."""
  with av.open(path) as container:
    frames = np.stack([f.to_ndarray(format='rgb24')
                       for f in container.decode(video=0)])
  return (_histogram(frames), _histogram(frames[:CLIP_FRAMES]),
          _histogram(frames[-CLIP_FRAMES:]))


def split_histograms(video_dir: str, split: str):
  """Labels [N] and (whole, first, last) histograms [N, BINS ** 3]."""
  class_dirs = sorted(d for d in tf.io.gfile.listdir(
      os.path.join(video_dir, split)))
  labels, histograms = [], []
  for label, class_dir in enumerate(class_dirs):
    for path in sorted(glob.glob(os.path.join(video_dir, split,
                                              class_dir.rstrip('/'),
                                              '*.mp4'))):
      labels.append(label)
      histograms.append(video_histograms(path))
  return np.array(labels), [np.stack(h) for h in zip(*histograms)]


def probe_accuracy(train_features: np.ndarray, train_labels: np.ndarray,
                   test_features: np.ndarray, test_labels: np.ndarray,
                   num_classes: int) -> float:
  """Top-1 of a linear probe on z-scored features (`protocols`' recipe)."""
  train_features, test_features = protocols.standardize(train_features,
                                                        test_features)
  classifier = linear_probe.train_linear_classifier(
      train_features, train_labels, num_classes, learning_rate=0.1)
  return linear_probe.evaluate_classifier(classifier, test_features,
                                          test_labels)['top1']


def measure(video_dir: str) -> Dict[str, float]:
  """Label and identity accuracy of colour-histogram probes, with chance.

  Returns:
    {'label_top1', 'label_chance', 'identity_top1', 'identity_chance',
    'num_train_videos', 'num_test_videos'}.
  """
  train_labels, (train_whole, first, last) = split_histograms(video_dir,
                                                              'train')
  test_labels, (test_whole, _, _) = split_histograms(video_dir, 'test')
  num_classes = int(train_labels.max()) + 1
  videos = np.arange(len(train_labels))
  return {
      'label_top1': probe_accuracy(train_whole, train_labels, test_whole,
                                   test_labels, num_classes),
      'label_chance': 1.0 / num_classes,
      'identity_top1': probe_accuracy(first, videos, last, videos,
                                      len(videos)),
      'identity_chance': 1.0 / len(videos),
      'num_train_videos': len(train_labels),
      'num_test_videos': len(test_labels),
  }


def plot(results: Dict[str, Dict[str, float]], path: str) -> None:
  """Label and identity accuracy per dataset, against chance (PNG)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  names = list(results)
  figure, axes = pyplot.subplots(1, 2, figsize=(8, 3.5))
  for axis, (key, title) in zip(axes, (
      ('label', 'class from whole-video histogram'),
      ('identity', 'video from a clip\'s histogram'))):
    positions = np.arange(len(names))
    axis.bar(positions, [100 * results[n][f'{key}_top1'] for n in names],
             width=0.5, label='linear probe')
    axis.scatter(positions, [100 * results[n][f'{key}_chance']
                             for n in names], color='black', marker='_',
                 s=600, label='chance', zorder=3)
    axis.set_xticks(positions)
    axis.set_xticklabels(names)
    axis.set_ylim(0, 100)
    axis.set_title(title, fontsize=10)
    axis.set_ylabel('top-1 (%)')
  axes[0].legend(fontsize=8)
  figure.tight_layout()
  tf.io.gfile.makedirs(os.path.dirname(path) or '.')
  with tf.io.gfile.GFile(path, 'wb') as f:
    figure.savefig(f, format='png', dpi=120)
  pyplot.close(figure)


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--video_dirs', required=True,
                      help='NAME=DIR,... toy dataset trees to measure.')
  parser.add_argument('--output_dir', default='docs/results')
  args = parser.parse_args(argv)
  try:
    datasets = dict(item.split('=', 1) for item in args.video_dirs.split(','))
  except ValueError:
    sys.exit(f'error: --video_dirs wants NAME=DIR,..., got '
             f'{args.video_dirs!r}.')
  results = {name: measure(video_dir) for name, video_dir in datasets.items()}
  tf.io.gfile.makedirs(args.output_dir)
  with tf.io.gfile.GFile(os.path.join(args.output_dir, 'toy_shortcut.json'),
                         'w') as f:
    json.dump({'results': results, 'bins': BINS, 'clip_frames': CLIP_FRAMES,
               'command': 'python -m benchmarks.toy_shortcut ' + ' '.join(
                   argv if argv is not None else sys.argv[1:])}, f, indent=2)
  plot(results, os.path.join(args.output_dir, 'toy_shortcut.png'))
  for name, result in results.items():
    print(name, {k: round(v, 3) for k, v in result.items()})


if __name__ == '__main__':
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  main()
