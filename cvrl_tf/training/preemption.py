"""Graceful stop on SIGTERM (a preemption notice): checkpoint, then exit.

`StopSignal` turns the signal into a flag; `StopIfSignalled`, a train
action, raises `StopRequested` at the end of the loop in which the flag was
set, and the trainer catches it, saves a checkpoint at the current step and
returns. A loop runs `trainer.steps_per_loop` steps without interruption, so
choose it to fit the grace period between SIGTERM and SIGKILL.
"""
import signal
import threading
from typing import Mapping, Optional

from absl import logging


class StopRequested(Exception):
  """A stop signal arrived; training should checkpoint and return."""


class StopSignal:
  """Context manager recording whether `signum` arrived while inside.

  Python runs signal handlers in the main thread only; elsewhere the
  handler is not installed and the signal keeps its default behaviour.
  """

  def __init__(self, signum: int = signal.SIGTERM):
    self.signum = signum
    self._received = threading.Event()
    self._previous = None
    self._installed = False

  @property
  def received(self) -> bool:
    return self._received.is_set()

  def _handle(self, signum, frame) -> None:
    del frame
    logging.warning('received %s: stopping after the current train loop',
                    signal.Signals(signum).name)
    self._received.set()

  def __enter__(self) -> 'StopSignal':
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(self.signum, self._handle)
      self._installed = True
    else:
      logging.warning('not in the main thread: %s will not checkpoint',
                      signal.Signals(self.signum).name)
    return self

  def __exit__(self, *exc_info) -> None:
    if self._installed:
      signal.signal(self.signum, self._previous)
      self._installed = False


class StopIfSignalled:
  """Train action raising `StopRequested` once `stop_signal` was received.

  Put it after the actions that check the loop's results, so that the
  checkpoint saved on the way out is a good one.
  """

  def __init__(self, stop_signal: StopSignal):
    self._stop_signal = stop_signal

  def __call__(self, train_outputs: Optional[Mapping[str, object]]) -> None:
    del train_outputs
    if self._stop_signal.received:
      raise StopRequested(signal.Signals(self._stop_signal.signum).name)
