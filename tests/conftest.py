"""Test settings shared by every test module."""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Tests compile each XLA function (the host colour operations, the train
# steps of test_xla_compile.py) for a few runs on tiny inputs: LLVM's
# optimisation of the generated code costs far more CPU than it saves.
# Read once per process, before the first compile; it changes no result
# (no fast-math: the same IEEE operations, less optimised).
os.environ.setdefault('XLA_FLAGS', '--xla_backend_optimization_level=0')
# Test helper modules (fixtures that write videos and records) live here.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Modules that take minutes, most CPU time first (measured one module at a
# time with /usr/bin/time), so that parallel workers (`make test`) do not
# end with one of them running alone.
LONG_MODULES = ('test_multiworker_pretrain', 'test_resume', 'test_gcs',
                'test_xla_compile', 'test_pictures', 'test_tclr_cli',
                'test_learning_curve', 'test_two_stream_input',
                'test_vicc_cli', 'test_bad_records', 'test_reproduce',
                'test_methods_toy', 'test_demo', 'test_device_augmentation',
                'test_tfds_train_cli', 'test_benchmarks',
                'test_pretrain_distributed', 'test_pretrain_training',
                'test_train_cli', 'test_tfds_input', 'test_vicc_pretrain',
                'test_extract_features', 'test_augmentation_distribution',
                'test_beam_conversion', 'test_tclr_input',
                'test_vicc_distributed', 'test_tclr_distributed',
                'test_model_garden_step')


def pytest_collection_modifyitems(items):
  def rank(item):
    name = os.path.basename(item.nodeid.split('::')[0])[:-len('.py')]
    return LONG_MODULES.index(name) if name in LONG_MODULES else len(
        LONG_MODULES)
  items.sort(key=rank)
