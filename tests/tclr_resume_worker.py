"""TCLR through the trainer: 2N steps straight, and N steps resumed to 2N.

Run as a script (deterministic training switches on op determinism for the
whole process):
  python tclr_resume_worker.py OUT.npz RECORD_PATTERN ROOT
trains the tiny TCLR experiment into ROOT/straight and ROOT/resumed and
writes the global step each run ended at.
"""
import os
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
                  'checkpoint_interval': STOP_STEP}})
  return params


def train_to(record_pattern: str, train_steps: int, model_dir: str) -> int:
  """Trains (resuming) to `train_steps`; the step of the last checkpoint."""
  train.run(resumable_params(record_pattern, train_steps), 'train', model_dir)
  return int(tf.train.latest_checkpoint(model_dir).rsplit('-', 1)[1])


def main(output_path, record_pattern, root):
  resumed = os.path.join(root, 'resumed')
  np.savez(output_path,
           straight=train_to(record_pattern, TRAIN_STEPS,
                             os.path.join(root, 'straight')),
           stopped=train_to(record_pattern, STOP_STEP, resumed),
           resumed=train_to(record_pattern, TRAIN_STEPS, resumed))


if __name__ == '__main__':
  main(*sys.argv[1:])
