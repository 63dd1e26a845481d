"""A train action that logs progress with an ETA after every train loop."""
import time
from typing import Mapping, Optional

from absl import logging
import numpy as np
import tensorflow as tf


def format_duration(seconds: float) -> str:
  """Formats seconds as H:MM:SS."""
  seconds = int(round(max(seconds, 0)))
  return f'{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}'


class ProgressLogger:
  """Logs step, loss, metrics, learning rate, steps/sec and ETA.

  Orbit calls train actions with the outputs of each train loop; the rate is
  measured between consecutive calls, so it includes input and checkpoint
  time, which is what the ETA needs.
  """

  def __init__(self, global_step: tf.Variable, total_steps: int):
    self._global_step = global_step
    self._total_steps = total_steps
    self._last_step: Optional[int] = None
    self._last_time = time.monotonic()

  def __call__(self, train_outputs: Optional[Mapping[str, object]]) -> None:
    step = int(self._global_step.numpy())
    now = time.monotonic()
    if self._last_step is None or step <= self._last_step:
      steps_per_sec = float('nan')
    else:
      steps_per_sec = (step - self._last_step) / max(now - self._last_time,
                                                      1e-9)
    self._last_step, self._last_time = step, now
    values = ' '.join(f'{name}={float(np.mean(value)):.4g}'
                      for name, value in sorted((train_outputs or {}).items()))
    eta = (format_duration((self._total_steps - step) / steps_per_sec)
           if steps_per_sec > 0 else '?')
    logging.info('step %d/%d %s steps/sec=%.3g ETA %s', step,
                 self._total_steps, values, steps_per_sec, eta)
