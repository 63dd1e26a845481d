"""Interrupted training resumes exactly; divergence never reaches a checkpoint.

The trainer CLI runs in subprocesses on toy records with a tiny
deterministic config (R3D-18 x 0.25, 4 frames of 32^2, batch 4, 16 steps of
one loop each, a checkpoint every 3 steps). One model directory is trained
by four processes in turn:

  1. killed (SIGKILL) while committing the checkpoint of step 7, after its
     files were written;
  2. killed (SIGKILL) at a random moment of training;
  3. sent SIGTERM, as on preemption;
  4. started next to planted half-written checkpoint files, runs to the end;

and compared with an uninterrupted run of the same config, all with the
full augmentation. Alongside run a config whose learning rate explodes
after a few steps, and a check of the checkpointable input under two
replicas (`replica_input_worker.py`), both without spatial augmentation.
"""
import dataclasses
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import types
from typing import Dict, List, Optional

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
import yaml

from official.core import train_utils

from cvrl_tf.configs import validation as config_validation
from cvrl_tf.tasks import pretrain
from cvrl_tf.training import determinism
from cvrl_tf.training import numerics
from cvrl_tf.training import preemption
from cvrl_tf.training import trainer as trainer_lib
from tiny_experiments import tiny_pretrain
from toy_records import write_toy_records

# A hang guard: generous, as the machine may be shared.
pytestmark = pytest.mark.timeout(3600)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILL_WORKER = os.path.join(REPO, 'tests', 'checkpoint_kill_worker.py')
REPLICA_WORKER = os.path.join(REPO, 'tests', 'replica_input_worker.py')
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
TRAIN_STEPS = 16
CHECKPOINT_INTERVAL = 3
# The first loop always saves, so checkpoints are at steps 1, 4, 7, ...
KILLED_SAVE = 7
PROCESS_TIMEOUT = 1500
PROGRESS = re.compile(r'\] step (\d+)/\d+ (.*) steps/sec=')
RESTORED = re.compile(r'restored from checkpoint: \S*ckpt-(\d+)')


# The full CVRL augmentation (temporal and spatial) of the paper presets.
TRAIN_DATA = {'global_batch_size': 4}


def resumable_config(record_pattern: str, spatial_augmentation: bool = True):
  params = tiny_pretrain(record_pattern, TRAIN_STEPS, CHECKPOINT_INTERVAL,
                         spatial_augmentation)
  params.override({
      'task': {'deterministic': True, 'train_data': TRAIN_DATA},
      'trainer': {'steps_per_loop': 1, 'summary_interval': 1,
                  'max_to_keep': TRAIN_STEPS}})
  return params


def diverging_config(record_pattern: str):
  """A learning rate of 1e30 from step 6 on, and a checkpoint every step."""
  params = tiny_pretrain(record_pattern, 8, checkpoint_interval=1,
                         spatial_augmentation=False)
  params.override({
      'task': {'train_data': TRAIN_DATA},
      'trainer': {
          'steps_per_loop': 1, 'summary_interval': 1, 'max_to_keep': 8,
          'optimizer_config': {
              'learning_rate': {'type': 'stepwise', 'stepwise': {
                  'boundaries': [4], 'values': [0.5, 1e30]}},
              'warmup': {'type': None}}}})
  return params


def write_config(path, params) -> str:
  with open(path, 'w') as f:
    yaml.safe_dump(params.as_dict(), f)
  return str(path)


def checkpoint_step(path: Optional[str]) -> Optional[int]:
  return int(path.rsplit('-', 1)[1]) if path else None


def latest_step(model_dir) -> Optional[int]:
  return checkpoint_step(tf.train.latest_checkpoint(str(model_dir)))


