"""ViCC's swapped prototype prediction (Toering et al., WACV 2022, sec. 3).

Each view v of a video is scored against K prototypes, scores_v = z_v C
([n, K], z_v and the columns of C L2-normalised). Sinkhorn-Knopp turns the
scores of an assigned view into soft codes q_v that spread the batch evenly
over the prototypes, and every other view w of both streams predicts them:

  L = 1/|A| sum_{v in A} 1/(V-1) sum_{w != v}
        mean_i [ -sum_k q_v[i, k] log softmax(scores_w[i] / tau)_k ],

with A the assigned views (`views_for_assign`) and V the views of both
streams (`nmb_views`). This mirrors the authors' code (github.com/
martinetoering/ViCC, `src/model/pretrain.py`, `ViCC.forward` and
`ViCC2.forward`, `ViCC.distributed_sinkhorn`), itself SwAV's
(github.com/facebookresearch/swav, `main_swav.py`).

Replicas: ViCC runs one process per GPU; its Sinkhorn all-reduces the sums
over every GPU's batch and every GPU's queue, while each GPU keeps its own
queue of its own past embeddings. Here the sums run over the global batch
of all replicas (`tf.distribute` all-reduce in a replica context) and the
queue is one global queue (`modeling/embedding_queue.py`), the same rows on
every replica, counted once. The union of ViCC's per-GPU queues holds the
same embeddings as the global queue, and Sinkhorn does not depend on the
order of its rows, so the codes are those of ViCC up to rounding.
"""
from typing import Optional, Sequence

import tensorflow as tf


