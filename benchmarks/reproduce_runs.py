"""The runs of the reproduction: settings, toy data, training, evaluation.

Every run (one setting and seed) lives in a folder keyed by a hash of its
definition: the setting, the seed, the toy data's generation parameters,
the full training and evaluation configs. A rerun reuses a finished run
only if its definition is the same, so a larger budget or another toy
variant trains anew, and training never resumes from a checkpoint of
another definition (`run_keys.claim_run_dir`).
"""
import dataclasses
import json
import os
import time
from typing import Callable, Dict, Optional, Sequence

import tensorflow as tf

from benchmarks import run_keys
from cvrl_tf import demo
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf import train
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.data_prep import toy_videos
from cvrl_tf.evaluation import protocols
from cvrl_tf.modeling import inflation

METRICS_FILE = 'metrics.json'
SINGLE_FRAME_FILE = 'single_frame_metrics.json'
SETTING_NAMES = ('cvrl', 'ta', 'sa', 'ta_sa', 'random_init',
                 'simclr_inflated', 'supervised')


@dataclasses.dataclass(frozen=True)
class Setting:
  """One row of the results: how its encoder is trained.

  Attributes:
    name: key in reproduce.json.
    label: what the Markdown table and chart call it.
    paper: the paper's Kinetics-400 linear top-1 (%), or None.
    paper_source: which table of the paper `paper` comes from.
    kind: 'contrastive', 'frames' (contrastive on T = 1, then inflated),
      'supervised' or 'random'.
    augmentation: override of `task.train_data.augmentation`.
  """
  name: str
  label: str
  paper: Optional[float]
  paper_source: str
  kind: str
  augmentation: Dict[str, Dict[str, object]] = dataclasses.field(
      default_factory=dict)


SETTINGS = {s.name: s for s in (
    Setting('cvrl', 'CVRL (TA+SA+TC)', 58.8, 'Table 4; Table 1: 66.1',
            'contrastive'),
    Setting('ta', 'TA', 24.8, 'Table 4', 'contrastive',
            {'spatial': {'enabled': False}}),
    Setting('sa', 'SA', 40.4, 'Table 4', 'contrastive',
            {'temporal': {'enabled': False}}),
    Setting('ta_sa', 'TA+SA', 49.2, 'Table 4', 'contrastive',
            {'spatial': {'temporally_consistent': False}}),
    Setting('random_init', 'random init', None, '', 'random'),
    Setting('simclr_inflated', 'SimCLR inflated', 46.9, 'Table 1', 'frames'),
    Setting('supervised', 'supervised', 75.8, 'Table 1', 'supervised'),
)}


@dataclasses.dataclass(frozen=True)
class Budget:
  """The data and training budget shared by all settings.

  Attributes:
    train_per_class: toy training videos per class.
    test_per_class: toy test videos per class.
    train_steps: training steps of every setting (the toy preset's schedule
      rescaled to them, `demo.pretrain_params`).
    seeds: the seeds of every setting.
    vary_appearance: the toy variant in which every video has its own
      colours and object scale (`toy_appearance.vary_appearance`), the shortcut
      that spatial augmentation blocks; False: the demo's toy.
  """
  train_per_class: int = 50
  test_per_class: int = 20
  train_steps: int = 0
  seeds: Sequence[int] = (0, 1, 2)
  vary_appearance: bool = True


QUICK = Budget(train_per_class=2, test_per_class=1, train_steps=2,
               seeds=(0,))


def toy_data_definition(budget: Budget,
                        flow: Optional[str] = None) -> Dict[str, object]:
  """The generation parameters of the toy videos (and their records).

  `flow`: the records also hold optical flow of this method
  (`optical_flow.FLOW_METHODS`); None, the default, leaves the field out,
  so data without flow keeps the definition it had before flow existed.
  """
  definition = {'train_per_class': budget.train_per_class,
                'test_per_class': budget.test_per_class, 'seed': 0,
                'size': 128, 'fps': 25,
                'num_appearances': toy_videos.DEFAULT_NUM_APPEARANCES,
                'vary': budget.vary_appearance,
                'record_min_resize': demo.RECORD_MIN_RESIZE}
  if flow is not None:
    definition['flow'] = flow
  return definition


