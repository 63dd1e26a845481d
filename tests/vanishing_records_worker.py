"""Runs the trainer CLI and deletes its input records once the input
pipeline is built, before any of them is opened.

  python vanishing_records_worker.py --experiment=... --mode=train ...

The config passed validation and the pipeline listed the files: the state in
which a cleanup elsewhere removes them from under a running trainer.
"""
import os
import runpy

from cvrl_tf.dataloaders import video_input

_build_dataset = video_input.build_dataset


def build_then_delete(params, *args, **kwargs):
  dataset = _build_dataset(params, *args, **kwargs)
  for path in video_input.input_files(params):
    os.remove(path)
  return dataset


if __name__ == '__main__':
  video_input.build_dataset = build_then_delete
  runpy.run_module('cvrl_tf.train', run_name='__main__', alter_sys=True)
