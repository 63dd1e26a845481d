"""Toy runs of the pretraining methods besides CVRL: TCLR and ViCC.

Each method trains the reproduction's half-width R3D-18 on 8 x 32^2 clips
of the reproduction's toy videos (`reproduce_runs.prepare_data`) with its
own toy preset (`tclr_pretrain_toy.yaml`, `vicc_pretrain_toy.yaml`), its
schedule rescaled to the run's steps by shortening its epoch: a shorter run
keeps the preset's epochs, so warm-up, plateau and stages keep their share.
The RGB backbone is then evaluated with exactly the reproduction's probe
(`reproduce_runs.evaluate`, on the toy records without flow). Runs are
keyed by their definition (`run_keys`) and recorded like the reproduction's
(`run_records`).
"""
import dataclasses
import glob
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from benchmarks import reproduce_runs as runs
from benchmarks import run_keys
from benchmarks import run_records
from cvrl_tf import configs
from cvrl_tf import demo
from cvrl_tf.configs import validation as config_validation


@dataclasses.dataclass(frozen=True)
class Method:
  """A pretraining method's toy preset.

  Attributes:
    name: key in the results and in run names.
    experiment: the registered experiment.
    yamls: the paths of its toy preset (later ones override).
    flow: the optical flow its records must hold
      (`optical_flow.FLOW_METHODS`), or None.
  """
  name: str
  experiment: str
  yamls: Tuple[str, ...]
  flow: Optional[str] = None

  def preset_params(self):
    return config_validation.experiment_params(self.experiment,
                                               list(self.yamls))


# ViCC's flow is TV-L1 (`extract_ff.py`). On the toy records' 40 x 40
# frames it costs about 30 CPU-ms per flow against Farneback's 0.3
# (`benchmarks/flow_cost.py --height=40 --width=40`): about 35 CPU-min for
# the toy data's ~70k flows (700 videos of 2-6 s at 25 fps), more than ten
# ViCC toy runs, against 25 CPU-s. The toy runs therefore use Farneback, as
# `vicc_pretrain_toy.yaml` does; `methods_toy --vicc_flow=tvl1` runs
# ViCC's.
TOY_VICC_FLOW = 'farneback'
METHODS = {m.name: m for m in (
    Method('tclr', 'tclr_pretrain',
           (os.path.join(configs.EXPERIMENTS_DIR, 'tclr_pretrain_toy.yaml'),)),
    Method('vicc', 'vicc_pretrain',
           (os.path.join(configs.EXPERIMENTS_DIR, 'vicc_pretrain_toy.yaml'),),
           flow=TOY_VICC_FLOW),
)}