def data_paths(work_dir: str, budget: Budget,
               flow: Optional[str] = None) -> demo.DemoPaths:
  """Where the budget's toy data lives, in a folder keyed by its generation
  parameters (`prepare_data` writes it)."""
  return demo.DemoPaths(os.path.join(
      work_dir, 'data',
      run_keys.definition_key(toy_data_definition(budget, flow))))


def prepare_data(work_dir: str, budget: Budget,
                 flow: Optional[str] = None) -> demo.DemoPaths:
  """Writes (or finds) the budget's toy videos and records.

  With `flow`, the records of the same videos (those of the data without
  flow, prepared first) with their optical flow; the folder holds records
  only. A marker written last says the data is complete, so an interrupted
  run regenerates it (videos are deterministic, the converter resumes its
  shards).
  """
  definition = toy_data_definition(budget, flow)
  paths = data_paths(work_dir, budget, flow)
  marker = os.path.join(paths.root, run_keys.DEFINITION_FILE)
  if tf.io.gfile.exists(marker):
    run_keys.claim_run_dir(paths.root, definition)
    return paths
  if flow is None:
    generation = {k: v for k, v in definition.items()
                  if k != 'record_min_resize'}
    toy_videos.make_toy_dataset(paths.videos, **generation)
    demo.make_records(paths)
  else:
    demo.make_records(paths, flow=flow,
                      video_dir=prepare_data(work_dir, budget).videos)
  run_keys.record_definition(paths.root, definition)
  return paths


def contrastive_params(paths: demo.DemoPaths, setting: Setting,
                       train_steps: int, seed: int):
  """The toy pretraining experiment with the setting's augmentation."""
  params = demo.pretrain_params(paths, train_steps)
  override = {'train_data': {'seed': seed,
                             'augmentation': setting.augmentation}}
  if setting.kind == 'frames':
    frame_shape = [1] + list(params.task.train_data.feature_shape[1:])
    override['train_data']['feature_shape'] = frame_shape
    override['validation_data'] = {'feature_shape': frame_shape}
  params.override({'task': override}, is_strict=True)
  return params


def supervised_params(paths: demo.DemoPaths, train_steps: int, seed: int):
  """The toy backbone trained from scratch on the toy labels.

  Same clips, budget and batch as pretraining; random crop and flip only,
  momentum SGD as in fine-tuning.
  """
  toy = demo.pretrain_params(paths, train_steps)
  clips = {'feature_shape': toy.task.train_data.feature_shape,
           'temporal_stride': toy.task.train_data.temporal_stride,
           'min_image_size': toy.task.train_data.min_image_size,
           'num_classes': demo.NUM_TOY_CLASSES}
  params = config_validation.experiment_params('cvrl_finetune')
  params.override({
      'runtime': toy.runtime.as_dict(),
      'task': {
          'model': {'backbone': toy.task.model.backbone.as_dict(),
                    'norm_activation': toy.task.model.norm_activation.as_dict(),
                    'dropout_rate': 0.0},
          'train_data': dict(
              clips, input_path=paths.record_pattern('train'), seed=seed,
              global_batch_size=toy.task.train_data.global_batch_size),
          'validation_data': dict(clips, input_path=paths.record_pattern(
              'test'), num_test_clips=1, num_test_crops=1),
      },
      'trainer': {
          'train_steps': train_steps,
          'steps_per_loop': toy.trainer.steps_per_loop,
          'summary_interval': toy.trainer.summary_interval,
          'checkpoint_interval': toy.trainer.checkpoint_interval,
          'optimizer_config': {
              'learning_rate': {'cosine': {'initial_learning_rate': 0.1,
                                           'decay_steps': train_steps}},
              'warmup': {'linear': {
                  'warmup_steps': toy.trainer.optimizer_config.warmup
                                  .linear.warmup_steps}}}},
  }, is_strict=True)
  params.validate()
  return params


