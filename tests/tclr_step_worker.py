"""TCLR's whole-loss gradients on 1 device and under MirroredStrategy (2 CPUs).

Run as a script (logical devices must be set before TF initialises):
  python tclr_step_worker.py OUT.npz CLIP_BATCHES
writes the largest gradient and the largest difference between the
single-device gradients on the global batch and the sum over the two
replicas of their gradients on their halves (each replica's loss divided
by the number of replicas, as `gradients.minimize` does).
"""
import sys

import numpy as np
import tensorflow as tf
import tf_keras

from contrastive_loss_worker import make_strategy
from cvrl_tf.tasks import tclr_pretrain
from tiny_experiments import tiny_tclr_pretrain

GLOBAL_VIDEOS = 4


def clips(seed):
  """(sparse_clips [B, 2, T, H, W, 3], dense_clips [B, 2, 4, T, H, W, 3])."""
  shape = [8, 32, 32, 3]
  return ({'sparse_clips': tf.random.stateless_uniform(
              [GLOBAL_VIDEOS, 2] + shape, seed=[seed, 0]),
           'dense_clips': tf.random.stateless_uniform(
               [GLOBAL_VIDEOS, 2, 4] + shape, seed=[seed, 1])},
          tf.zeros([GLOBAL_VIDEOS, 1], tf.int32))


def loss_gradients(task, model, features):
  with tf.GradientTape() as tape:
    outputs = task.method_outputs(features, model, task.task_config.train_data,
                                  training=True)
    loss = outputs['tclr_loss'] / (
        tf.distribute.get_strategy().num_replicas_in_sync)
  return tape.gradient(loss, model.trainable_variables), outputs


def main(output_path, clip_batches):
  strategy = make_strategy('mirrored')
  params = tiny_tclr_pretrain('unused', 1)
  params.task.model.clip_batches = clip_batches
  task = tclr_pretrain.TCLRPretrainTask(params.task)
  features, _ = clips(3)

  tf_keras.utils.set_random_seed(0)
  single = task.build_model()
  initial_weights = single.get_weights()
  # Eagerly, here and under the strategy: the values are what is compared,
  # and tracing the step for two replicas costs far more than running it.
  single_grads, single_outputs = loss_gradients(task, single, features)

  with strategy.scope():
    mirrored = task.build_model()
    mirrored.set_weights(initial_weights)
  share = GLOBAL_VIDEOS // 2
  inputs = strategy.experimental_distribute_values_from_function(
      lambda context: {key: value[context.replica_id_in_sync_group * share:
                                  (context.replica_id_in_sync_group + 1) *
                                  share]
                       for key, value in features.items()})

  def distributed_gradients(inputs):
    grads, outputs = strategy.run(loss_gradients,
                                  args=(task, mirrored, inputs))
    return ([strategy.reduce('SUM', g, axis=None) for g in grads],
            {k: strategy.reduce('MEAN', v, axis=None)
             for k, v in outputs.items()})

  mirrored_grads, mirrored_outputs = distributed_gradients(inputs)
  differences = [np.abs(a.numpy() - b.numpy()).max()
                 for a, b in zip(single_grads, mirrored_grads)]
  batch_norms = [layer for layer in mirrored.submodules
                 if isinstance(layer, tf_keras.layers.BatchNormalization)]
  np.savez(output_path,
           max_difference=max(differences),
           max_gradient=max(np.abs(g.numpy()).max() for g in single_grads),
           num_gradients=len(single_grads),
           all_sync_bn=all(bn.synchronized for bn in batch_norms),
           **{f'single_{k}': v.numpy() for k, v in single_outputs.items()},
           **{f'mirrored_{k}': v.numpy() for k, v in mirrored_outputs.items()})


if __name__ == '__main__':
  main(sys.argv[1], sys.argv[2])
