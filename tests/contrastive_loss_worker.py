"""Runs `contrastive_loss` under a multi-replica strategy in fresh processes.

Logical devices and TF_CONFIG must be set before TensorFlow initialises, so
each strategy runs in its own process:

  python contrastive_loss_worker.py mirrored IN.npz OUT.npz
      MirroredStrategy over two logical CPUs of this process.
  TF_CONFIG=... python contrastive_loss_worker.py multi_worker IN.npz OUT.npz
      MultiWorkerMirroredStrategy, one replica per worker process.

IN.npz holds the global batch (`embeddings_1`, `embeddings_2` [N, D]) and
`temperature`; each replica takes its contiguous share. OUT.npz gets, for
this process's replicas: `replica_ids`, the loss outputs, and the gradients
of loss / num_replicas w.r.t. the local embeddings (what a training step
differentiates). `run_processes` launches workers from a test and
`random_views` makes test embeddings.
"""
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from cvrl_tf.losses import contrastive_loss

LOSS_KEYS = ('contrastive_loss', 'contrast_acc', 'contrast_entropy')
OUTPUT_KEYS = ('replica_ids',) + LOSS_KEYS + ('gradients_1', 'gradients_2')
TIMEOUT_SECONDS = 120
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_strategy(mode: str) -> tf.distribute.Strategy:
  if mode == 'mirrored':
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
  if mode == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise ValueError(f'Unknown mode {mode}.')


def replica_step(embeddings_1, embeddings_2, temperature):
  """Loss outputs and scaled-loss gradients of one replica, as a list."""
  context = tf.distribute.get_replica_context()
  with tf.GradientTape() as tape:
    tape.watch([embeddings_1, embeddings_2])
    outputs = contrastive_loss(embeddings_1, embeddings_2, temperature)
    scaled_loss = outputs['contrastive_loss'] / context.num_replicas_in_sync
  gradients = tape.gradient(scaled_loss, [embeddings_1, embeddings_2])
  replica_id = tf.convert_to_tensor(context.replica_id_in_sync_group)
  return [replica_id] + [outputs[k] for k in LOSS_KEYS] + gradients


def main(mode: str, input_path: str, output_path: str) -> None:
  strategy = make_strategy(mode)
  data = np.load(input_path)
  temperature = float(data['temperature'])
  local_size = len(data['embeddings_1']) // strategy.num_replicas_in_sync

  def local_share(context):
    start = context.replica_id_in_sync_group * local_size
    return tuple(tf.constant(data[k][start:start + local_size])
                 for k in ('embeddings_1', 'embeddings_2'))

  embeddings = strategy.experimental_distribute_values_from_function(
      local_share)

  @tf.function
  def step(embeddings_1, embeddings_2):
    return strategy.run(replica_step,
                        args=(embeddings_1, embeddings_2, temperature))

  results = step(*embeddings)
  np.savez(output_path, **{
      key: np.stack([v.numpy()
                     for v in strategy.experimental_local_results(value)])
      for key, value in zip(OUTPUT_KEYS, results)})


def random_views(batch_size, dim=8, seed=0):
  """Two correlated views with a spread of norms, float32 [N, dim] each."""
  rng = np.random.default_rng(seed)
  view_1 = rng.normal(size=(batch_size, dim)) * rng.uniform(0.5, 3.0)
  view_2 = view_1 + rng.normal(size=(batch_size, dim))
  return view_1.astype(np.float32), view_2.astype(np.float32)


def run_processes(mode, embeddings_1, embeddings_2, temperature, workdir,
                  envs):
  """Runs one worker process per entry of `envs` (extra environment).

  Args:
    mode: 'mirrored' or 'multi_worker'.
    embeddings_1: [N, D] float32 global first views.
    embeddings_2: [N, D] float32 global second views.
    temperature: tau.
    workdir: a `pathlib.Path` for the exchanged files.
    envs: one dict of environment variables per process.

  Returns:
    Dict of `OUTPUT_KEYS` -> arrays with a leading replica axis, in replica
    order, gathered from every process.
  """
  input_path = str(workdir / 'input.npz')
  np.savez(input_path, embeddings_1=embeddings_1, embeddings_2=embeddings_2,
           temperature=temperature)
  base_env = dict(os.environ, PYTHONPATH=REPO_ROOT, CUDA_VISIBLE_DEVICES='',
                  TF_CPP_MIN_LOG_LEVEL='2')
  output_paths = [str(workdir / f'output_{i}.npz') for i in range(len(envs))]
  processes = [
      subprocess.Popen(
          [sys.executable, os.path.abspath(__file__), mode, input_path, path],
          env=dict(base_env, **env), stdout=subprocess.PIPE,
          stderr=subprocess.STDOUT, text=True)
      for env, path in zip(envs, output_paths)]
  try:
    for process in processes:
      log, _ = process.communicate(timeout=TIMEOUT_SECONDS)
      assert process.returncode == 0, log[-3000:]
  finally:
    # A failed or hung worker would leave its peers blocked in collectives.
    for process in processes:
      if process.poll() is None:
        process.kill()
        process.wait()
  parts = [np.load(path) for path in output_paths]
  merged = {k: np.concatenate([part[k] for part in parts])
            for k in OUTPUT_KEYS}
  order = np.argsort(merged['replica_ids'])
  return {k: v[order] for k, v in merged.items()}


def assert_matches_global_batch(replicas, embeddings_1, embeddings_2,
                                temperature):
  """Replica outputs equal single-device ones on the global batch.

  The mean over replicas of each loss output must equal the global value,
  and the replicas' gradients, stacked, the global loss's gradients.
  """
  view_1, view_2 = tf.constant(embeddings_1), tf.constant(embeddings_2)
  with tf.GradientTape() as tape:
    tape.watch([view_1, view_2])
    expected = contrastive_loss(view_1, view_2, temperature)
  gradients = tape.gradient(expected['contrastive_loss'], [view_1, view_2])
  for key in LOSS_KEYS:
    np.testing.assert_allclose(replicas[key].mean(), expected[key].numpy(),
                               rtol=1e-5, atol=1e-5)
  for key, gradient in zip(('gradients_1', 'gradients_2'), gradients):
    np.testing.assert_allclose(np.concatenate(replicas[key]),
                               gradient.numpy(), rtol=1e-5, atol=1e-6)


if __name__ == '__main__':
  main(*sys.argv[1:])