def training_params(paths: demo.DemoPaths, setting: Setting, budget: Budget,
                    seed: int):
  """The experiment that trains the setting's encoder (None: random)."""
  if setting.kind == 'random':
    return None
  if setting.kind == 'supervised':
    params = supervised_params(paths, budget.train_steps, seed)
  else:
    params = contrastive_params(paths, setting, budget.train_steps, seed)
  # A checkpoint every loop: a run killed without warning loses one loop.
  params.override({'trainer': {
      'checkpoint_interval': params.trainer.steps_per_loop}}, is_strict=True)
  return params


def run_definition(paths: demo.DemoPaths, setting: Setting, budget: Budget,
                   seed: int) -> Dict[str, object]:
  """Everything that defines one run's result, as plain JSON data."""
  training = training_params(paths, setting, budget, seed)
  evaluation = demo.pretrain_params(paths, budget.train_steps)
  return {
      'setting': dataclasses.asdict(setting), 'seed': seed,
      'data': toy_data_definition(budget),
      'train': (run_keys.defining_config(training.as_dict()) if training
                else None),
      'evaluation': run_keys.defining_config(
          demo.eval_data(evaluation, '').as_dict()),
  }


def run_dir_of(work_dir: str, definition: Dict[str, object]) -> str:
  """runs/<setting>-seed<N>-<key of the definition>."""
  return os.path.join(work_dir, 'runs', run_keys.run_name(definition))


class TrainingInterrupted(RuntimeError):
  """Training stopped before its last step (a signal); rerun to resume."""


def checkpoint_step(train_dir: str) -> int:
  """The global step of the latest checkpoint in `train_dir` (0: none)."""
  latest = tf.train.latest_checkpoint(train_dir)
  return int(latest.rsplit('-', 1)[1]) if latest else 0


def train_until(params, train_dir: str, steps: int) -> None:
  """Trains (resuming from `train_dir`) to `steps`, or raises if stopped."""
  train.run(params, 'train', train_dir)
  reached = checkpoint_step(train_dir)
  if reached < steps:
    raise TrainingInterrupted(
        f'training in {train_dir} stopped at step {reached} of {steps}.')


def train_encoder(paths: demo.DemoPaths, setting: Setting, budget: Budget,
                  seed: int, run_dir: str) -> tuple:
  """Trains the setting's encoder; returns (params, checkpoint or '').

  `params` describes the encoder to evaluate (clips of the toy preset).
  Training resumes from `run_dir`, which must hold this run only
  (`run_keys.claim_run_dir`).
  """
  evaluation_params = demo.pretrain_params(paths, budget.train_steps)
  params = training_params(paths, setting, budget, seed)
  if params is None:
    return evaluation_params, ''
  train_dir = os.path.join(run_dir, 'train')
  tf.keras.utils.set_random_seed(seed)
  train_until(params, train_dir, budget.train_steps)
  encoder_dir = encoder_checkpoint(setting, run_dir)
  if setting.kind == 'frames' and not tf.io.gfile.exists(
      os.path.join(encoder_dir, 'checkpoint')):
    inflation.inflate_checkpoint(evaluation_params.task.model, train_dir,
                                 encoder_dir, source='single_frame')
  return evaluation_params, encoder_dir


def encoder_checkpoint(setting: Setting, run_dir: str) -> str:
  """Where the encoder a run evaluates is saved ('' for random weights)."""
  if setting.kind == 'random':
    return ''
  return os.path.join(run_dir,
                      'inflated' if setting.kind == 'frames' else 'train')


def evaluate(paths: demo.DemoPaths, params, checkpoint: str,
             seed: int) -> Dict[str, float]:
  """Fast linear probe and kNN of one encoder on the toy splits."""
  encode = demo.build_encoder(params, checkpoint, seed=seed)
  return protocols.evaluate_encoder(
      encode, demo.eval_data(params, paths.record_pattern('train')),
      demo.eval_data(params, paths.record_pattern('test')),
      demo.NUM_TOY_CLASSES, seed=seed)


