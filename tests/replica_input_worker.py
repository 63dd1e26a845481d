"""The resumable trainer's input and NaN record under two replicas.

  python replica_input_worker.py CONFIG.yaml OUT.npz

Under MirroredStrategy over two logical CPUs, builds
`cvrl_tf.training.trainer.Trainer` for `cvrl_pretrain` overridden by CONFIG.yaml
(deterministic, so with a checkpointed input; the model is a stand-in,
unused here) and reads two steps of training batches both through
`Trainer.next_train_inputs` inside a tf.function (as its train step does)
and through `strategy.distribute_datasets_from_function`. Writes, per step
and replica, both versions of every input tensor (`got_S_R_I`,
`want_S_R_I`), and `first_nonfinite_step`: what the trainer records when
only the second replica's loss is NaN at step 2.
"""
import sys

import numpy as np
import tensorflow as tf
import tf_keras
from official.core import train_utils

from contrastive_loss_worker import make_strategy
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.tasks import pretrain
from cvrl_tf.training import trainer as trainer_lib

STEPS = 2
# Per-step losses of replicas 0 and 1.
LOSSES = [(1.0, 2.0), (3.0, float('nan')), (1.0, 1.0)]


def local_arrays(strategy, per_replica):
  """[replica] lists of the flattened numpy inputs."""
  return [[x.numpy() for x in tf.nest.flatten(value)]
          for value in strategy.experimental_local_results(per_replica)]


def input_arrays(strategy, trainer, task, data_config):
  """got_* (trainer) and want_* (tf.distribute) input arrays."""
  iterator = getattr(trainer.checkpoint, trainer_lib.ITERATOR_KEY)
  with strategy.scope():
    expected = iter(strategy.distribute_datasets_from_function(
        lambda context: task.build_inputs(data_config, context)))

  @tf.function
  def trainer_inputs():
    inputs = trainer.next_train_inputs(iterator)
    return strategy.run(lambda x: tf.nest.map_structure(tf.identity, x),
                        args=(inputs,))

  arrays = {}
  for step in range(STEPS):
    got = local_arrays(strategy, trainer_inputs())
    want = local_arrays(strategy, next(expected))
    for replica, (got_tensors, want_tensors) in enumerate(zip(got, want)):
      for i, (g, w) in enumerate(zip(got_tensors, want_tensors)):
        arrays[f'got_{step}_{replica}_{i}'] = g
        arrays[f'want_{step}_{replica}_{i}'] = w
  return arrays


def first_nonfinite_step(strategy, trainer) -> int:
  """Feeds `LOSSES` to the loss metric as the train step does."""

  @tf.function
  def step(losses):
    strategy.run(trainer.train_loss.update_state, args=(losses,))
    trainer.global_step.assign_add(1)
    trainer.first_nonfinite.update(trainer.train_loss.result(),
                                   trainer.global_step)

  for losses in LOSSES:
    step(strategy.experimental_distribute_values_from_function(
        lambda context, l=losses: tf.constant(
            l[context.replica_id_in_sync_group])))
  return int(trainer.first_nonfinite.step.numpy())


def main(config_file: str, output_path: str) -> None:
  strategy = make_strategy('mirrored')
  params = config_validation.experiment_params('cvrl_pretrain', [config_file])
  task = pretrain.CVRLPretrainTask(params.task)
  with strategy.scope():
    model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(1,))])
    trainer = trainer_lib.Trainer(
        params, task, model, train_utils.create_optimizer(task, params),
        evaluate=False, checkpoint_input=params.task.deterministic)
  arrays = input_arrays(strategy, trainer, task, params.task.train_data)
  np.savez(output_path, first_nonfinite_step=first_nonfinite_step(
      strategy, trainer), **arrays)


if __name__ == '__main__':
  main(sys.argv[1], sys.argv[2])
