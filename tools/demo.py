"""`make demo`: toy videos -> TFRecords -> CVRL pretraining -> evaluation."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging

from cvrl_tf import demo
from cvrl_tf import registry_imports  # pylint: disable=unused-import

_OUTPUT_DIR = flags.DEFINE_string('output_dir', 'demo_out',
                                  'Where every stage writes.')
_TRAIN_PER_CLASS = flags.DEFINE_integer('train_per_class', 50,
                                        'Toy training videos per class.')
_TEST_PER_CLASS = flags.DEFINE_integer('test_per_class', 20,
                                       'Toy test videos per class.')
_PRETRAIN_STEPS = flags.DEFINE_integer(
    'pretrain_steps', 0, 'Pretraining steps (0: the toy preset\'s).')


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  results = demo.run_demo(_OUTPUT_DIR.value, _TRAIN_PER_CLASS.value,
                          _TEST_PER_CLASS.value, _PRETRAIN_STEPS.value)
  print(demo.results_table(results['metrics']))
  print(f'Results written to {os.path.join(_OUTPUT_DIR.value, "results.json")}')


if __name__ == '__main__':
  app.run(main)