def _replica_context() -> Optional[tf.distribute.ReplicaContext]:
  """The replica context when several replicas share a step, else None."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return None
  return context


def _sum_over_replicas(value: tf.Tensor) -> tf.Tensor:
  context = _replica_context()
  if context is None:
    return value
  return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def _max_over_replicas(value: tf.Tensor) -> tf.Tensor:
  """Global maximum of a scalar (ReduceOp has no MAX: gather, then max)."""
  context = _replica_context()
  if context is None:
    return value
  return tf.reduce_max(context.all_gather(value[tf.newaxis], axis=0))


def sinkhorn_knopp(scores: tf.Tensor, epsilon: float = 0.05,
                   iterations: int = 3,
                   queue_scores: Optional[tf.Tensor] = None,
                   use_queue=True) -> tf.Tensor:
  """Soft codes of the batch: ViCC's `distributed_sinkhorn`, global batch.

  Q = exp(scores / epsilon)^T ([K, N] over all N rows: every replica's
  `scores` and the queue's) is scaled to total mass 1, then `iterations`
  times each prototype row is scaled to mass 1/K (its sum taken over all
  replicas) and each sample column to 1/N; finally each column is divided
  by its sum, so each returned row is a distribution over prototypes.

  Numerics: ViCC exponentiates scores / epsilon directly (its option
  `improve_numerical_stability`, off in every released script, subtracts
  the global maximum first). Here the global maximum is always subtracted:
  the first step divides by the total mass, so the result is the same in
  exact arithmetic, and exp cannot overflow whatever the scores' scale. For
  cosine scores every entry of exp then lies in [exp(-2 / epsilon), 1], so
  neither Q nor 1 / (row sum) can be infinite and ViCC's `shoot_infs`
  (replacing inf by the largest finite value) has nothing to do.

  Args:
    scores: [n, K] prototype scores of this replica's rows (one view).
    epsilon: entropy regularisation (ViCC `--epsilon 0.05`).
    iterations: Sinkhorn iterations (ViCC `--sinkhorn_iterations 3`).
    queue_scores: optional [L, K] scores of queued embeddings, the same
      rows on every replica; ViCC concatenates them before Sinkhorn and
      keeps only the batch's codes (`[-bs:]`).
    use_queue: bool scalar (may be a tensor); when False the queue rows
      carry no mass, as if absent (ViCC uses its queue only once full).

  Returns:
    [n, K] float32 codes of the rows of `scores`, without gradient.
  """
  scores = tf.stop_gradient(tf.cast(scores, tf.float32))
  local_max = tf.reduce_max(scores)
  queue_weight = tf.constant(0.0)
  if queue_scores is not None:
    queue_scores = tf.stop_gradient(tf.cast(queue_scores, tf.float32))
    queue_weight = tf.cast(use_queue, tf.float32)
    local_max = tf.maximum(
        local_max,
        tf.where(queue_weight > 0, tf.reduce_max(queue_scores), local_max))
  shift = _max_over_replicas(local_max)

  def exp_codes(rows):
    return tf.transpose(tf.exp((rows - shift) / epsilon))  # [K, rows]

  batch = exp_codes(scores)
  num_prototypes = tf.cast(tf.shape(batch)[0], tf.float32)
  num_samples = _sum_over_replicas(tf.cast(tf.shape(batch)[1], tf.float32))
  queue = tf.zeros_like(batch[:, :0])
  if queue_scores is not None:
    queue = exp_codes(queue_scores) * queue_weight
    num_samples += queue_weight * tf.cast(tf.shape(queue)[1], tf.float32)

  def prototype_sums(batch, queue):  # [K, 1], over all replicas and queue.
    return (_sum_over_replicas(tf.reduce_sum(batch, axis=1, keepdims=True)) +
            tf.reduce_sum(queue, axis=1, keepdims=True))

  total = tf.reduce_sum(prototype_sums(batch, queue))
  batch, queue = batch / total, queue / total
  row_mass = 1.0 / num_prototypes  # ViCC's r
  column_mass = 1.0 / num_samples  # ViCC's c
  for _ in range(iterations):
    row_scale = row_mass / prototype_sums(batch, queue)
    batch, queue = batch * row_scale, queue * row_scale
    batch *= column_mass / tf.reduce_sum(batch, axis=0, keepdims=True)
    # Masked queue columns are all zero: keep them zero.
    queue *= tf.math.divide_no_nan(
        column_mass, tf.reduce_sum(queue, axis=0, keepdims=True))
  return tf.transpose(batch / tf.reduce_sum(batch, axis=0, keepdims=True))


def swapped_prediction_loss(view_scores: Sequence[tf.Tensor],
                            assignments: Sequence[tf.Tensor],
                            assigned_views: Optional[Sequence[int]] = None,
                            temperature: float = 0.1) -> tf.Tensor:
  """Each assigned view's codes predicted from every other view.

  ViCC's loop (`ViCC2.forward`, "swap prediction problem"): for the a-th
  assigned view v, subloss = sum over the other views w of
  -mean_i sum_k q_v log softmax(scores_w / T), divided by V - 1; the
  sublosses are averaged over the assigned views.

  Args:
    view_scores: V tensors [n, K], the prototype scores of every view of
      both streams (ViCC `output_both`: the trained stream's views, then
      the frozen stream's).
    assignments: one [n, K] code tensor per assigned view, in the order of
      `assigned_views` (e.g. from `sinkhorn_knopp`).
    assigned_views: indices into `view_scores` of the views with codes
      (ViCC `--views_for_assign`: [0, 1] alone, [0, 1, 2, 3] across
      streams); default all views.
    temperature: tau (ViCC `--moco-t 0.1`).

  Returns:
    Float32 scalar, the mean over this replica's videos (its mean over
    replicas is the loss on the global batch).
  """
  num_views = len(view_scores)
  if assigned_views is None:
    assigned_views = range(num_views)
  assigned_views = list(assigned_views)
  if len(assigned_views) != len(assignments):
    raise ValueError(f'{len(assignments)} assignments for '
                     f'{len(assigned_views)} assigned views.')
  log_predictions = [
      tf.nn.log_softmax(tf.cast(scores, tf.float32) / temperature, axis=-1)
      for scores in view_scores]
  loss = 0.0
  for view, codes in zip(assigned_views, assignments):
    subloss = 0.0
    for other in range(num_views):
      if other != view:
        subloss -= tf.reduce_mean(
            tf.reduce_sum(codes * log_predictions[other], axis=-1))
    loss += subloss / (num_views - 1)
  return loss / len(assigned_views)


def vicc_loss(view_scores: Sequence[tf.Tensor],
              assigned_views: Optional[Sequence[int]] = None,
              queue_scores: Optional[Sequence[tf.Tensor]] = None,
              use_queue=False, epsilon: float = 0.05, iterations: int = 3,
              temperature: float = 0.1) -> tf.Tensor:
  """ViCC's loss of one step: codes per assigned view, swapped prediction.

  Args:
    view_scores: V tensors [n, K] (see `swapped_prediction_loss`).
    assigned_views: ViCC `--views_for_assign`; default all views.
    queue_scores: optional, one [L, K] tensor per assigned view: the scores
      of that view's queue (each view has its own queue in ViCC).
    use_queue: bool scalar, whether the queues take part (see
      `sinkhorn_knopp`).
    epsilon, iterations: Sinkhorn's.
    temperature: the prediction softmax's.

  Returns:
    Float32 scalar, as `swapped_prediction_loss`.
  """
  if assigned_views is None:
    assigned_views = range(len(view_scores))
  assigned_views = list(assigned_views)
  assignments = [
      sinkhorn_knopp(view_scores[view], epsilon, iterations,
                     queue_scores=(None if queue_scores is None
                                   else queue_scores[index]),
                     use_queue=use_queue)
      for index, view in enumerate(assigned_views)]
  return swapped_prediction_loss(view_scores, assignments, assigned_views,
                                 temperature)
