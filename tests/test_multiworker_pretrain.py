"""Pretraining beyond one local process: two workers, a ram:// model_dir."""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from cvrl_tf import train
from cvrl_tf.dataloaders import tclr_input
from cvrl_tf.dataloaders import video_input
from cvrl_tf.tasks import pretrain
from cvrl_tf.tasks import tclr_pretrain
import multiworker_pretrain_worker as worker
import tfds_mock
import tiny_experiments
import toy_records

NUM_WORKERS = 2
WORKER_SCRIPT = os.path.join(worker.TESTS_DIR,
                             'multiworker_pretrain_worker.py')


@pytest.fixture(name='records', scope='module')
def _records(tmp_path_factory):
  """10 toy videos in 4 files, 2 files per worker."""
  return toy_records.write_toy_records(
      str(tmp_path_factory.mktemp('records')), videos_per_class=1,
      num_shards=4, max_frames=12)


@pytest.fixture(name='tclr_records', scope='module')
def _tclr_records(tmp_path_factory):
  """10 toy videos in 4 files, long enough for TCLR's clips (29 frames)."""
  return toy_records.write_toy_records(
      str(tmp_path_factory.mktemp('tclr_records')), videos_per_class=1,
      num_shards=4)


@pytest.fixture(name='tfds_data_dir', scope='module')
def _tfds_data_dir(tmp_path_factory):
  """A TFDS dataset whose train split has 8 videos in 4 files."""
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  tfds_mock.build(tfds_mock.ShardedTinyVideos, data_dir, num_files=4)
  return data_dir


@pytest.fixture(name='two_workers', scope='module')
def _two_workers(records, tfds_data_dir, tclr_records, tmp_path_factory):
  """Pretrains CVRL, then TCLR, with two workers once.

  Returns:
    (CVRL's model_dir, worker outputs, TCLR's model_dir).
  """
  workdir = tmp_path_factory.mktemp('two_workers')
  model_dir, tclr_model_dir = str(workdir / 'model'), str(workdir / 'tclr')
  outputs = [str(workdir / f'worker_{i}.json') for i in range(NUM_WORKERS)]
  results = worker.run_workers(
      [[WORKER_SCRIPT, records, model_dir, output, str(worker.TRAIN_STEPS),
        tfds_data_dir, tclr_records, tclr_model_dir] for output in outputs],
      worker.cluster_envs(NUM_WORKERS))
  for result in results:
    assert result.returncode == 0, result.stderr[-3000:]
  outputs = [json.loads(open(output).read()) for output in outputs]
  return model_dir, outputs, tclr_model_dir


