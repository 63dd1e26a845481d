"""Committed records of the reproduction's finished runs.

A run's folder under `--work_dir` (`reproduce_runs.run_dir_of`) holds its
checkpoints and lives on one machine. When the run finishes, its record
(`<record_dir>/<setting>-seed<N>-<key>.json`) keeps what the results need:
the run's full definition (`run_keys`), its metrics, the single-frame
probe's when measured, wall and CPU seconds, the code commit, the machine
and its load. Committed with the results, records let the grid advance
across machines: a run whose definition equals a record's is not trained
again. A record of the same setting and seed with another definition is
stale: it is reported with the fields that differ and never reused.

`import_runs` records the finished runs of a work_dir written by any
version of the harness (those without a provenance file record the code
commit they are given, or 'unknown').
"""
import datetime
import json
import os
from typing import Any, Callable, Dict, List, Optional

import tensorflow as tf

from benchmarks import input_pipeline
from benchmarks import reproduce_runs as runs
from benchmarks import run_keys

RECORD_DIR = 'docs/results/reproduce_runs'
# Written by the harness into a run's folder when the run finishes.
PROVENANCE_FILE = 'provenance.json'
UNKNOWN_COMMIT = 'unknown'


class StaleRecordError(run_keys.DefinitionMismatchError):
  """A record's file name says this run but its definition differs."""


def _canonical(definition: Dict[str, Any]) -> Dict[str, Any]:
  """The definition as read back from JSON (tuples as lists)."""
  return json.loads(run_keys.canonical_json(definition))


def record_path(record_dir: str, definition: Dict[str, Any]) -> str:
  return os.path.join(record_dir, run_keys.run_name(definition) + '.json')


def provenance(source: str, code_commit: Optional[str] = None
              ) -> Dict[str, Any]:
  """Where and when a run finished: commit, machine and load, time (UTC).

  Args:
    source: how the run got its metrics, e.g. 'trained'.
    code_commit: the commit of the code that trained it; default this
      code's checkout ('unknown' outside one).
  """
  if code_commit is None:
    code_commit = input_pipeline.code_commit() or UNKNOWN_COMMIT
  return {'source': source, 'code_commit': code_commit,
          'machine': input_pipeline.environment(),
          'recorded_at': datetime.datetime.now(datetime.timezone.utc)
                         .isoformat(timespec='seconds')}


def _same_run(record: Dict[str, Any], definition: Dict[str, Any]) -> bool:
  return (record['definition']['setting']['name']
          == definition['setting']['name']
          and record['definition']['seed'] == definition['seed'])


def stale_records(record_dir: str, definition: Dict[str, Any]) -> List[str]:
  """'stale: FILE differs in FIELDS' for each record of the same setting
  and seed with another definition."""
  if not tf.io.gfile.isdir(record_dir):
    return []
  expected = _canonical(definition)
  own = os.path.basename(record_path(record_dir, definition))
  lines = []
  prefix = f"{definition['setting']['name']}-seed{definition['seed']}-"
  for name in sorted(tf.io.gfile.listdir(record_dir)):
    if name.startswith(prefix) and name.endswith('.json') and name != own:
      record = runs.read_json(os.path.join(record_dir, name))
      if _same_run(record, definition):
        differences = run_keys.describe_differences(record['definition'],
                                                    expected)
        lines.append(f'stale: {os.path.join(record_dir, name)} differs in '
                     f'{differences}; not reused.')
  return lines


def find(record_dir: Optional[str], definition: Dict[str, Any],
         report: Callable[[str], None] = print) -> Optional[Dict[str, Any]]:
  """The record of `definition` in `record_dir`, or None.

  Records of the same setting and seed with another definition are
  reported (`stale_records`) and ignored.

  Raises:
    StaleRecordError: the record named by the definition's key holds
      another definition (an edited file): it is never reused.
  """
  if not record_dir:
    return None
  for line in stale_records(record_dir, definition):
    report(line)
  path = record_path(record_dir, definition)
  if not tf.io.gfile.exists(path):
    return None
  record = runs.read_json(path)
  expected = _canonical(definition)
  if record['definition'] != expected:
    raise StaleRecordError(
        f'stale: {path} differs in '
        f"{run_keys.describe_differences(record['definition'], expected)}; "
        'it is not reused: remove it or restore it.')
  return record


