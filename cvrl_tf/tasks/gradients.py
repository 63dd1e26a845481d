"""The update step and weight decay shared by the training tasks."""
from typing import List, Optional

import tensorflow as tf
import tf_keras


def minimize(tape: tf.GradientTape, loss: tf.Tensor, model: tf_keras.Model,
             optimizer: tf_keras.optimizers.Optimizer,
             average_over_replicas: bool = True,
             variables: Optional[List[tf.Variable]] = None) -> None:
  """Applies the gradient of `loss`, the mean over the global batch.

  Each replica's gradient is divided by the number of replicas because the
  optimizer sums gradients across replicas (unless `average_over_replicas`
  is False, which sums the replicas' gradients as Model Garden's video_ssl
  pretraining does); the loss is scaled for float16 when the optimizer is a
  LossScaleOptimizer.

  Args:
    tape: the tape that recorded `loss`; re-entered to record the scaling.
    loss: this replica's loss, a scalar.
    model: its trainable variables are updated.
    optimizer: the optimizer.
    average_over_replicas: divide each replica's loss by the number of
      replicas.
    variables: the variables to update; default all of `model`'s
      trainable ones.
  """
  loss_scaling = isinstance(optimizer,
                            tf_keras.mixed_precision.LossScaleOptimizer)
  with tape:
    scaled_loss = loss
    if average_over_replicas:
      scaled_loss /= tf.distribute.get_strategy().num_replicas_in_sync
    if loss_scaling:
      scaled_loss = optimizer.get_scaled_loss(scaled_loss)
  if variables is None:
    variables = model.trainable_variables
  grads = tape.gradient(scaled_loss, variables)
  if loss_scaling:
    grads = optimizer.get_unscaled_gradients(grads)
  optimizer.apply_gradients(zip(grads, variables))


def l2_weight_decay(model: tf_keras.Model, rate: float) -> tf.Tensor:
  """rate x sum(tf.nn.l2_loss(kernel)) over the trainable kernels.

  As Model Garden's video tasks add weight decay to the loss (video_ssl's
  `losses.contrastive_loss`): every trainable variable named `kernel`, so
  neither BatchNorm parameters nor biases. 0 when `rate` is 0.
  """
  kernels = [v for v in model.trainable_variables if 'kernel' in v.name]
  if not rate or not kernels:
    return tf.constant(0.0)
  return rate * tf.add_n([tf.nn.l2_loss(tf.cast(v, tf.float32))
                          for v in kernels])
