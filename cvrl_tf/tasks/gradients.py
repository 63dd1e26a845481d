"""The update step shared by the training tasks."""
import tensorflow as tf
import tf_keras


def minimize(tape: tf.GradientTape, loss: tf.Tensor, model: tf_keras.Model,
             optimizer: tf_keras.optimizers.Optimizer) -> None:
  """Applies the gradient of `loss`, the mean over the global batch.

  Each replica's gradient is divided by the number of replicas because the
  optimizer sums gradients across replicas; the loss is scaled for float16
  when the optimizer is a LossScaleOptimizer.

  Args:
    tape: the tape that recorded `loss`; re-entered to record the scaling.
    loss: this replica's loss, a scalar.
    model: its trainable variables are updated.
    optimizer: the optimizer.
  """
  loss_scaling = isinstance(optimizer,
                            tf_keras.mixed_precision.LossScaleOptimizer)
  with tape:
    scaled_loss = loss / tf.distribute.get_strategy().num_replicas_in_sync
    if loss_scaling:
      scaled_loss = optimizer.get_scaled_loss(scaled_loss)
  grads = tape.gradient(scaled_loss, model.trainable_variables)
  if loss_scaling:
    grads = optimizer.get_unscaled_gradients(grads)
  optimizer.apply_gradients(zip(grads, model.trainable_variables))
