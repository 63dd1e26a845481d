"""Class-balanced, deterministic, nested subset selection and its files."""
import collections
import math
import uuid

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf.evaluation import subsets


def make_dataset(seed=0, num_classes=12):
  rng = np.random.default_rng(seed)
  counts = rng.integers(1, 160, size=num_classes)
  ids, labels = [], []
  for label, count in enumerate(counts):
    for i in range(count):
      ids.append(f'video_{label:03d}_{i:04d}')
      labels.append(label)
  return ids, labels


def test_deterministic():
  ids, labels = make_dataset()
  assert (subsets.select_subset(ids, labels, 0.1, seed=7) ==
          subsets.select_subset(ids, labels, 0.1, seed=7))


def test_independent_of_input_order():
  ids, labels = make_dataset()
  order = np.random.default_rng(1).permutation(len(ids))
  shuffled_ids = [ids[i] for i in order]
  shuffled_labels = [labels[i] for i in order]
  assert (subsets.select_subset(ids, labels, 0.1, seed=3) ==
          subsets.select_subset(shuffled_ids, shuffled_labels, 0.1, seed=3))


@pytest.mark.parametrize('fraction', [0.01, 0.1, 0.5, 1.0])
def test_class_balanced(fraction):
  ids, labels = make_dataset()
  label_of = dict(zip(ids, labels))
  selected = subsets.select_subset(ids, labels, fraction, seed=0)
  assert len(set(selected)) == len(selected)
  selected_counts = collections.Counter(label_of[i] for i in selected)
  for label, count in collections.Counter(labels).items():
    expected = max(1, math.floor(fraction * count + 0.5))
    assert selected_counts[label] == expected


def test_seeds_differ():
  ids, labels = make_dataset()
  assert (subsets.select_subset(ids, labels, 0.1, seed=0) !=
          subsets.select_subset(ids, labels, 0.1, seed=1))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_nested(seed):
  ids, labels = make_dataset()
  one = set(subsets.select_subset(ids, labels, 0.01, seed))
  ten = set(subsets.select_subset(ids, labels, 0.1, seed))
  half = set(subsets.select_subset(ids, labels, 0.5, seed))
  assert one <= ten <= half


def test_rejects_bad_inputs():
  with pytest.raises(ValueError):
    subsets.select_subset(['a', 'b'], [0], 0.5, seed=0)
  with pytest.raises(ValueError):
    subsets.select_subset(['a', 'a'], [0, 1], 0.5, seed=0)
  with pytest.raises(ValueError):
    subsets.select_subset(['a'], [0], 0.0, seed=0)


@pytest.mark.parametrize('use_ram', [False, True])
def test_file_round_trip(tmp_path, use_ram):
  ids, labels = make_dataset()
  selected = subsets.select_subset(ids, labels, 0.1, seed=0)
  root = f'ram://{uuid.uuid4().hex}' if use_ram else str(tmp_path)
  path = f'{root}/splits/subset_10pct.txt'
  subsets.write_subset(path, selected)
  with tf.io.gfile.GFile(path) as f:
    assert f.read().splitlines() == selected


def test_write_rejects_ids_that_break_lines(tmp_path):
  with pytest.raises(ValueError):
    subsets.write_subset(str(tmp_path / 'x.txt'), ['a\nb'])
