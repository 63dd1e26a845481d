"""Runs a function over many inputs in worker processes that can be replaced.

Workers are fresh interpreters started with `subprocess`, not forked: the
parent has TensorFlow loaded, which is not fork-safe, and multiprocessing's
spawn start method would re-import the parent's `__main__` script, and with
it TensorFlow, in every worker. A worker that crashes or exceeds the per-task
timeout is killed and replaced, and its task is reported as failed; the other
tasks are unaffected.

The function runs in the worker, so it must be picklable by reference (a
module-level function, or a `functools.partial` of one) and its module
importable there; the worker receives the parent's `sys.path` first.
"""

import collections
import dataclasses
import os
import subprocess
import sys
import time
from multiprocessing import connection
from typing import Any, Callable, Iterator, List, Optional, Sequence

# Time a worker gets to exit after its input pipe is closed before it is
# killed.
_EXIT_GRACE_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class TaskResult:
  """Outcome of one task.

  Attributes:
    index: Position of the task's input in the input sequence.
    value: Return value of the function, None on failure.
    error: One-line description of the failure, None on success.
  """
  index: int
  value: Any = None
  error: Optional[str] = None


def describe_exception(error: BaseException) -> str:
  """Returns a one-line description of an exception."""
  message = ' '.join(str(error).split())
  return f'{type(error).__name__}: {message}' if message else type(
      error).__name__


class _Worker:
  """One worker process and the pipes to it."""

  def __init__(self, fn: Callable[[Any], Any]):
    task_read, task_write = os.pipe()
    result_read, result_write = os.pipe()
    package_root = os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        filter(None, [package_root, env.get('PYTHONPATH')]))
    self._process = subprocess.Popen(
        [sys.executable, '-m', __name__,
         str(task_read), str(result_write)],
        pass_fds=(task_read, result_write),
        env=env)
    os.close(task_read)
    os.close(result_write)
    self._tasks = connection.Connection(task_write, readable=False)
    self.results = connection.Connection(result_read, writable=False)
    self.task_index: Optional[int] = None
    self.deadline = float('inf')
    # The function may live in a module only the parent's sys.path reaches.
    self._tasks.send(sys.path)
    self._tasks.send(fn)

  def submit(self, index: int, argument: Any, timeout: float) -> None:
    self._tasks.send((index, argument))
    self.task_index = index
    self.deadline = time.monotonic() + timeout

  def receive(self) -> TaskResult:
    """Reads the result of the current task; raises EOFError if it died."""
    index, value, error = self.results.recv()
    self.task_index = None
    self.deadline = float('inf')
    return TaskResult(index, value, error)

  def exit_code(self) -> Optional[int]:
    try:
      return self._process.wait(timeout=_EXIT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
      return None

  def stop(self, kill: bool = False) -> None:
    """Ends the process: asks it to exit, or kills it right away."""
    self._tasks.close()
    if kill or self.exit_code() is None:
      self._process.kill()
      self._process.wait()
    self.results.close()


def run_tasks(fn: Callable[[Any], Any], inputs: Sequence[Any],
              num_workers: int, timeout: float) -> Iterator[TaskResult]:
  """Applies `fn` to every input in worker processes.

  Exceptions raised by `fn` are reported as failed tasks, as are tasks whose
  worker dies or runs longer than `timeout`.

  Args:
    fn: Function of one argument, picklable by reference.
    inputs: Picklable arguments, one per task.
    num_workers: Maximum number of worker processes.
    timeout: Seconds a task may run before its worker is killed.

  Yields:
    One TaskResult per input, in completion order. Inputs are submitted in
    order, so results come roughly in input order.
  """
  pending = collections.deque(enumerate(inputs))
  workers: List[_Worker] = []
  try:
    for _ in range(min(num_workers, len(pending))):
      workers.append(_Worker(fn))
    while True:
      for worker in workers:
        if worker.task_index is None and pending:
          worker.submit(*pending.popleft(), timeout)
      busy = [worker for worker in workers if worker.task_index is not None]
      if not busy:
        return
      wait_seconds = min(worker.deadline for worker in busy) - time.monotonic()
      ready = connection.wait([worker.results for worker in busy],
                              timeout=max(0.0, wait_seconds))
      for worker in busy:
        if worker.results in ready:
          try:
            result = worker.receive()
          except (EOFError, OSError):
            error = f'worker process died (exit code {worker.exit_code()})'
          else:
            yield result
            continue
        elif time.monotonic() >= worker.deadline:
          error = f'timed out after {timeout:g} s'
        else:
          continue
        failed_index = worker.task_index
        worker.stop(kill=True)
        workers.remove(worker)
        if pending:
          workers.append(_Worker(fn))
        yield TaskResult(failed_index, error=error)
  finally:
    for worker in workers:
      worker.stop(kill=worker.task_index is not None)


def _serve(task_fd: int, result_fd: int) -> None:
  """Worker loop: runs tasks from `task_fd` until the parent closes it."""
  tasks = connection.Connection(task_fd, writable=False)
  results = connection.Connection(result_fd, readable=False)
  sys.path[:] = tasks.recv()
  fn = tasks.recv()
  while True:
    try:
      index, argument = tasks.recv()
    except EOFError:
      return
    try:
      value, error = fn(argument), None
    except Exception as e:  # pylint: disable=broad-except
      value, error = None, describe_exception(e)
    try:
      results.send((index, value, error))
    except (BrokenPipeError, ConnectionResetError):
      return  # The parent is gone.
    except Exception as e:  # pylint: disable=broad-except
      # Pickling failed before anything was written to the pipe.
      results.send((index, None, describe_exception(e)))


if __name__ == '__main__':
  _serve(int(sys.argv[1]), int(sys.argv[2]))
