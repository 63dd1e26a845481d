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

It also runs one mirrored step of Model Garden's own video_ssl pretraining
task and one of ours with the paper recipe and `loss_over_replicas: sum`
(test_model_garden_step's float32 R3D-50 at 4 x 32^2, the same initial
weights and the same split of the batch), and writes both replicas' losses
and the largest differences of the trainable weights and of the BatchNorm
moving statistics after it.
"""
import os
import sys
import types

import numpy as np
import tensorflow as tf
import tf_keras
from official.projects.video_ssl.losses import losses as mg_losses

from contrastive_loss_worker import make_strategy
from cvrl_tf.modeling import stem_conv
from cvrl_tf.tasks import pretrain
import test_model_garden_step as mg_step
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
  distributed_train_step(strategy, task, mirrored, optimizer, images, labels)
  return mirrored


def distributed_train_step(strategy, task, model, optimizer, images, labels):
  """Each replica's logs of one `task` train step of `images`, split."""
  inputs = strategy.experimental_distribute_values_from_function(
      lambda context: ({'image': replica_batch(
          images, context.replica_id_in_sync_group,
          context.num_replicas_in_sync)}, labels[:GLOBAL_VIDEOS // 2]))

  # Eagerly, as the single-device step runs: tracing it for two replicas
  # costs ~20 CPU-s for the tiny model, running it a few.
  logs = strategy.run(task.train_step, args=(inputs, model, optimizer))
  return tf.nest.map_structure(strategy.experimental_local_results, logs)


def model_garden_sum_step(strategy, images, labels, work_dir):
  """Model Garden's video_ssl step and ours with `sum`, on 2 replicas.

  Returns:
    {name: array} for `np.savez`: each side's per-replica losses, the
    largest update and the largest differences of the trainable weights
    and of the BatchNorm moving statistics.
  """
  stem_conv._has_accelerator = mg_step.conv3d_stem_everywhere  # pylint: disable=protected-access
  # Model Garden's loss numbers the replicas with `xla.replica_id()`, which
  # only a TPU (XLA) computation defines: on CPU replicas the process
  # crashes. It is the replica's index in the sync group; give it that.
  mg_losses.xla = types.SimpleNamespace(replica_id=lambda: (
      tf.distribute.get_replica_context().replica_id_in_sync_group))
  tf_keras.utils.set_random_seed(0)
  (ours_task, ours_params), (theirs_task, theirs_params) = mg_step.tiny_tasks(
      loss_over_replicas='sum')
  with strategy.scope():
    ours_model, theirs_model = mg_step.models_with_the_same_weights(
        ours_task, theirs_task, os.path.join(work_dir, 'init'))
    ours_optimizer = mg_step.release_optimizer(ours_task, ours_params)
    theirs_optimizer = mg_step.release_optimizer(theirs_task, theirs_params)
  initial, _ = mg_step.weights(ours_model, ours_model.backbone,
                               os.path.join(work_dir, 'initial'))
  ours_logs = distributed_train_step(strategy, ours_task, ours_model,
                                     ours_optimizer, images, labels)
  theirs_logs = distributed_train_step(strategy, theirs_task, theirs_model,
                                       theirs_optimizer, images, labels)
  ours_weights, ours_moving = mg_step.weights(
      ours_model, ours_model.backbone, os.path.join(work_dir, 'ours'))
  theirs_weights, theirs_moving = mg_step.weights(
      theirs_model, theirs_model.backbone, os.path.join(work_dir, 'theirs'))
  assert sorted(ours_weights) == sorted(theirs_weights)
  largest = lambda ours, theirs: max(
      float(np.max(np.abs(ours[k] - theirs[k]))) for k in theirs)
  return {
      'mg_ours_losses': [float(loss + l2) for loss, l2 in zip(
          ours_logs['loss'], ours_logs['l2_loss'])],
      'mg_theirs_losses': [float(loss) for loss in theirs_logs['loss']],
      'mg_update': largest(ours_weights, initial),
      'mg_weights_difference': largest(ours_weights, theirs_weights),
      'mg_moving_difference': largest(ours_moving, theirs_moving),
  }


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
           num_batch_norms=len(batch_norms),
           **model_garden_sum_step(strategy, images, labels,
                                   os.path.dirname(output_path)))


if __name__ == '__main__':
  main(sys.argv[1])
