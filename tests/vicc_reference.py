"""NumPy references for ViCC's loss, written from the authors' code.

github.com/martinetoering/ViCC, `src/model/pretrain.py`: `ViCC2.forward`
(queue, codes, swapped prediction) and `ViCC.distributed_sinkhorn` with
`shoot_infs`, run here for a list of GPUs whose all-reduces are sums over
the list. Float64 throughout, no max shift (the authors' default
`--improve_numerical_stability false`).
"""
import numpy as np

DIM = 8
PROTOTYPES = 5


def normalised(rng, *shape):
  x = rng.normal(size=shape + (DIM,))
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def cosine_scores(rng, rows, prototypes=None):
  """[rows, K] scores of L2-normalised embeddings and prototypes."""
  if prototypes is None:
    prototypes = normalised(np.random.default_rng(7), PROTOTYPES)
  return normalised(rng, rows) @ prototypes.T


def shoot_infs(x):
  """`ViCC.shoot_infs`: infinities become the largest finite entry."""
  x = x.copy()
  infinite = np.isinf(x)
  if infinite.any():
    x[infinite] = 0
    x[infinite] = x.max()
  return x


def distributed_sinkhorn(outs, epsilon=0.05, iterations=3):
  """Codes of every GPU's rows; `outs[g]` is GPU g's [rows, K] scores.

  Every GPU holds the same number of rows (ViCC's batches and per-GPU
  queues); `dist.all_reduce` sums over the GPUs.
  """
  qs = [shoot_infs(np.exp(np.asarray(out, np.float64) / epsilon).T)
        for out in outs]
  world_size = len(qs)
  total = sum(q.sum() for q in qs)
  qs = [q / total for q in qs]
  r = np.ones(qs[0].shape[0]) / qs[0].shape[0]
  c = np.ones(qs[0].shape[1]) / (world_size * qs[0].shape[1])
  for _ in range(iterations):
    u = sum(q.sum(axis=1) for q in qs)
    u = shoot_infs(r / u)
    qs = [q * u[:, None] for q in qs]
    qs = [q * (c / q.sum(axis=0))[None, :] for q in qs]
  return [(q / q.sum(axis=0, keepdims=True)).T for q in qs]


def sinkhorn(out, epsilon=0.05, iterations=3):
  """One GPU's `distributed_sinkhorn`."""
  return distributed_sinkhorn([out], epsilon, iterations)[0]


def log_softmax(x):
  x = x - x.max(axis=-1, keepdims=True)
  return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def swapped_prediction(output_both, codes, views_for_assign, temperature=0.1):
  """ViCC's loop: codes of each assigned view against every other view."""
  num_views = len(output_both)
  loss = 0.0
  for crop_id, q in zip(views_for_assign, codes):
    subloss = 0.0
    for v in np.delete(np.arange(num_views), crop_id):
      p = log_softmax(np.asarray(output_both[v], np.float64) / temperature)
      subloss -= np.mean(np.sum(q * p, axis=1))
    loss += subloss / (num_views - 1)
  return loss / len(views_for_assign)