def from_run_dir(run_dir: str, code_commit: Optional[str] = None
                ) -> Optional[Dict[str, Any]]:
  """The record of a finished run folder (None if it has not finished).

  Its provenance is the one the harness wrote when the run finished; a
  folder without one (an earlier harness) gets `code_commit` (or 'unknown')
  and this machine, marked as imported.
  """
  metrics_path = os.path.join(run_dir, runs.METRICS_FILE)
  if not tf.io.gfile.exists(metrics_path):
    return None
  definition = runs.read_json(os.path.join(run_dir, run_keys.DEFINITION_FILE))
  metrics = runs.read_json(metrics_path)
  provenance_path = os.path.join(run_dir, PROVENANCE_FILE)
  if tf.io.gfile.exists(provenance_path):
    origin = runs.read_json(provenance_path)
  else:
    origin = provenance(f'imported from {run_dir}',
                        code_commit or UNKNOWN_COMMIT)
  record = {'name': run_keys.run_name(definition),
            'definition': definition, 'metrics': metrics,
            'wall_seconds': metrics['wall_seconds'],
            'cpu_seconds': metrics['cpu_seconds'], **origin}
  single_frame_path = os.path.join(run_dir, runs.SINGLE_FRAME_FILE)
  if tf.io.gfile.exists(single_frame_path):
    record['single_frame_metrics'] = runs.read_json(single_frame_path)
  return record


def save(record_dir: str, record: Dict[str, Any]) -> str:
  """Writes `record` under its name; returns the path."""
  path = record_path(record_dir, record['definition'])
  runs.write_json(path, record)
  return path


def add_single_frame(record_dir: str, definition: Dict[str, Any],
                     metrics: Dict[str, float]) -> None:
  """Adds the single-frame probe's metrics to the run's record."""
  record = find(record_dir, definition, report=lambda line: None)
  if record is not None and record.get('single_frame_metrics') != metrics:
    save(record_dir, dict(record, single_frame_metrics=metrics))


def import_runs(work_dir: str, record_dir: str,
                code_commit: Optional[str] = None,
                report: Callable[[str], None] = print) -> Dict[str, int]:
  """Records every finished run under `work_dir`/runs.

  A run already recorded gains the single-frame metrics it lacked; a record
  of the same name with another definition is left as it is and reported.

  Returns:
    Counts of runs 'recorded', 'already_recorded', 'unfinished' and
    'refused' (a folder whose name is not its definition's, or whose name
    holds a stale record).
  """
  counts = dict.fromkeys(('recorded', 'already_recorded', 'unfinished',
                          'refused'), 0)
  runs_dir = os.path.join(work_dir, 'runs')
  names = (sorted(tf.io.gfile.listdir(runs_dir))
           if tf.io.gfile.isdir(runs_dir) else [])
  for name in names:
    run_dir = os.path.join(runs_dir, name.rstrip('/'))
    if not tf.io.gfile.exists(os.path.join(run_dir,
                                           run_keys.DEFINITION_FILE)):
      report(f'refused: {run_dir} has no {run_keys.DEFINITION_FILE}.')
      counts['refused'] += 1
      continue
    record = from_run_dir(run_dir, code_commit)
    if record is None:
      report(f'unfinished: {run_dir}')
      counts['unfinished'] += 1
      continue
    if record['name'] != os.path.basename(run_dir):
      report(f'refused: {run_dir} holds the definition of '
             f"{record['name']}.")
      counts['refused'] += 1
      continue
    try:
      existing = find(record_dir, record['definition'],
                      report=lambda line: None)
    except StaleRecordError as e:
      report(f'refused: {e}')
      counts['refused'] += 1
      continue
    if existing is None:
      report(f"recorded: {save(record_dir, record)}")
      counts['recorded'] += 1
      continue
    counts['already_recorded'] += 1
    if 'single_frame_metrics' in record:
      add_single_frame(record_dir, record['definition'],
                       record['single_frame_metrics'])
  return counts


