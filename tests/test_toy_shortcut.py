"""The toy variant with per-video appearance has the Table 4 shortcut."""
import numpy as np
import pytest

from benchmarks import toy_shortcut
from cvrl_tf.data_prep import toy_videos


@pytest.fixture(scope='module')
def varied_videos(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('varied'))
  toy_videos.make_toy_dataset(root, train_per_class=6, test_per_class=4,
                              seed=1, size=32, num_workers=1, vary=True)
  return root


def test_histogram_counts_pixels_by_joint_rgb_bin():
  frames = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3),
                                             dtype=np.uint8)
  reference, _ = np.histogramdd(frames.reshape(-1, 3).astype(np.float64),
                                bins=[np.linspace(0, 256, toy_shortcut.BINS + 1)]
                                * 3)
  np.testing.assert_allclose(toy_shortcut._histogram(frames),
                             reference.reshape(-1) / (3 * 8 * 8), atol=1e-7)


def test_colour_histograms_identify_videos_but_not_their_class(varied_videos):
  result = toy_shortcut.measure(varied_videos)
  assert result['num_train_videos'] == 60
  assert result['identity_chance'] == pytest.approx(1 / 60)
  # Chance is 0.1; with 40 test videos 0.25 is 3 standard errors above.
  assert result['label_top1'] < 0.25
  # The first clip's colours name the video of its last clip.
  assert result['identity_top1'] > 0.5
