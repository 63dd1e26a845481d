"""Multi-view averaging, per-video aggregation and top-k accuracy."""
import numpy as np
import pytest

from cvrl_tf.evaluation import multiview


def test_average_views_flat_layout_matches_loop():
  rng = np.random.default_rng(0)
  num_videos, num_views, num_classes = 4, 6, 7
  logits = rng.normal(size=[num_videos * num_views, num_classes])
  expected = np.zeros([num_videos, num_classes])
  for b in range(num_videos):
    for v in range(num_views):
      expected[b] += logits[b * num_views + v] / num_views
  result = multiview.average_views(logits.astype(np.float32), num_views)
  np.testing.assert_allclose(result.numpy(), expected, atol=1e-6)


def test_average_views_accepts_3d_layout():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=[3, 5, 4]).astype(np.float32)
  flat = multiview.average_views(logits.reshape(15, 4), 5)
  np.testing.assert_allclose(
      multiview.average_views(logits, 5).numpy(), flat.numpy(), atol=1e-6)


def test_average_views_rejects_bad_shapes():
  with pytest.raises(ValueError):
    multiview.average_views(np.zeros([7, 3], np.float32), 2)
  with pytest.raises(ValueError):
    multiview.average_views(np.zeros([2, 3, 4], np.float32), 2)


def test_aggregate_by_video_matches_loop_for_shuffled_string_ids():
  rng = np.random.default_rng(2)
  video_index = np.array(['b', 'a', 'c', 'a', 'b', 'a', 'c'])
  values = rng.normal(size=[7, 3])
  video_ids, means = multiview.aggregate_by_video(values, video_index)
  assert list(video_ids) == ['a', 'b', 'c']
  for video_id, mean in zip(video_ids, means):
    rows = [values[i] for i in range(7) if video_index[i] == video_id]
    np.testing.assert_allclose(mean, sum(rows) / len(rows), atol=1e-6)


def reference_topk(logits, labels, k):
  correct = 0
  for row, label in zip(logits, labels):
    # Best first; ties in favour of the lower class index.
    order = sorted(range(len(row)), key=lambda c: (-row[c], c))
    correct += label in order[:k]
  return correct / len(labels)


@pytest.mark.parametrize('one_hot', [False, True])
def test_topk_accuracy_matches_loop(one_hot):
  rng = np.random.default_rng(3)
  num_classes = 10
  # Rounding creates ties, which both sides must break the same way.
  logits = np.round(rng.normal(size=[200, num_classes]), 1)
  labels = rng.integers(0, num_classes, size=200)
  given = np.eye(num_classes)[labels] if one_hot else labels
  result = multiview.topk_accuracy(logits, given, ks=(1, 3, 5))
  for k in (1, 3, 5):
    assert result[f'top{k}'] == pytest.approx(reference_topk(logits, labels, k))
  assert result['top1'] <= result['top3'] <= result['top5']


def test_topk_accuracy_ties_do_not_count_for_higher_classes():
  logits = np.array([[1.0, 1.0, 0.0]])
  assert multiview.topk_accuracy(logits, [0], ks=(1,))['top1'] == 1.0
  assert multiview.topk_accuracy(logits, [1], ks=(1,))['top1'] == 0.0
  assert multiview.topk_accuracy(logits, [2], ks=(5,))['top5'] == 1.0
