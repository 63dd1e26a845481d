"""Runs the trainer CLI and SIGKILLs it in the middle of saving a checkpoint.

  python checkpoint_kill_worker.py STEP --experiment=... --mode=train ...

The kill comes when ckpt-STEP's data and index files are complete on disk
but the `checkpoint` state file does not name them yet: the last moment of a
save at which a crash can leave a checkpoint behind that must not be used.
"""
import os
import runpy
import signal
import sys

from tensorflow.python.checkpoint import checkpoint_management

# tf.train.CheckpointManager commits a save by rewriting the state file
# through this function, after the checkpoint files were written.
_update_state = checkpoint_management.update_checkpoint_state_internal


def kill_when_committing(step: int):
  """Makes the commit of checkpoint `step` kill the process."""

  def update_state(save_dir, model_checkpoint_path, *args, **kwargs):
    if os.path.basename(model_checkpoint_path) == f'ckpt-{step}':
      os.kill(os.getpid(), signal.SIGKILL)
    return _update_state(save_dir, model_checkpoint_path, *args, **kwargs)

  checkpoint_management.update_checkpoint_state_internal = update_state


if __name__ == '__main__':
  kill_when_committing(int(sys.argv.pop(1)))
  runpy.run_module('cvrl_tf.train', run_name='__main__', alter_sys=True)
