"""ViCC's prototypes layer and queues against the authors' code.

References: github.com/martinetoering/ViCC, `src/main_single.py`
(`train_one_epoch`: normalise the prototypes, drop their gradient while
frozen; `main_worker`: the queue made at `epoch_queue_starts`) and
`src/model/pretrain.py` `ViCC2.forward` (use the queue once full, then push
newest first).
"""
import numpy as np
import tensorflow as tf
import tf_keras

from cvrl_tf.modeling import embedding_queue
from cvrl_tf.modeling.prototypes import Prototypes
import vicc_reference as ref

BATCH = 2
LENGTH = 6


def test_prototypes_score_and_normalise():
  rng = np.random.default_rng(0)
  embeddings = ref.normalised(rng, 4)
  layer = Prototypes(ref.PROTOTYPES)
  scores = layer(tf.constant(embeddings, tf.float32))
  kernel = layer.kernel.numpy()
  assert kernel.shape == (ref.DIM, ref.PROTOTYPES)
  assert layer.trainable_weights == [layer.kernel]
  np.testing.assert_allclose(scores.numpy(), embeddings @ kernel, rtol=1e-5)
  layer.normalize()
  # torch `normalize(weight[K, D], dim=1)`: each prototype, here a column.
  np.testing.assert_allclose(layer.kernel.numpy(),
                             kernel / np.linalg.norm(kernel, axis=0),
                             rtol=1e-5)
  scores = layer(tf.constant(embeddings, tf.float32)).numpy()
  assert np.abs(scores).max() <= 1.0 + 1e-6


def test_frozen_prototypes_get_a_zero_gradient():
  layer = Prototypes(ref.PROTOTYPES)
  embeddings = tf.constant(ref.normalised(np.random.default_rng(1), 4),
                           tf.float32)
  layer.build(embeddings.shape)

  @tf.function
  def gradient(frozen):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square(layer(embeddings, frozen=frozen)))
    return tape.gradient(loss, layer.kernel)

  scores = embeddings.numpy() @ layer.kernel.numpy()
  np.testing.assert_allclose(gradient(tf.constant(False)).numpy(),
                             embeddings.numpy().T @ (2 * scores), rtol=1e-5)
  np.testing.assert_array_equal(gradient(tf.constant(True)).numpy(), 0.0)


def vicc_queue_steps(batches, epoch_queue_starts_step, length):
  """ViCC's queue of one view per step: (in use, queue after the push)."""
  queue, start_queue, history = None, False, []
  for step, embedding in enumerate(batches):
    if step >= epoch_queue_starts_step and not start_queue:
      queue, start_queue = np.zeros((length, ref.DIM)), True
    in_use = False
    if queue is not None:
      in_use = start_queue and not np.all(queue[-1, :] == 0)
      queue[BATCH:] = queue[:-BATCH].copy()
      queue[:BATCH] = embedding
    history.append((in_use, None if queue is None else queue.copy()))
  return history


def test_queue_follows_vicc_fifo_and_start():
  rng = np.random.default_rng(2)
  start = 2
  batches = [ref.normalised(rng, BATCH) for _ in range(8)]
  queue = embedding_queue.EmbeddingQueue(2, LENGTH, ref.DIM)
  other_view = ref.normalised(rng, BATCH)
  for step, (batch, (in_use, expected)) in enumerate(
      zip(batches, vicc_queue_steps(batches, start, LENGTH))):
    rows, use = queue.read(0, tf.constant(step, tf.int64), start)
    queue.push(0, tf.constant(batch, tf.float32), tf.constant(step, tf.int64),
               start)
    queue.push(1, tf.constant(other_view, tf.float32),
               tf.constant(step, tf.int64), start)
    assert bool(use) == in_use, step
    if expected is None:
      np.testing.assert_array_equal(rows.numpy(), 0.0)
      np.testing.assert_array_equal(queue.embeddings.numpy(), 0.0)
    else:
      np.testing.assert_allclose(queue.embeddings.numpy()[0], expected,
                                 rtol=1e-6)
  # In use from start + LENGTH / BATCH on; each view has its own queue.
  assert [h[0] for h in vicc_queue_steps(batches, start, LENGTH)] == [
      False] * 5 + [True] * 3
  np.testing.assert_allclose(queue.embeddings.numpy()[1],
                             np.tile(other_view, (LENGTH // BATCH, 1)),
                             rtol=1e-6)


def test_queue_starts_again_from_zeros_at_a_new_stage_start():
  """Stages never load a queue: the next start step empties it."""
  rng = np.random.default_rng(3)
  queue = embedding_queue.EmbeddingQueue(1, LENGTH, ref.DIM)
  for step in range(4):
    queue.push(0, tf.constant(ref.normalised(rng, BATCH), tf.float32), step,
               0)
  assert bool(queue.read(0, 4, 0)[1])
  batch = ref.normalised(rng, BATCH)
  queue.push(0, tf.constant(batch, tf.float32), 10, 10)
  expected = np.concatenate([batch, np.zeros((LENGTH - BATCH, ref.DIM))])
  np.testing.assert_allclose(queue.embeddings.numpy()[0], expected,
                             rtol=1e-6)
  assert not bool(queue.read(0, 11, 10)[1])


def test_queue_and_prototypes_are_checkpointed(tmp_path):
  rng = np.random.default_rng(4)
  inputs = tf_keras.Input([ref.DIM])
  model = tf_keras.Model(inputs, Prototypes(ref.PROTOTYPES)(inputs))
  model.queue = embedding_queue.EmbeddingQueue(1, LENGTH, ref.DIM)
  model.queue.push(0, tf.constant(ref.normalised(rng, BATCH), tf.float32),
                   0, 0)
  saved = [w.numpy() for w in model.weights]
  assert len(saved) == 2 and len(model.non_trainable_weights) == 1
  path = tf.train.Checkpoint(model=model).save(str(tmp_path / 'ckpt'))
  for weight in model.weights:
    weight.assign(tf.zeros_like(weight))
  tf.train.Checkpoint(model=model).restore(path).assert_consumed()
  for weight, value in zip(model.weights, saved):
    np.testing.assert_array_equal(weight.numpy(), value)


def test_queue_length_is_a_multiple_of_the_global_batch():
  # ViCC: 1920 with 4 GPUs x 48 (single) and 4 x 24 (cross) stays 1920.
  assert embedding_queue.queue_length(1920, 192) == 1920
  assert embedding_queue.queue_length(1920, 96) == 1920
  assert embedding_queue.queue_length(1920, 7 * 64) == 1792
