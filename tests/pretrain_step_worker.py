"""One CVRL train step on 1 device and under MirroredStrategy (2 CPUs).

Run as a script (logical devices must be set before TF initialises):
  python pretrain_step_worker.py OUT.npz
writes the max abs difference between the two updated models' trainable
weights and BatchNorm moving means, and whether every BatchNorm of the
mirrored model is synchronised; and, for `losses.loss_over_replicas: sum`
(Model Garden's video_ssl), the max abs difference between the mirrored
update of the trainable weights and the number of replicas times the
single-device update. Moving variances are left out: Keras's fused
single-device BatchNorm applies Bessel's correction to them and its
synchronised BatchNorm does not.
"""
import sys

import numpy as np
import tensorflow as tf
import tf_keras

from contrastive_loss_worker import make_strategy
from cvrl_tf.tasks import pretrain
from tiny_experiments import tiny_pretrain

GLOBAL_VIDEOS = 4


def clip_batch(seed):
  """[2B, T, H, W, 3]: view 1 of B videos, then view 2 of the same."""
  return tf.random.stateless_uniform([2 * GLOBAL_VIDEOS, 4, 32, 32, 3],
                                     seed=[seed, 0])


def replica_batch(images, replica, num_replicas):
  """A replica's share in the pipeline's layout: its views 1, its views 2."""
  view_1, view_2 = tf.split(images, 2)
  share = GLOBAL_VIDEOS // num_replicas
  rows = slice(replica * share, (replica + 1) * share)
  return tf.concat([view_1[rows], view_2[rows]], axis=0)


def mirrored_step(strategy, task, initial_weights, images, labels):
  """The model after one `task` train step of `images` split over replicas."""
  with strategy.scope():
    mirrored = task.build_model()
    mirrored.set_weights(initial_weights)
    optimizer = tf_keras.optimizers.SGD(0.5)
  inputs = strategy.experimental_distribute_values_from_function(
      lambda context: ({'image': replica_batch(
          images, context.replica_id_in_sync_group,
          context.num_replicas_in_sync)}, labels[:GLOBAL_VIDEOS // 2]))

  @tf.function
  def distributed_step(inputs):
    strategy.run(task.train_step, args=(inputs, mirrored, optimizer))

  distributed_step(inputs)
  return mirrored


def main(output_path):
  strategy = make_strategy('mirrored')
  params = tiny_pretrain('unused', 1)
  task = pretrain.CVRLPretrainTask(params.task)
  images = clip_batch(7)
  labels = tf.zeros([GLOBAL_VIDEOS, 1], tf.int32)

  tf_keras.utils.set_random_seed(0)
  single = task.build_model()
  initial_weights = single.get_weights()
  task.train_step(({'image': images}, labels), single,
                  tf_keras.optimizers.SGD(0.5))

  mirrored = mirrored_step(strategy, task, initial_weights, images, labels)
  compared = [i for i, v in enumerate(single.weights)
              if v.trainable or 'moving_mean' in v.name]
  updated = [mirrored.weights[i].numpy() for i in compared]
  differences = [np.abs(single.weights[i].numpy() - w).max()
                 for i, w in zip(compared, updated)]
  changes = [np.abs(initial_weights[i] - w).max()
             for i, w in zip(compared, updated)]
  batch_norms = [layer for layer in mirrored.submodules
                 if isinstance(layer, tf_keras.layers.BatchNormalization)]

  params.task.losses.loss_over_replicas = 'sum'
  summed = mirrored_step(strategy, pretrain.CVRLPretrainTask(params.task),
                         initial_weights, images, labels)
  trainable = [i for i, v in enumerate(single.weights) if v.trainable]
  sum_differences = [
      np.abs((summed.weights[i].numpy() - initial_weights[i])
             - strategy.num_replicas_in_sync
             * (single.weights[i].numpy() - initial_weights[i])).max()
      for i in trainable]
  np.savez(output_path, max_difference=max(differences),
           max_change=max(changes),
           max_sum_difference=max(sum_differences),
           all_sync_bn=all(bn.synchronized for bn in batch_norms),
           num_batch_norms=len(batch_norms))


if __name__ == '__main__':
  main(sys.argv[1])