def logged_scalars(train_dir: str, tags: Sequence[str]
                   ) -> Dict[str, List[Tuple[int, float]]]:
  """The trainer's summaries of `tags` in `train_dir`: {tag: [(step, loop
  mean)]}, each the mean over a loop of `trainer.steps_per_loop` steps."""
  logged = {}
  for path in sorted(glob.glob(os.path.join(train_dir, 'train', 'events*'))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag in tags:
          number = (tf.make_ndarray(value.tensor) if value.HasField('tensor')
                    else value.simple_value)
          logged.setdefault(value.tag, []).append(
              (int(event.step), float(number)))
  return logged


def preset_epochs(method: Method) -> int:
  """Epochs of the method's toy preset (its steps / its epoch)."""
  params = method.preset_params()
  return params.trainer.train_steps // params.task.recipe.steps_per_epoch


def check_train_steps(method: Method, train_steps: int) -> None:
  """Raises ValueError unless the steps split into the preset's epochs."""
  epochs = preset_epochs(method)
  if train_steps <= 0 or train_steps % epochs:
    raise ValueError(f'--train_steps must be a positive multiple of {epochs} '
                     f'(the epochs of the {method.name} toy preset), got '
                     f'{train_steps}.')


def training_params(method: Method, paths: demo.DemoPaths, train_steps: int,
                    seed: int, model_override: Optional[Dict[str, Any]] = None):
  """The method's toy experiment on `paths`' records, its epoch rescaled.

  `model_override` overrides `task.model` (e.g. TCLR's `clip_batches`).
  """
  check_train_steps(method, train_steps)
  params = method.preset_params()
  steps_per_loop = params.trainer.steps_per_loop
  # A checkpoint every loop: a run killed without warning loses one loop.
  params.override({
      'task': {'model': model_override or {},
               'train_data': {'input_path': paths.record_pattern('train'),
                              'seed': seed},
               'validation_data': {'input_path': paths.record_pattern('test')},
               'recipe': {'steps_per_epoch':
                          train_steps // preset_epochs(method)}},
      'trainer': {'train_steps': train_steps,
                  'checkpoint_interval': steps_per_loop},
  }, is_strict=True)
  params.validate()
  return params


def evaluation_params(method: Method, paths: demo.DemoPaths,
                      budget: runs.Budget):
  """The reproduction's evaluation, whose backbone the method's toy shares."""
  params = demo.pretrain_params(paths, budget.train_steps)
  backbone = method.preset_params().task.model.backbone
  if backbone.as_dict() != params.task.model.backbone.as_dict():
    raise ValueError(f'The toy presets of CVRL and {method.name} must share '
                     'their backbone for one probe to evaluate both.')
  return params


@dataclasses.dataclass(frozen=True)
class MethodRun:
  """One toy run of a method.

  Attributes:
    method: the method.
    budget: data and steps (`reproduce_runs.Budget`).
    seed: the run's seed.
    work_dir: data and run folders (`reproduce_runs.run_dir_of`).
    model_override: overrides `task.model` (e.g. TCLR's `clip_batches`).
  """
  method: Method
  budget: runs.Budget
  seed: int
  work_dir: str
  model_override: Optional[Dict[str, Any]] = None

  def training_params(self, paths: demo.DemoPaths):
    return training_params(self.method, paths, self.budget.train_steps,
                           self.seed, self.model_override)

  def definition(self) -> Dict[str, object]:
    """Everything that defines the run's result (`run_keys`)."""
    method, budget = self.method, self.budget
    probe_paths = runs.data_paths(self.work_dir, budget)
    return {
        'setting': {'name': method.name, 'experiment': method.experiment},
        'seed': self.seed,
        'data': runs.toy_data_definition(budget, method.flow),
        'train': run_keys.defining_config(self.training_params(
            runs.data_paths(self.work_dir, budget, method.flow)).as_dict()),
        'evaluation': run_keys.defining_config(demo.eval_data(
            evaluation_params(method, probe_paths, budget), '').as_dict()),
    }

  def claimed_run_dir(self) -> str:
    """The run's keyed folder, claimed for its definition."""
    definition = self.definition()
    run_dir = runs.run_dir_of(self.work_dir, definition)
    run_keys.claim_run_dir(run_dir, definition)
    return run_dir

  def evaluate(self) -> Dict[str, float]:
    """Trains the method (resuming) and probes its RGB backbone (cached)."""
    train_paths = runs.prepare_data(self.work_dir, self.budget,
                                    self.method.flow)
    probe_paths = runs.prepare_data(self.work_dir, self.budget)
    run_dir = self.claimed_run_dir()

    def train_and_evaluate():
      train_dir = os.path.join(run_dir, 'train')
      tf.keras.utils.set_random_seed(self.seed)
      runs.train_until(self.training_params(train_paths), train_dir,
                       self.budget.train_steps)
      return runs.evaluate(
          probe_paths, evaluation_params(self.method, probe_paths,
                                         self.budget), train_dir, self.seed)
    return runs.timed_metrics(run_dir, train_and_evaluate)

  def finished(self, record_dir: Optional[str],
               train: bool = True) -> Optional[Dict[str, Any]]:
    """The run's record: `record_dir`'s, or trained here (`run_records`)."""
    definition = self.definition()
    return run_records.finished_run(
        definition, runs.run_dir_of(self.work_dir, definition),
        self.evaluate, record_dir, train)
