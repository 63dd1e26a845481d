"""The TCLR toy diagnostics' measures, against what they claim to measure."""
import numpy as np
import pytest
import tensorflow as tf

from benchmarks import tclr_toy_diagnostics as diagnostics
from cvrl_tf.losses import tclr as tclr_losses


def test_chance_levels_are_the_terms_when_all_candidates_tie():
  videos = 3
  same = tf.math.l2_normalize(tf.ones([128]))
  terms = tclr_losses.tclr_loss(
      tf.broadcast_to(same, [videos, 2, 128]),
      tf.broadcast_to(same, [videos, 2, 4, 128]),
      tf.broadcast_to(same, [videos, 2, 4, 128]))
  for term, level in diagnostics.chance_levels(videos).items():
    np.testing.assert_allclose(float(terms[term]), level, rtol=1e-5,
                               err_msg=term)


def test_feature_spread_counts_the_directions_that_vary():
  rng = np.random.default_rng(0)
  basis = np.linalg.qr(rng.normal(size=(16, 16)))[0]
  # 8 videos varying with equal variance along 3 orthogonal directions,
  # around a common offset.
  coefficients = np.zeros((8, 16))
  draws = rng.normal(size=(8, 3))
  # Orthonormal columns of zero mean: equal variance, uncorrelated.
  coefficients[:, :3] = np.linalg.qr(draws - draws.mean(axis=0))[0]
  features = 5.0 * basis[0] + coefficients @ basis.T
  spread = diagnostics.feature_spread(features)
  assert spread['effective_rank'] == pytest.approx(3.0, rel=1e-6)
  assert spread['top_component_share'] == pytest.approx(1 / 3, rel=1e-6)
  collapsed = diagnostics.feature_spread(
      np.outer(np.arange(1.0, 9.0), basis[1]) + 5.0 * basis[0])
  assert collapsed['effective_rank'] == pytest.approx(1.0)


@pytest.mark.parametrize('runs', ['150:batch', 'x:joint', '155:separate'])
def test_bad_runs_are_a_user_error(runs):
  with pytest.raises(SystemExit) as exit_info:
    diagnostics.main(['--work_dir=/nonexistent', f'--runs={runs}'])
  assert str(exit_info.value).startswith('error: ')


def test_runs_default_to_tclrs_clip_batches():
  assert diagnostics.parse_runs('150,450:joint') == [(150, 'separate'),
                                                     (450, 'joint')]