def read_json(path: str):
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def write_json(path: str, value) -> None:
  """Writes JSON next to `path` and renames it: never a truncated file."""
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path + '.partial', 'w') as f:
    json.dump(value, f, indent=2)
  tf.io.gfile.rename(path + '.partial', path, overwrite=True)


class Timer:
  """Wall and CPU seconds, added to `path` even when the work is interrupted.

  CPU time is this process's (all its threads). A resumed run adds its
  time to what the interrupted one recorded.
  """

  def __init__(self, path: str):
    self._path = path

  def __enter__(self):
    self._start = time.monotonic(), time.process_time()
    return self

  def __exit__(self, *unused_exc_info):
    spent = self.recorded()
    spent['wall_seconds'] += time.monotonic() - self._start[0]
    spent['cpu_seconds'] += time.process_time() - self._start[1]
    write_json(self._path, spent)

  def recorded(self) -> Dict[str, float]:
    if tf.io.gfile.exists(self._path):
      return read_json(self._path)
    return {'wall_seconds': 0.0, 'cpu_seconds': 0.0}


def claimed_run_dir(paths: demo.DemoPaths, setting: Setting, budget: Budget,
                    seed: int, work_dir: str) -> str:
  """The run's keyed folder, claimed for its definition (`run_keys`)."""
  definition = run_definition(paths, setting, budget, seed)
  run_dir = run_dir_of(work_dir, definition)
  run_keys.claim_run_dir(run_dir, definition)
  return run_dir


def evaluate_setting(paths: demo.DemoPaths, setting: Setting, budget: Budget,
                     seed: int, work_dir: str) -> Dict[str, float]:
  """Linear top-1 and kNN metrics of one setting and seed (cached).

  The metrics also hold the run's wall and CPU seconds (training and
  evaluation, summed over interrupted attempts).
  """
  run_dir = claimed_run_dir(paths, setting, budget, seed, work_dir)

  def train_and_evaluate():
    params, checkpoint = train_encoder(paths, setting, budget, seed, run_dir)
    return evaluate(paths, params, checkpoint, seed)
  return timed_metrics(run_dir, train_and_evaluate)


def timed_metrics(run_dir: str,
                  train_and_evaluate: Callable[[], Dict[str, float]]
                  ) -> Dict[str, float]:
  """The run's metrics.json, or `train_and_evaluate()` timed and saved.

  The metrics also hold the run's wall and CPU seconds (`Timer`).
  """
  metrics_path = os.path.join(run_dir, METRICS_FILE)
  if tf.io.gfile.exists(metrics_path):
    return read_json(metrics_path)
  timer = Timer(os.path.join(run_dir, 'time.json'))
  with timer:
    metrics = train_and_evaluate()
  metrics.update(timer.recorded())
  write_json(metrics_path, metrics)
  return metrics


def single_frame_probe(paths: demo.DemoPaths, setting: Setting,
                       budget: Budget, seed: int,
                       work_dir: str) -> Dict[str, float]:
  """Linear top-1 and kNN metrics of a run's encoder on one-frame clips.

  A frame shows where the object is and its size and orientation, not how
  it moves: this measures how much of the class one frame's appearance
  gives away to each encoder. The run must have finished (`evaluate_setting`).
  """
  run_dir = claimed_run_dir(paths, setting, budget, seed, work_dir)
  metrics_path = os.path.join(run_dir, SINGLE_FRAME_FILE)
  if tf.io.gfile.exists(metrics_path):
    return read_json(metrics_path)
  params = demo.pretrain_params(paths, budget.train_steps)
  params.task.train_data.feature_shape = (
      [1] + list(params.task.train_data.feature_shape[1:]))
  metrics = evaluate(paths, params, encoder_checkpoint(setting, run_dir),
                     seed)
  write_json(metrics_path, metrics)
  return metrics