def rekey(record_dir: str) -> List[str]:
  """Rewrites the records that hold an `ADDED_FIELDS` entry at its earlier
  value, under the definition and name it now has; returns the new paths.

  Adding a field to `run_keys.ADDED_FIELDS` after runs recorded it leaves
  their definitions out of date: without it they are the same runs, which
  this renames rather than trains again.
  """
  renamed = []
  for name in sorted(tf.io.gfile.listdir(record_dir)):
    if not name.endswith('.json'):
      continue
    path = os.path.join(record_dir, name)
    record = runs.read_json(path)
    definition = _canonical(run_keys.defining_config(record['definition']))
    if definition == record['definition']:
      continue
    new_path = save(record_dir, dict(record, definition=definition,
                                     name=run_keys.run_name(definition)))
    if new_path != path:
      tf.io.gfile.remove(path)
    renamed.append(new_path)
  return renamed


def finished_run(definition: Dict[str, Any], run_dir: str,
                 train_and_evaluate: Callable[[], Dict[str, float]],
                 record_dir: Optional[str],
                 train: bool = True) -> Optional[Dict[str, Any]]:
  """A run's record: `record_dir`'s, or trained and evaluated, then recorded.

  Args:
    definition: the run's definition.
    run_dir: its folder (`reproduce_runs.run_dir_of`); a run finished there
      is recorded without training.
    train_and_evaluate: trains (resuming in `run_dir`) and evaluates the
      run, leaving its metrics in `run_dir`.
    record_dir: the records ('' or None: none are read or written).
    train: if False, a run without a record is not trained (None).

  Returns:
    The record (`from_run_dir`), or None.
  """
  record = find(record_dir, definition)
  if record is not None:
    return record
  if not train:
    return None
  trains_here = not tf.io.gfile.exists(os.path.join(run_dir,
                                                    runs.METRICS_FILE))
  train_and_evaluate()
  if trains_here:
    runs.write_json(os.path.join(run_dir, PROVENANCE_FILE),
                    provenance('trained'))
  record = from_run_dir(run_dir)
  if record_dir:
    save(record_dir, record)
  return record


def finished_metrics(budget: runs.Budget, name: str, seed: int,
                     work_dir: str, record_dir: Optional[str],
                     train: bool = True) -> Optional[Dict[str, float]]:
  """A setting's run's metrics (`reproduce_runs.evaluate_setting`): its
  record's, or trained and evaluated, then recorded (`finished_run`)."""
  record = finished_setting_run(budget, name, seed, work_dir, record_dir,
                                train)
  return None if record is None else record['metrics']


def finished_setting_run(budget: runs.Budget, name: str, seed: int,
                         work_dir: str, record_dir: Optional[str],
                         train: bool = True) -> Optional[Dict[str, Any]]:
  """The record of a setting's run (`finished_run`)."""
  setting = runs.SETTINGS[name]
  definition = runs.run_definition(runs.data_paths(work_dir, budget),
                                   setting, budget, seed)

  def train_and_evaluate():
    paths = runs.prepare_data(work_dir, budget)
    return runs.evaluate_setting(paths, setting, budget, seed, work_dir)
  return finished_run(definition, runs.run_dir_of(work_dir, definition),
                      train_and_evaluate, record_dir, train)


def single_frame_metrics(budget: runs.Budget, name: str, seed: int,
                         work_dir: str, record_dir: Optional[str],
                         train: bool = True) -> Optional[Dict[str, float]]:
  """The single-frame probe of a finished run: its record's, or measured.

  A run recorded on another machine has no encoder here: it is trained
  again under the same definition (resuming what this work_dir holds).
  """
  setting = runs.SETTINGS[name]
  definition = runs.run_definition(runs.data_paths(work_dir, budget),
                                   setting, budget, seed)
  record = find(record_dir, definition, report=lambda line: None)
  if record is not None and 'single_frame_metrics' in record:
    return record['single_frame_metrics']
  if not train:
    return None
  paths = runs.prepare_data(work_dir, budget)
  run_dir = runs.claimed_run_dir(paths, setting, budget, seed, work_dir)
  if setting.kind != 'random' and runs.checkpoint_step(
      os.path.join(run_dir, 'train')) < budget.train_steps:
    runs.train_encoder(paths, setting, budget, seed, run_dir)
  metrics = runs.single_frame_probe(paths, setting, budget, seed, work_dir)
  if record_dir:
    add_single_frame(record_dir, definition, metrics)
  return metrics
