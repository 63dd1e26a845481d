"""ViCC's prototypes: K vectors scored against L2-normalised embeddings.

The authors' code (github.com/martinetoering/ViCC, `src/model/pretrain.py`
`ViCC.__init__`) makes them `nn.Linear(dim, nmb_prototypes, bias=False)`
with `--nmb_prototypes 300`; before every forward pass `main_single.py` and
`main_cross.py` (`train_one_epoch`, "normalize the prototypes") L2-normalise
each prototype, so the scores of normalised embeddings are cosines. During
the first `--freeze_prototypes_nepochs` epochs of a stage (100 in
`slurm_scripts/pretrain/single-*.sh`, 0 in `cross.sh`) the prototypes'
gradient is dropped (`p.grad = None`).
"""
import math

import tensorflow as tf
import tf_keras


class Prototypes(tf_keras.layers.Layer):
  """Scores [n, K] = embeddings [n, D] x prototypes [D, K], no bias.

  The layer does not normalise its input: ViCC's embeddings arrive
  L2-normalised (`nn.functional.normalize` after the projection), and the
  same normalised embeddings fill the queue.
  """

  def __init__(self, num_prototypes: int = 300, **kwargs):
    super().__init__(**kwargs)
    self.num_prototypes = num_prototypes

  def build(self, input_shape):
    dim = int(input_shape[-1])
    # torch's nn.Linear default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); only
    # the direction matters, as `normalize` runs before the first step.
    bound = 1.0 / math.sqrt(dim)
    self.kernel = self.add_weight(
        'kernel', shape=[dim, self.num_prototypes],
        initializer=tf_keras.initializers.RandomUniform(-bound, bound),
        trainable=True)
    super().build(input_shape)

  def call(self, embeddings: tf.Tensor, frozen=False) -> tf.Tensor:
    """Prototype scores of `embeddings` [n, D] -> [n, K].

    Args:
      embeddings: L2-normalised embeddings.
      frozen: bool scalar (may be a tensor); when True the prototypes get a
        zero gradient. With a fresh optimizer state, as at the start of each
        of ViCC's stages, a zero gradient leaves them where ViCC's
        `p.grad = None` does (LARC neither rescales nor decays a zero
        gradient, and a zero momentum stays zero).
    """
    kernel = self.kernel
    if frozen is not False:
      kernel = tf.where(frozen, tf.stop_gradient(kernel), kernel)
    return tf.matmul(embeddings, tf.cast(kernel, embeddings.dtype))

  def normalize(self):
    """L2-normalises every prototype; call before each forward pass.

    Works in a replica context (a merge call updates every replica's copy)
    and outside one.
    """
    def assign_normalized(strategy):
      return strategy.extended.update(
          self.kernel,
          lambda kernel: kernel.assign(tf.math.l2_normalize(kernel, axis=0)))

    context = tf.distribute.get_replica_context()
    if context is None:
      return assign_normalized(tf.distribute.get_strategy())
    return context.merge_call(assign_normalized)

  def get_config(self):
    return dict(super().get_config(), num_prototypes=self.num_prototypes)