class LoggedProcess:
  """A subprocess writing its output to a file, with a deadline."""

  def __init__(self, command: List[str], log_path, cwd: str = REPO):
    self._log_path = str(log_path)
    with open(self._log_path, 'w') as log:
      self.process = subprocess.Popen(
          [sys.executable, *command], cwd=cwd, stdout=log,
          stderr=subprocess.STDOUT, env=ENV)
    self._deadline = time.monotonic() + PROCESS_TIMEOUT

  def log(self) -> str:
    with open(self._log_path) as f:
      return f.read()

  def wait_for_step(self, step: int) -> None:
    """Returns once a loop ending at `step` or later was logged."""
    while max(progress(self.log()), default=0) < step:
      if self.process.poll() is not None:
        pytest.fail(f'exited before step {step}:\n{self.log()[-3000:]}')
      if time.monotonic() > self._deadline:
        self.process.kill()
        pytest.fail(f'no step {step} in {PROCESS_TIMEOUT} s')
      time.sleep(0.05)

  def finish(self) -> 'Outcome':
    """Waits for the exit; a process past its deadline is killed."""
    try:
      returncode = self.process.wait(
          timeout=max(self._deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
      self.process.kill()
      self.process.wait()
      return Outcome(None, self.log() + f'\n[killed after {PROCESS_TIMEOUT} s]')
    return Outcome(returncode, self.log())


def trainer_process(config_file: str, model_dir, log_path,
                    worker=()) -> LoggedProcess:
  """`python -m cvrl_tf.train` on `config_file`, or a worker wrapping it."""
  return LoggedProcess(
      [*(worker or ['-m', 'cvrl_tf.train']), '--experiment=cvrl_pretrain',
       f'--config_file={config_file}', '--mode=train',
       f'--model_dir={model_dir}'], log_path)


def progress(log: str) -> Dict[int, str]:
  """Step -> the logged loss, metrics and learning rate of that loop."""
  return {int(step): figures for step, figures in PROGRESS.findall(log)}


@dataclasses.dataclass
class Outcome:
  returncode: Optional[int]
  log: str
  latest_step: Optional[int] = None  # of the model dir once it ended

  @property
  def steps(self) -> List[int]:
    return sorted(progress(self.log))

  @property
  def restored_step(self) -> Optional[int]:
    match = RESTORED.search(self.log)
    return int(match.group(1)) if match else None


def interrupted_stages(config_file: str, model_dir, log_dir,
                       started: List[LoggedProcess]) -> List[Outcome]:
  """Trains `model_dir` to the end in four interrupted processes."""
  rng = random.Random(0)
  stages = []

  def stage(name, interrupt=None, worker=()):
    process = trainer_process(config_file, model_dir,
                              os.path.join(log_dir, f'{name}.log'), worker)
    started.append(process)
    if interrupt:
      interrupt(process)
    outcome = process.finish()
    outcome.latest_step = latest_step(model_dir)
    stages.append(outcome)

  def sigkill_mid_training(process):
    process.wait_for_step(rng.randint(6, 10))
    time.sleep(rng.uniform(0.0, 0.3))
    process.process.send_signal(signal.SIGKILL)

  def sigterm(process):
    process.wait_for_step(stages[-1].latest_step + rng.randint(1, 2))
    process.process.send_signal(signal.SIGTERM)

  stage('killed_committing', worker=[KILL_WORKER, str(KILLED_SAVE)])
  stage('killed_at_random', sigkill_mid_training)
  stage('preempted', sigterm)
  plant_half_written_checkpoints(model_dir)
  stage('final')
  return stages


@pytest.fixture(scope='module')
def record_pattern(tmp_path_factory):
  return write_toy_records(str(tmp_path_factory.mktemp('records')),
                           videos_per_class=2, size=32)


@pytest.fixture(scope='module')
def runs(tmp_path_factory, record_pattern):
  """Every subprocess of this module, run once.

  The interrupted stages run one after the other; meanwhile, one at a time,
  the uninterrupted reference, the diverging run and the replica check.
  """
  root = tmp_path_factory.mktemp('resume')
  resumable = write_config(root / 'resumable.yaml',
                           resumable_config(record_pattern))
  side_commands = {
      'reference': lambda: trainer_process(
          resumable, root / 'reference', root / 'reference.log'),
      'diverging': lambda: trainer_process(
          write_config(root / 'diverging.yaml',
                       diverging_config(record_pattern)),
          root / 'diverging', root / 'diverging.log'),
      'replica_inputs': lambda: LoggedProcess(
          [REPLICA_WORKER, write_config(
              root / 'replica_inputs.yaml',
              resumable_config(record_pattern, spatial_augmentation=False)),
           str(root / 'replica_inputs.npz')],
          root / 'replica_inputs.log', cwd=os.path.join(REPO, 'tests')),
  }
  started, side, stopping = [], {}, threading.Event()

  def side_runs():
    for name, start in side_commands.items():
      if stopping.is_set():
        return
      started.append(start())
      side[name] = started[-1].finish()

  thread = threading.Thread(target=side_runs, daemon=True)
  thread.start()
  try:
    stages = interrupted_stages(resumable, root / 'interrupted', root,
                                started)
    thread.join(timeout=len(side_commands) * PROCESS_TIMEOUT)
  finally:
    stopping.set()
    for process in started:
      if process.process.poll() is None:
        process.process.kill()
  return types.SimpleNamespace(
      stages=stages, model_dir=root / 'interrupted',
      reference_dir=root / 'reference', diverging_dir=root / 'diverging',
      replica_inputs_path=root / 'replica_inputs.npz', **side)


PLANTED_STEP = TRAIN_STEPS + 10


def plant_half_written_checkpoints(model_dir) -> None:
  """Leftovers of saves that died: data without index, a temporary shard."""
  with open(os.path.join(model_dir, f'ckpt-{PLANTED_STEP}.data-00000-of-00001'),
            'wb') as f:
    f.write(os.urandom(4096))
  temp_dir = os.path.join(model_dir, f'ckpt-{PLANTED_STEP + 1}_temp')
  os.makedirs(temp_dir)
  with open(os.path.join(temp_dir, 'part-00000-of-00001.data-00000-of-00001'),
            'wb') as f:
    f.write(os.urandom(4096))


def numeric_tensors(checkpoint_path: str) -> Dict[str, np.ndarray]:
  """Every number in a checkpoint but the save counter."""
  reader = tf.train.load_checkpoint(checkpoint_path)
  return {name: reader.get_tensor(name)
          for name, dtype in reader.get_variable_to_dtype_map().items()
          if (dtype.is_floating or dtype.is_integer)
          and not name.startswith('save_counter')}


def test_kill_while_committing_a_checkpoint_keeps_the_previous_one(runs):
  first, second = runs.stages[:2]
  assert first.returncode == -signal.SIGKILL, first.log[-3000:]
  assert max(first.steps) == KILLED_SAVE
  # The killed save had written its files: only the state file, written
  # last, tells that it never completed.
  for suffix in ('.index', '.data-00000-of-00001'):
    assert os.path.exists(
        os.path.join(runs.model_dir, f'ckpt-{KILLED_SAVE}{suffix}'))
  assert first.latest_step == KILLED_SAVE - CHECKPOINT_INTERVAL
  assert second.restored_step == KILLED_SAVE - CHECKPOINT_INTERVAL
  assert second.steps[0] == second.restored_step + 1


def test_sigkill_at_a_random_moment_resumes_from_the_last_checkpoint(runs):
  killed, resumed = runs.stages[1:3]
  assert killed.returncode == -signal.SIGKILL, killed.log[-3000:]
  assert max(killed.steps) < TRAIN_STEPS
  assert resumed.restored_step == killed.latest_step
  # At most one checkpoint interval of steps is trained again.
  assert 0 <= max(killed.steps) - killed.latest_step <= CHECKPOINT_INTERVAL
  assert resumed.steps[0] == killed.latest_step + 1


def test_sigterm_saves_the_current_step_and_exits_zero(runs):
  stopped, resumed = runs.stages[2:4]
  assert stopped.returncode == 0, stopped.log[-3000:]
  last_step = max(stopped.steps)
  assert last_step < TRAIN_STEPS
  assert f'stopped by SIGTERM at step {last_step}' in stopped.log
  assert stopped.latest_step == last_step
  assert resumed.restored_step == last_step
  assert resumed.steps[0] == last_step + 1


def test_half_written_checkpoint_files_are_ignored(runs):
  final = runs.stages[3]
  assert final.returncode == 0, final.log[-3000:]
  assert final.restored_step == runs.stages[2].latest_step
  assert final.latest_step == TRAIN_STEPS
  state = tf.train.get_checkpoint_state(str(runs.model_dir))
  assert all(checkpoint_step(path) <= TRAIN_STEPS
             for path in state.all_model_checkpoint_paths)


def test_interrupted_run_ends_with_the_uninterrupted_weights(runs):
  assert runs.reference.returncode == 0, runs.reference.log[-3000:]
  assert runs.reference.steps == list(range(1, TRAIN_STEPS + 1))
  # Every loop of every stage logged the loss, metrics and learning rate of
  # the uninterrupted run at that step: same batches, same schedule.
  expected = progress(runs.reference.log)
  for stage in runs.stages:
    for step, figures in progress(stage.log).items():
      assert figures == expected[step], (step, figures, expected[step])
  final = numeric_tensors(os.path.join(runs.model_dir, f'ckpt-{TRAIN_STEPS}'))
  reference = numeric_tensors(
      os.path.join(runs.reference_dir, f'ckpt-{TRAIN_STEPS}'))
  assert final.keys() == reference.keys()
  assert any(name.startswith('model/') for name in final)
  for name, value in reference.items():
    np.testing.assert_array_equal(final[name], value, err_msg=name)
  assert final['global_step/.ATTRIBUTES/VARIABLE_VALUE'] == TRAIN_STEPS


def test_two_replicas_get_their_batches_and_their_nan_noticed(runs):
  outcome = runs.replica_inputs
  assert outcome.returncode == 0, outcome.log[-3000:]
  arrays = np.load(runs.replica_inputs_path)
  got = sorted(name for name in arrays if name.startswith('got_'))
  assert len(got) == 8  # 2 steps x 2 replicas x (image, label)
  for name in got:
    np.testing.assert_array_equal(arrays[name], arrays['want' + name[3:]],
                                  err_msg=name)
  assert not np.array_equal(arrays['got_0_0_0'], arrays['got_0_1_0'])
  # Only the second replica's loss was NaN, at step 2.
  assert arrays['first_nonfinite_step'] == 2


def test_divergence_stops_before_a_checkpoint_holds_it(runs):
  outcome = runs.diverging
  assert outcome.returncode == 1, outcome.log[-3000:]
  errors = [line for line in outcome.log.splitlines()
            if line.startswith('error:')]
  assert len(errors) == 1 and 'Traceback' not in outcome.log, outcome.log
  match = re.search(r'(loss is (nan|inf|-inf) at|not finite after) step '
                    r'(\d+)', errors[0])
  assert match, errors[0]
  bad_step = int(match.group(3))
  latest = tf.train.latest_checkpoint(str(runs.diverging_dir))
  assert checkpoint_step(latest) == bad_step - 1
  assert latest in errors[0]
  assert not any(name.startswith(f'ckpt-{bad_step}')
                 for name in os.listdir(runs.diverging_dir))
  for name, value in numeric_tensors(latest).items():
    assert np.all(np.isfinite(value)), name


def tiny_model_trainer():
  """What `NonFiniteGuard` reads of a trainer, around a one-layer model."""
  model = tf_keras.Sequential([tf_keras.layers.Dense(2, input_shape=(3,))])
  optimizer = tf_keras.optimizers.SGD(0.1, momentum=0.9)
  optimizer.build(model.trainable_variables)
  return types.SimpleNamespace(
      model=model, optimizer=optimizer,
      global_step=tf.Variable(5, dtype=tf.int64),
      first_nonfinite=numerics.FirstNonFiniteStep())


def test_first_nonfinite_step_keeps_the_first_one():
  first = numerics.FirstNonFiniteStep()
  update = tf.function(first.update)
  for step, loss in [(1, 2.0), (2, float('inf')), (3, float('nan'))]:
    update(tf.constant(loss), tf.constant(step, tf.int64))
  assert int(first.step.numpy()) == 2
  assert float(first.loss.numpy()) == float('inf')


def test_guard_names_the_step_of_a_nonfinite_loss(tmp_path):
  trainer = tiny_model_trainer()
  guard = numerics.NonFiniteGuard(trainer, str(tmp_path))
  guard({})
  trainer.first_nonfinite.update(tf.constant(float('nan')),
                                 tf.constant(4, tf.int64))
  with pytest.raises(numerics.NonFiniteError,
                     match=r'loss is nan at step 4.*latest: none'):
    guard({})


@pytest.mark.parametrize('part', ['model', 'optimizer'])
def test_guard_catches_nonfinite_variables_behind_a_finite_loss(tmp_path,
                                                                part):
  trainer = tiny_model_trainer()
  guard = numerics.NonFiniteGuard(trainer, str(tmp_path))
  variables = (trainer.model.weights if part == 'model' else
               numerics.optimizer_variables(trainer.optimizer))
  # The kernel, or its momentum.
  variable = next(v for v in variables if v.dtype.is_floating)
  variable.assign(tf.fill(variable.shape, float('nan')))
  with pytest.raises(numerics.NonFiniteError,
                     match='not finite after step 5'):
    guard({})


def test_stop_signal_sets_a_flag_then_restores_the_handler():
  before = signal.getsignal(signal.SIGTERM)
  with preemption.StopSignal(signal.SIGTERM) as stop_signal:
    action = preemption.StopIfSignalled(stop_signal)
    action({})
    # Delivered to this thread, so handled before the next statement.
    signal.raise_signal(signal.SIGTERM)
    assert stop_signal.received
    with pytest.raises(preemption.StopRequested, match='SIGTERM'):
      action({})
  assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize('override, message', [
    ({'task': {'train_data': {'seed': None}}}, 'needs task.train_data.seed'),
    ({'runtime': {'distribution_strategy': 'tpu'}}, "not 'tpu'"),
])
def test_deterministic_config_errors(override, message):
  params = resumable_config('unused')
  params.override(override)
  with pytest.raises(config_validation.ConfigError, match=message):
    determinism.check_config(params)


def test_input_saved_by_another_pipeline_is_a_clear_error(record_pattern,
                                                          tmp_path):
  params = resumable_config(record_pattern, spatial_augmentation=False)
  task = pretrain.CVRLPretrainTask(params.task)
  # The model is a stand-in: only the input's state is restored.
  model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(1,))])
  trainer = trainer_lib.Trainer(
      params, task, model, train_utils.create_optimizer(task, params),
      evaluate=False, checkpoint_input=True)
  assert isinstance(getattr(trainer.checkpoint, trainer_lib.ITERATOR_KEY),
                    tf.data.Iterator)
  foreign = iter(tf.data.Dataset.range(5))
  next(foreign)
  path = tf.train.Checkpoint(train_iterator=foreign).write(
      str(tmp_path / 'ckpt-1'))
  with pytest.raises(determinism.InputStateError,
                     match='does not fit this input pipeline'):
    with determinism.explain_input_restore_errors(str(tmp_path)):
      trainer.checkpoint.restore(path)
