"""ViCC's Sinkhorn-Knopp and swapped prediction against the authors' code.

The references (tests/vicc_reference.py) follow `src/model/pretrain.py` of
github.com/martinetoering/ViCC line by line, in float64.
"""
import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf.losses import vicc
import vicc_reference as ref

VIDEOS = 6
QUEUE = 12


def f32(x):
  return tf.constant(x, tf.float32)


@pytest.fixture(name='rng')
def fixture_rng():
  return np.random.default_rng(0)


def test_sinkhorn_matches_authors_loop(rng):
  scores = ref.cosine_scores(rng, VIDEOS)
  codes = vicc.sinkhorn_knopp(f32(scores), epsilon=0.05, iterations=3)
  np.testing.assert_allclose(codes.numpy(), ref.sinkhorn(scores), rtol=1e-4,
                             atol=1e-7)
  np.testing.assert_allclose(codes.numpy().sum(axis=1), 1.0, rtol=1e-5)


def test_sinkhorn_keeps_the_batch_rows_of_queue_and_batch(rng):
  """ViCC: `cat((queue @ prototypes, out))`, Sinkhorn, then `[-bs:]`."""
  scores = ref.cosine_scores(rng, VIDEOS)
  queue = ref.cosine_scores(rng, QUEUE)
  codes = vicc.sinkhorn_knopp(f32(scores), queue_scores=f32(queue),
                              use_queue=tf.constant(True))
  expected = ref.sinkhorn(np.concatenate([queue, scores]))[-VIDEOS:]
  np.testing.assert_allclose(codes.numpy(), expected, rtol=1e-4, atol=1e-7)
  # The queue changes the codes: it is not ignored.
  assert np.abs(expected - ref.sinkhorn(scores)).max() > 1e-3


def test_sinkhorn_without_the_queue_in_use_ignores_it(rng):
  scores = ref.cosine_scores(rng, VIDEOS)
  codes = vicc.sinkhorn_knopp(f32(scores),
                              queue_scores=f32(ref.cosine_scores(rng, QUEUE)),
                              use_queue=tf.constant(False))
  np.testing.assert_allclose(codes.numpy(), ref.sinkhorn(scores), rtol=1e-4,
                             atol=1e-7)


def test_sinkhorn_stays_finite_where_the_plain_exponential_overflows(rng):
  """Scores offset by 4: exp(score / 0.05) overflows float32 (> e^88)."""
  scores = ref.cosine_scores(rng, VIDEOS) + 4.0
  with np.errstate(over='ignore'):
    assert not np.isfinite(np.exp(scores.astype(np.float32) / 0.05)).all()
  codes = vicc.sinkhorn_knopp(f32(scores)).numpy()
  assert np.isfinite(codes).all()
  np.testing.assert_allclose(codes.sum(axis=1), 1.0, rtol=1e-5)
  # float64 holds e^100: the shift leaves the codes as they were.
  np.testing.assert_allclose(codes, ref.sinkhorn(scores), rtol=1e-4,
                             atol=1e-7)


@pytest.mark.parametrize('num_views,assigned', [(2, [0, 1]),
                                                (4, [0, 1, 2, 3])])
def test_swapped_prediction_matches_authors_loop(rng, num_views, assigned):
  """Single-stream ([2], views 0 1) and cross-stream ([2, 2], views 0-3)."""
  scores = [ref.cosine_scores(rng, VIDEOS) for _ in range(num_views)]
  codes = [ref.sinkhorn(scores[v]) for v in assigned]
  loss = vicc.swapped_prediction_loss([f32(s) for s in scores],
                                      [f32(q) for q in codes], assigned,
                                      temperature=0.1)
  np.testing.assert_allclose(
      loss.numpy(), ref.swapped_prediction(scores, codes, assigned),
      rtol=1e-5)


def test_vicc_loss_gradient_reaches_predictions_not_codes(rng):
  """d loss / d scores_w = sum over assigned v != w of
  (softmax(scores_w / T) - q_v) / (T n (V - 1) |A|): codes are constants."""
  scores = [ref.cosine_scores(rng, VIDEOS) for _ in range(4)]
  queues = [ref.cosine_scores(rng, QUEUE) for _ in range(4)]
  variables = [tf.Variable(f32(s)) for s in scores]
  with tf.GradientTape() as tape:
    loss = vicc.vicc_loss(variables, queue_scores=[f32(q) for q in queues],
                          use_queue=True)
  gradients = tape.gradient(loss, variables)
  codes = [ref.sinkhorn(np.concatenate([q, s]))[-VIDEOS:]
           for q, s in zip(queues, scores)]
  np.testing.assert_allclose(
      loss.numpy(), ref.swapped_prediction(scores, codes, range(4)),
      rtol=1e-5)
  for w in range(4):
    p = np.exp(ref.log_softmax(scores[w] / 0.1))
    expected = sum(p - codes[v] for v in range(4) if v != w) / (
        0.1 * VIDEOS * 3 * 4)
    np.testing.assert_allclose(gradients[w].numpy(), expected, rtol=1e-4,
                               atol=1e-7)


def test_swapped_prediction_needs_one_code_per_assigned_view(rng):
  scores = [f32(ref.cosine_scores(rng, VIDEOS)) for _ in range(2)]
  with pytest.raises(ValueError, match='1 assignments for 2 assigned views'):
    vicc.swapped_prediction_loss(scores, scores[:1], [0, 1])
