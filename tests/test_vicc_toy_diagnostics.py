"""The ViCC toy diagnostics' collapse measures, on cases known by hand."""
import math

import numpy as np

from benchmarks import vicc_toy_diagnostics as diagnostics


def unit_columns(matrix):
  return matrix / np.linalg.norm(matrix, axis=0, keepdims=True)


def test_collapsed_embeddings_get_uniform_codes_whatever_the_prototypes():
  rng = np.random.default_rng(0)
  prototypes = unit_columns(rng.normal(size=(16, 40)))
  same = unit_columns(rng.normal(size=(16, 1))).T
  measures = diagnostics.collapse_measures(
      np.repeat(same, 6, axis=0), prototypes, temperature=0.1, epsilon=0.05,
      iterations=3)
  np.testing.assert_allclose(measures['embedding_cosine'], 1.0, rtol=1e-6)
  # Equipartition over identical rows leaves each row uniform.
  np.testing.assert_allclose(measures['code_entropy'], math.log(40),
                             rtol=1e-5)
  assert measures['score_spread'] > 0.05
  assert measures['prediction_entropy'] < math.log(40) - 0.01


def test_prototypes_scoring_alike_give_uniform_predictions():
  rng = np.random.default_rng(1)
  embeddings = unit_columns(rng.normal(size=(16, 6))).T
  prototypes = np.repeat(unit_columns(rng.normal(size=(16, 1))), 40, axis=1)
  measures = diagnostics.collapse_measures(
      embeddings, prototypes, temperature=0.1, epsilon=0.05, iterations=3)
  np.testing.assert_allclose(measures['score_spread'], 0.0, atol=1e-7)
  np.testing.assert_allclose(measures['prediction_entropy'], math.log(40),
                             rtol=1e-6)
  cosines = embeddings @ embeddings.T
  expected = (cosines.sum() - 6) / 30
  np.testing.assert_allclose(measures['embedding_cosine'], expected,
                             rtol=1e-6)


def test_entropy_of_one_hot_and_uniform_rows():
  rows = np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
  np.testing.assert_allclose(diagnostics.entropy(rows), math.log(4) / 2)
