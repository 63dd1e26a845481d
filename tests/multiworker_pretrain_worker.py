"""Pretrains the tiny preset as one worker of a MultiWorkerMirroredStrategy.

  TF_CONFIG=... python multiworker_pretrain_worker.py RECORDS MODEL_DIR OUT \
      [TRAIN_STEPS [TFDS_DATA_DIR [TCLR_RECORDS TCLR_MODEL_DIR]]]

TF_CONFIG names the cluster and this worker. The worker pretrains through
`cvrl_tf.train.run` (`pretrain_params`: two steps unless TRAIN_STEPS says
otherwise, a checkpoint and a summary after each), then writes to OUT
(JSON) the InputContext the strategy gave its input pipeline and the ids of
the videos that pipeline reads, as evaluation input, from its share of the
files; with TFDS_DATA_DIR, also those it reads from its share of the files
of a TFDS split built there (`tfds_eval_input`). With TCLR_RECORDS and
TCLR_MODEL_DIR it then pretrains TCLR too (`tclr_params`), under the same
strategy: a second MultiWorkerMirroredStrategy in the process would
re-enable the collective ops, which races with the peers' collectives.

`cluster_envs` and `run_workers` start such workers (or any command) from a
test, one process per worker on 127.0.0.1.
"""
import json
import os
import subprocess
import sys
from typing import Dict, List, Sequence
from unittest import mock

from cvrl_tf import train
from cvrl_tf.dataloaders import video_input
from test_contrastive_loss_multiworker import free_ports
import tiny_experiments

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
# A hang guard: generous, as the machine may be shared.
TIMEOUT_SECONDS = 1200
TRAIN_STEPS = 2
GLOBAL_BATCH_SIZE = 8
# `tfds_mock.ShardedTinyVideos`, read without its builder class.
TFDS_NAME = 'sharded_tiny_videos'


def pretrain_params(records: str, train_steps: int = TRAIN_STEPS):
  """The tiny pretraining preset on `records`, two workers, one CPU each.

  Views are only centre-cropped (their clips still differ in time): the
  colour augmentation's XLA compilation would double the workers' run time.
  """
  params = tiny_experiments.tiny_pretrain(records, train_steps,
                                          checkpoint_interval=1)
  params.override({
      'runtime': {'distribution_strategy': 'multi_worker_mirrored'},
      'task': {'train_data': {
          'global_batch_size': GLOBAL_BATCH_SIZE,
          'augmentation': {'spatial': {'enabled': False}}}},
      'trainer': {'steps_per_loop': 1, 'summary_interval': 1},
  })
  return params


def tclr_params(records: str):
  """The tiny TCLR preset on `records`, as `pretrain_params` runs CVRL.

  `clip_batches: joint`: one backbone call on the step's clips instead of
  ten, which builds several times faster (as in test_tclr_distributed).
  Clips are only centre-cropped, as CVRL's views: TCLR's per-clip
  augmentation takes most of the input's start-up, on every worker and in
  the test's rebuild of their batches.
  """
  params = tiny_experiments.tiny_tclr_pretrain(records, TRAIN_STEPS)
  params.override({
      'runtime': {'distribution_strategy': 'multi_worker_mirrored'},
      'task': {'model': {'clip_batches': 'joint'},
               'train_data': {'tclr_clips': {'augmentation': 'cvrl'},
                              'augmentation': {'spatial': {
                                  'enabled': False}}}},
      'trainer': {'steps_per_loop': 1, 'summary_interval': 1,
                  'checkpoint_interval': 1},
  })
  return params


def eval_input(params):
  """Evaluation input over the same files, keeping every video id."""
  return params.task.validation_data.replace(
      output_video_id=True, drop_remainder=False, global_batch_size=2)


def cluster_envs(num_workers: int) -> List[Dict[str, str]]:
  """Environment of each worker: TF_CONFIG of a cluster on 127.0.0.1."""
  workers = [f'127.0.0.1:{port}' for port in free_ports(num_workers)]
  return [{'TF_CONFIG': json.dumps({
      'cluster': {'worker': workers},
      'task': {'type': 'worker', 'index': index}})}
          for index in range(num_workers)]


def run_workers(commands: Sequence[Sequence[str]],
                envs: Sequence[Dict[str, str]],
                timeout: float = TIMEOUT_SECONDS
               ) -> List[subprocess.CompletedProcess]:
  """Runs one process per command, concurrently, on CPU only.

  Args:
    commands: argv of each process (Python is prepended).
    envs: extra environment of each process.
    timeout: seconds each may take; a process still running then is killed.

  Returns:
    The finished processes, with stdout and stderr as text.
  """
  base_env = dict(os.environ, CUDA_VISIBLE_DEVICES='',
                  TF_CPP_MIN_LOG_LEVEL='2',
                  PYTHONPATH=os.pathsep.join([TESTS_DIR, REPO_ROOT]))
  processes = [
      subprocess.Popen([sys.executable, *command], env=dict(base_env, **env),
                       cwd=REPO_ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
      for command, env in zip(commands, envs)]
  results = []
  try:
    for process in processes:
      stdout, stderr = process.communicate(timeout=timeout)
      results.append(subprocess.CompletedProcess(
          process.args, process.returncode, stdout, stderr))
  finally:
    # A failed or hung worker would leave its peers blocked in collectives.
    for process in processes:
      if process.poll() is None:
        process.kill()
        process.wait()
  return results


def tfds_eval_input(params, tfds_data_dir: str):
  """`eval_input` reading the train split of `tfds_mock.ShardedTinyVideos`
  built in `tfds_data_dir`."""
  return eval_input(params).replace(
      input_path='', tfds_name=TFDS_NAME, tfds_split='train',
      tfds_data_dir=tfds_data_dir)


def _ids_read(strategy, data) -> tuple:
  """(InputContext the strategy gives the input of `data`, video ids that
  input reads)."""
  contexts = []

  def dataset_fn(context):
    contexts.append(context)
    return video_input.build_dataset(data, context)

  strategy.distribute_datasets_from_function(dataset_fn)
  context, = contexts
  return context, [video_id.decode()
                   for features, _ in video_input.build_dataset(data, context)
                   for video_id in features['video_id'].numpy()]


def main(records: str, model_dir: str, output_path: str,
         train_steps: str = str(TRAIN_STEPS), tfds_data_dir: str = '',
         tclr_records: str = '', tclr_model_dir: str = '') -> None:
  params = pretrain_params(records, int(train_steps))
  model, _ = train.run(params, 'train', model_dir)
  strategy = model.distribute_strategy
  context, video_ids = _ids_read(strategy, eval_input(params))
  output = {'num_input_pipelines': context.num_input_pipelines,
            'input_pipeline_id': context.input_pipeline_id,
            'num_replicas_in_sync': context.num_replicas_in_sync,
            'video_ids': video_ids}
  if tfds_data_dir:
    _, output['tfds_video_ids'] = _ids_read(
        strategy, tfds_eval_input(params, tfds_data_dir))
  with open(output_path, 'w') as f:
    json.dump(output, f)
  if tclr_model_dir:
    with mock.patch.object(train, 'build_strategy', lambda _: strategy):
      train.run(tclr_params(tclr_records), 'train', tclr_model_dir)


if __name__ == '__main__':
  main(*sys.argv[1:])
