"""TCLR through the trainer: 2N steps straight, and resumed from step N.

Run as a script (deterministic training switches on op determinism for the
whole process):
  python tclr_resume_worker.py OUT.npz RECORD_PATTERN ROOT
trains the tiny TCLR experiment into ROOT/straight, a checkpoint after every
step; copies its checkpoint of step N alone into ROOT/resumed, and resumes
training there to 2N. Writes the global step of the straight run's last
checkpoint, of the copied one and of the resumed run's last.
"""
import os
import shutil
import sys

import numpy as np
import tensorflow as tf

from cvrl_tf import train
from tiny_experiments import tiny_tclr_pretrain

STOP_STEP = 3
TRAIN_STEPS = 2 * STOP_STEP


def resumable_params(record_pattern: str, train_steps: int):
  """Deterministic TCLR whose plateau schedule moves within the run.

  An epoch of 2 steps, so the stop falls inside an epoch, and a patience
  of 1, so a plateau drops the rate.
  """
  params = tiny_tclr_pretrain(record_pattern, train_steps, steps_per_epoch=2)
  params.override({
      'task': {'deterministic': True,
               'model': {'clip_batches': 'joint'},
               'recipe': {'warmup_factors': [0.5],
                          'plateau_patience_epochs': 1}},
      'trainer': {'steps_per_loop': 1, 'summary_interval': 1,
                  'checkpoint_interval': 1, 'max_to_keep': train_steps}})
  return params


def checkpoint_step(model_dir: str) -> int:
  return int(tf.train.latest_checkpoint(model_dir).rsplit('-', 1)[1])


def train_to(record_pattern: str, train_steps: int, model_dir: str) -> int:
  """Trains (resuming) to `train_steps`; the step of the last checkpoint."""
  train.run(resumable_params(record_pattern, train_steps), 'train', model_dir)
  return checkpoint_step(model_dir)


def copy_checkpoint(source_dir: str, step: int, model_dir: str) -> int:
  """Makes `source_dir`'s checkpoint of `step` the only one of `model_dir`,
  as a run stopped there leaves it; returns the step it names."""
  os.makedirs(model_dir)
  for name in tf.io.gfile.glob(os.path.join(source_dir, f'ckpt-{step}.*')):
    shutil.copy(name, model_dir)
  tf.compat.v1.train.update_checkpoint_state(
      model_dir, os.path.join(model_dir, f'ckpt-{step}'))
  return checkpoint_step(model_dir)


def main(output_path, record_pattern, root):
  straight = os.path.join(root, 'straight')
  resumed = os.path.join(root, 'resumed')
  np.savez(output_path,
           straight=train_to(record_pattern, TRAIN_STEPS, straight),
           stopped=copy_checkpoint(straight, STOP_STEP, resumed),
           resumed=train_to(record_pattern, TRAIN_STEPS, resumed))


if __name__ == '__main__':
  main(*sys.argv[1:])
