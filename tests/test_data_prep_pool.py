"""Tests that worker_pool isolates hanging and crashing tasks."""
import importlib
import os
import sys
import time

import pytest

from cvrl_tf.data_prep import worker_pool


def _misbehave(argument):
  """Doubles ints; hangs, crashes its process or raises for marker strings."""
  if argument == 'hang':
    time.sleep(600)
  if argument == 'crash':
    os._exit(3)  # pylint: disable=protected-access
  if argument == 'raise':
    raise ValueError('bad\ninput')
  return argument * 2


def _imports_tensorflow(module_name):
  """Imports a module; returns whether TensorFlow got loaded in the process."""
  importlib.import_module(module_name)
  return 'tensorflow' in sys.modules


@pytest.mark.timeout(60)
def test_run_tasks_survives_hang_crash_and_exception():
  inputs = [1, 'hang', 2, 'crash', 3, 'raise', 4, 5]
  start = time.monotonic()
  results = list(
      worker_pool.run_tasks(_misbehave, inputs, num_workers=2, timeout=3.0))
  elapsed = time.monotonic() - start

  by_index = {result.index: result for result in results}
  assert len(results) == len(inputs) == len(by_index)
  for index, argument in enumerate(inputs):
    if isinstance(argument, int):
      assert by_index[index].value == argument * 2
      assert by_index[index].error is None
  assert by_index[1].error == 'timed out after 3 s'
  assert by_index[3].error == 'worker process died (exit code 3)'
  assert by_index[5].error == 'ValueError: bad input'
  # The hung worker was killed at its deadline, not waited for.
  assert elapsed < 30


def test_run_tasks_without_inputs_starts_nothing():
  assert not list(worker_pool.run_tasks(_misbehave, [], num_workers=4,
                                        timeout=1.0))


def test_decoding_workers_do_not_load_tensorflow():
  results = list(worker_pool.run_tasks(
      _imports_tensorflow, ['cvrl_tf.data_prep.video_decoding'],
      num_workers=1, timeout=30.0))
  assert [(r.value, r.error) for r in results] == [(False, None)]
