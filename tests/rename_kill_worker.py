"""Runs a tool and SIGKILLs it halfway through renaming a file into place.

  python rename_kill_worker.py NAME TOOL.py ARGS...

On GCS a rename is a copy, then a delete of the source. The kill comes when
the first file named NAME has been copied to its final name and its
temporary source is not deleted yet: the state a crash inside a GCS rename
leaves behind.
"""
import os
import runpy
import signal
import sys

import tensorflow as tf

_rename = tf.io.gfile.rename


def kill_inside_rename(name: str):
  """Makes the rename to a file called `name` kill the process midway."""

  def rename(source, target, overwrite=False):
    if os.path.basename(target) == name:
      tf.io.gfile.copy(source, target, overwrite=True)
      os.kill(os.getpid(), signal.SIGKILL)
    return _rename(source, target, overwrite)

  tf.io.gfile.rename = rename


if __name__ == '__main__':
  kill_inside_rename(sys.argv.pop(1))
  sys.argv.pop(0)
  runpy.run_path(sys.argv[0], run_name='__main__')