def _logged_losses(model_dir):
  """{step: [training_loss in each train summary file]}."""
  losses = {}
  for path in tf.io.gfile.glob(os.path.join(model_dir, 'train', 'events*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == 'training_loss':
          losses.setdefault(event.step, []).append(
              float(tf.make_ndarray(value.tensor)))
  return losses


def _worker_batches(build_dataset, data_config, step):
  """Each worker's features of training step `step` (from 1), rebuilt here
  with `build_dataset(data_config, input_context)`."""
  # Seeded tf.data randomness (shuffle, Dataset.random) also depends on the
  # global seed, which earlier tests in this process may have set; the
  # workers ran without one.
  tf.random.set_seed(None)
  batches = []
  for index in range(NUM_WORKERS):
    context = tf.distribute.InputContext(
        num_input_pipelines=NUM_WORKERS, input_pipeline_id=index,
        num_replicas_in_sync=NUM_WORKERS)
    dataset = build_dataset(data_config, context)
    features, _ = next(iter(dataset.skip(step - 1)))
    batches.append(features)
  return batches


def _global_batch_loss(params, checkpoint, input_step):
  """(loss of the workers' global batch, loss of worker 0's alone).

  Both with the weights of `checkpoint`, on the batches the workers' input
  gives at its step `input_step` (from 1).
  """
  task = pretrain.CVRLPretrainTask(params.task)
  model = task.build_model()
  tf.train.Checkpoint(model=model).read(
      checkpoint).expect_partial().assert_existing_objects_matched()
  # Each worker's [2b, T, H, W, 3] images: its b views 1, then its views 2.
  views = [tf.split(features['image'], 2)
           for features in _worker_batches(video_input.build_dataset,
                                           params.task.train_data, input_step)]
  global_batch = tf.concat([v[0] for v in views] + [v[1] for v in views], 0)

  def loss(images):
    return float(task.contrastive_outputs(images, model, training=True)[
        'contrastive_loss'])

  return loss(global_batch), loss(tf.concat(views[0], 0))


def test_two_workers_match_single_process_global_batch(records, two_workers):
  model_dir, _, _ = two_workers
  # Step 2 ran on the weights saved after step 1.
  global_loss, worker_0_loss = _global_batch_loss(
      worker.pretrain_params(records), os.path.join(model_dir, 'ckpt-1'),
      input_step=2)
  logged = _logged_losses(model_dir)
  assert sorted(logged) == list(range(1, worker.TRAIN_STEPS + 1))
  np.testing.assert_allclose(logged[2], global_loss, rtol=1e-4)
  # Negatives from one worker only would give a clearly different loss.
  assert abs(worker_0_loss - logged[2][0]) > 0.05


def test_tclr_two_workers_match_single_process_global_batch(
    tclr_records, two_workers):
  """TCLR's step 2 on two workers: the loss of the global batch on one
  device, from the weights saved after step 1."""
  _, _, model_dir = two_workers
  params = worker.tclr_params(tclr_records)
  task = tclr_pretrain.TCLRPretrainTask(params.task)
  model = task.build_model()
  tf.train.Checkpoint(model=model).read(os.path.join(
      model_dir, 'ckpt-1')).expect_partial().assert_existing_objects_matched()
  clips = ('sparse_clips', 'dense_clips')
  batches = [{key: features[key] for key in clips}
             for features in _worker_batches(tclr_input.build_tclr_dataset,
                                             params.task.train_data, step=2)]

  def loss(features):
    return float(task.method_outputs(features, model, params.task.train_data,
                                     training=True)['tclr_loss'])

  logged = _logged_losses(model_dir)
  assert sorted(logged) == list(range(1, worker.TRAIN_STEPS + 1))
  np.testing.assert_allclose(logged[2], loss(
      {key: tf.concat([b[key] for b in batches], 0) for key in clips}),
                             rtol=1e-4)
  # Instance negatives from one worker only would give another loss.
  assert abs(loss(batches[0]) - logged[2][0]) > 0.05


def test_restarted_workers_resume_from_the_chief_checkpoint(
    records, two_workers, tmp_path):
  model_dir = str(tmp_path / 'model')
  shutil.copytree(two_workers[0], model_dir)
  train_steps = worker.TRAIN_STEPS + 1
  results = worker.run_workers(
      [[WORKER_SCRIPT, records, model_dir, str(tmp_path / f'{i}.json'),
        str(train_steps)] for i in range(NUM_WORKERS)],
      worker.cluster_envs(NUM_WORKERS))
  for result in results:
    assert result.returncode == 0, result.stderr[-3000:]
  assert tf.train.latest_checkpoint(model_dir) == os.path.join(
      model_dir, f'ckpt-{train_steps}')
  # The step after the restart ran on ckpt-2 on every worker (a worker
  # starting afresh would change the loss), with input from its start.
  global_loss, _ = _global_batch_loss(
      worker.pretrain_params(records, train_steps),
      os.path.join(model_dir, f'ckpt-{worker.TRAIN_STEPS}'), input_step=1)
  np.testing.assert_allclose(_logged_losses(model_dir)[train_steps],
                             global_loss, rtol=1e-4)


def test_input_files_are_sharded_between_workers(records, two_workers):
  _, outputs, _ = two_workers
  contexts = [(o['num_input_pipelines'], o['input_pipeline_id'],
               o['num_replicas_in_sync']) for o in outputs]
  assert contexts == [(2, 0, 2), (2, 1, 2)]
  ids = [o['video_ids'] for o in outputs]
  assert all(ids) and all(len(set(i)) == len(i) for i in ids)
  assert not set(ids[0]) & set(ids[1])
  all_ids, _ = video_input.read_ids_and_labels(
      worker.eval_input(worker.pretrain_params(records)))
  assert sorted(ids[0] + ids[1]) == sorted(all_ids)
  assert len(all_ids) == 10


def test_tfds_files_are_sharded_between_workers(two_workers,
                                               tfds_data_dir):
  """Each worker's TFDS input reads its own files of the split (the input
  context of the strategy), and together they read the split once."""
  _, outputs, _ = two_workers
  ids = [o['tfds_video_ids'] for o in outputs]
  files = [{i.split('__')[0] for i in worker_ids} for worker_ids in ids]
  assert all(len(f) == 2 for f in files) and not files[0] & files[1]
  assert not set(ids[0]) & set(ids[1])
  split = tfds.builder(worker.TFDS_NAME, data_dir=tfds_data_dir).as_dataset(
      split='train', read_config=tfds.ReadConfig(add_tfds_id=True))
  all_ids = [i.decode() for i in
             split.map(lambda x: x['tfds_id']).as_numpy_iterator()]
  assert sorted(ids[0] + ids[1]) == sorted(all_ids) and len(all_ids) == 8


def test_batch_must_split_over_workers(tmp_path):
  # Unreadable input: reading it would fail with another error.
  (tmp_path / 'train-0.tfrecord').write_bytes(b'not a record')
  overrides = ','.join([
      f'task.train_data.input_path={tmp_path / "train-*.tfrecord"}',
      'task.train_data.global_batch_size=3',
      'runtime.distribution_strategy=multi_worker_mirrored',
      'runtime.num_gpus=0', 'runtime.mixed_precision_dtype=float32'])
  command = ['-m', 'cvrl_tf.train', '--experiment=cvrl_pretrain',
             '--mode=train', f'--model_dir={tmp_path / "model"}',
             f'--params_override={overrides}']
  results = worker.run_workers([command] * NUM_WORKERS,
                               worker.cluster_envs(NUM_WORKERS))
  expected = ('error: task.train_data.global_batch_size=3 does not split '
              'over the 2 replicas of the distribution strategy: use a '
              'multiple of 2.')
  for result in results:
    assert result.returncode != 0
    # The project's one error line; TensorFlow's gRPC runtime may still log
    # a heartbeat failure after it, as the other worker exits too.
    errors = [line for line in result.stderr.splitlines()
              if line.startswith('error:')]
    assert errors == [expected], result.stderr[-2000:]
    assert 'Traceback' not in result.stderr


def test_pretraining_with_model_dir_in_memory(records):
  model_dir = 'ram://cvrl_tf_tests/pretrain'
  # What is tested is the model_dir, not the training views.
  params = tiny_experiments.tiny_pretrain(records, train_steps=2,
                                          checkpoint_interval=1,
                                          spatial_augmentation=False)
  model, _ = train.run(params, 'train', model_dir)
  assert tf.io.gfile.exists(os.path.join(model_dir, 'params.yaml'))
  assert tf.io.gfile.glob(os.path.join(model_dir, 'train', 'events*'))
  latest = tf.train.latest_checkpoint(model_dir)
  assert latest == os.path.join(model_dir, 'ckpt-2')
  restored = pretrain.CVRLPretrainTask(params.task).build_model()
  tf.train.Checkpoint(model=restored).read(
      latest).expect_partial().assert_existing_objects_matched()
  assert len(restored.weights) == len(model.weights)
  for saved, trained in zip(restored.weights, model.weights):
    np.testing.assert_array_equal(saved.numpy(), trained.numpy())
