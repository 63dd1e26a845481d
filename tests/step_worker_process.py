"""Runs a step worker script of tests/ in its own process, for its results.

A distributed step needs logical CPU devices configured before TensorFlow
starts, so each comparison of a mirrored step with a single-device step runs
in a fresh interpreter that writes its arrays to an .npz file.
"""
import os
import subprocess
import sys

import numpy as np

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def run_step_worker(script: str, output, *args: str, timeout: int):
  """Runs tests/`script` with `output` and `args`; returns its .npz arrays.

  The worker imports from tests/ and from the repository root, whatever the
  caller's PYTHONPATH.
  """
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
             PYTHONPATH=os.pathsep.join([TESTS_DIR, os.path.dirname(
                 TESTS_DIR), os.environ.get('PYTHONPATH', '')]))
  result = subprocess.run(
      [sys.executable, os.path.join(TESTS_DIR, script), str(output), *args],
      env=env, capture_output=True, text=True, timeout=timeout)
  assert result.returncode == 0, result.stderr[-3000:]
  return np.load(output)
