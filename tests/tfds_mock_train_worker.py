"""Runs the trainer CLI with TensorFlow Datasets mocked, offline.

  python tfds_mock_train_worker.py --experiment=... --mode=... ...

Every split of ucf101 then holds the same 4 random videos that
`tfds.testing.mock_data` makes from its declared features: 5 to 49 JPEG
frames of 256 x 256 and a label in [0, 101).
"""
import runpy

import tfds_mock

if __name__ == '__main__':
  with tfds_mock.mock_ucf101():
    videos = [(frames, label)
              for _, label, frames in tfds_mock.mock_examples()]
  with tfds_mock.mock_ucf101(as_dataset_fn=tfds_mock.serve(videos)):
    runpy.run_module('cvrl_tf.train', run_name='__main__', alter_sys=True)
