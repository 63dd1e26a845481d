"""One log line per train loop: step, metrics, rate and ETA.

`ProgressLogger` is the train action that writes it; `Controller` is orbit's
controller without its own per-loop log line (logged and printed again, as a
multi-line dict), summaries unchanged.
"""
import time
from typing import Mapping, Optional

from absl import logging
import numpy as np
import orbit
from orbit import utils as orbit_utils
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


class Controller(orbit.Controller):
  """orbit's Controller, leaving the per-loop log line to the train actions.

  TensorBoard gets the same summaries as from orbit: the train outputs and
  `steps_per_second`.
  """

  def _train_n_steps(self, num_steps: int):
    if not self.step_timer:
      self.step_timer = orbit.controller.StepTimer(self.global_step)
    expected_step = self.global_step.numpy() + num_steps
    with self.summary_manager.summary_writer().as_default():
      should_record = False  # Lets orbit skip summaries entirely.
      if self.summary_interval:
        should_record = lambda: self.global_step % self.summary_interval == 0
      with tf.summary.record_if(should_record):
        train_output = self.trainer.train(
            tf.convert_to_tensor(num_steps, dtype=tf.int32))
    if self.global_step.numpy() != expected_step:
      logging.warning('trainer.train(%d) ended at step %d, not %d.',
                      num_steps, self.global_step.numpy(), expected_step)
    train_output = train_output or {}
    for action in self.train_actions:
      action(train_output)
    train_output = tf.nest.map_structure(orbit_utils.get_value, train_output)
    train_output['steps_per_second'] = self.step_timer.steps_per_second()
    self.summary_manager.write_summaries(train_output)
    self.summary_manager.flush()
