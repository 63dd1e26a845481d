"""Writes presolarize_checkpoint/: a deterministic run saved by older code.

The photometric parameters that device augmentation passes with each view
gained `solarize` in commit 3f243b9. This script exports its parent commit
(`OLD_COMMIT`) with `git archive`, writes toy records, and trains one step of
that commit's `python -m cvrl_tf.train` with `RUN_CONFIG`
(`task.deterministic`, so the input iterator is saved in the checkpoint).
It keeps the checkpoint and the config in presolarize_checkpoint/, which
tests/test_saved_input.py resumes with the current code.

The model is tiny (R3D-18 at 1/32 width, SGD without momentum, no slot
variables) and the input small (16^2 views, a shuffle buffer of 2 videos),
so that the committed checkpoint stays small.

Run from the repository root (needs its git history):
  python tests/testdata/make_presolarize_checkpoint.py
"""
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

TESTDATA_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(TESTDATA_DIR))
OUTPUT_DIR = os.path.join(TESTDATA_DIR, 'presolarize_checkpoint')
OLD_COMMIT = 'a4f03a29dcea4854ad6c9302b9ce08095e76f7a6'
RUN_YAML = 'run.yaml'
# The saved input names the file it was reading: a resume finds the same
# records at the same path, the same on every machine.
RECORDS_DIR = '/tmp/cvrl_tf_presolarize_records'
# `write_toy_records` arguments of the run's input; the test writes the same.
RECORDS = {'videos_per_class': 1, 'size': 32, 'max_frames': 16}
# Keys both the old and the current code accept; the input path is set on
# the command line.
RUN_CONFIG = {
    'runtime': {'distribution_strategy': 'one_device',
                'mixed_precision_dtype': 'float32', 'num_gpus': 0},
    'task': {
        'deterministic': True,
        'model': {'backbone': {'type': 'r3d', 'r3d': {
            'model_id': 18, 'width_multiplier': 0.03125}},
                  'projection_num_layers': 2, 'projection_hidden_dim': 8,
                  'projection_dim': 8},
        'train_data': {
            'global_batch_size': 2, 'feature_shape': [4, 16, 16, 3],
            'temporal_stride': 1, 'min_image_size': 32, 'seed': 3,
            'shuffle_buffer_size': 2,
            'augmentation': {'device_augmentation': True,
                             'spatial': {'color_jitter_prob': 0.0}}},
        'validation_data': {'feature_shape': [4, 16, 16, 3],
                            'min_image_size': 32}},
    'trainer': {
        'train_steps': 1, 'steps_per_loop': 1, 'summary_interval': 1,
        'checkpoint_interval': 1,
        'optimizer_config': {
            'optimizer': {'type': 'sgd', 'sgd': {'momentum': 0.0}},
            'learning_rate': {'type': 'constant',
                              'constant': {'learning_rate': 0.01}},
            'warmup': {'type': None}}}}


def export_commit(commit: str, directory: str) -> None:
  archive = subprocess.run(['git', 'archive', commit], cwd=REPO,
                           check=True, capture_output=True).stdout
  subprocess.run(['tar', '-x', '-C', directory], input=archive, check=True)


def main():
  sys.path[:0] = [REPO, os.path.join(REPO, 'tests')]
  from toy_records import write_toy_records  # pylint: disable=import-outside-toplevel
  with tempfile.TemporaryDirectory() as work:
    old_code = os.path.join(work, 'code')
    os.makedirs(old_code)
    export_commit(OLD_COMMIT, old_code)
    os.makedirs(RECORDS_DIR, exist_ok=True)
    pattern = write_toy_records(RECORDS_DIR, **RECORDS)
    config = os.path.join(work, RUN_YAML)
    with open(config, 'w') as f:
      yaml.safe_dump(RUN_CONFIG, f)
    model_dir = os.path.join(work, 'model')
    subprocess.run(
        [sys.executable, '-m', 'cvrl_tf.train', '--experiment=cvrl_pretrain',
         f'--config_file={config}', '--mode=train', f'--model_dir={model_dir}',
         f'--params_override=task.train_data.input_path={pattern}'],
        cwd=old_code, env=dict(os.environ, PYTHONPATH=old_code), check=True)
    shutil.rmtree(OUTPUT_DIR, ignore_errors=True)
    os.makedirs(OUTPUT_DIR)
    for name in os.listdir(model_dir):
      if name == 'checkpoint' or name.startswith('ckpt-'):
        shutil.copy(os.path.join(model_dir, name), OUTPUT_DIR)
    shutil.copy(config, OUTPUT_DIR)


if __name__ == '__main__':
  main()
