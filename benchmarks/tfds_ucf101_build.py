r"""UCF-101 built by TensorFlow Datasets' own ucf101 builder, then trained on.

The published archives cannot be downloaded on the development machine, so
this check makes a small UCF-101 in the dataset's own layout and puts it
where TFDS's download would be; everything after the download is real:

1. Videos: 3 real UCF-101 classes (`ApplyEyeMakeup`, label 0;
   `HandstandPushups`, whose file names the lists spell `HandStandPushups`;
   `YoYo`, label 100) x groups 1, 8, 15 and 22, clip 1. MPEG-4 Part 2 in
   AVI, 320 x 240, 25 fps (UCF-101's format), written with PyAV as
   `UCF-101/<Class>/v_<Class>_g<GG>_c01.avi` (UCF101.rar's layout); every
   video has its own frame count, which identifies it in the built data.
   Split lists `ucfTrainTestlist/`: `classInd.txt` (all 101 classes, from
   TFDS's names list, which follows classInd's order), `trainlist0N.txt`
   (`Class/video.avi N`) and `testlist0N.txt` (`Class/video.avi`) for the
   three splits, the test groups of split N being 7N-6 to 7N.
2. `ucf101_tfds_cache.seed_download_cache` zips them into TFDS's download
   cache under the names of the registered URLs and checksums.
3. `tfds build ucf101 --config ucf101_1 --data_dir=DATA
   --download_dir=DOWNLOADS` (the README's command, with the download
   directory named), and the same with `--config ucf101_1_256`: TFDS
   extracts the archives and encodes every video with the `ffmpeg` binary.
4. Checks of the built data: every video of split 1 is one example, with
   the frame count, frame size and label (classInd's index - 1) of its
   file; read through our input (`tfds_input.read_split` and
   `decode_example`), the same labels under unique `tfds_id`s.
5. The trainer binary: pretraining (`cvrl_pretrain`) on
   `ucf101/ucf101_1_256`, then `cvrl_finetune_ucf101_tfds.yaml` from that
   checkpoint with `--mode=train_and_eval`, both with tiny overrides.

  python -m benchmarks.tfds_ucf101_build --work_dir=/tmp/tfds_ucf101 \
      --output_json=docs/results/tfds_ucf101_build.json

Needs the `ffmpeg` binary (Debian: `apt-get install ffmpeg`).
"""
import argparse
import fractions
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from importlib import metadata
from typing import Dict, List, Optional, Sequence, Tuple

import av
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
import yaml

from benchmarks import input_pipeline
from cvrl_tf.configs import EXPERIMENTS_DIR
from cvrl_tf.configs import data as data_cfg
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import ucf101_tfds_cache
from cvrl_tf.dataloaders import tfds_input

CLASSES = ('ApplyEyeMakeup', 'HandstandPushups', 'YoYo')
# Class -> its spelling in the file names of the lists and UCF101.rar.
FILE_SPELLING = {archived: listed for listed, archived
                 in ucf101_tfds_cache.LIST_SPELLINGS.items()}
GROUPS = (1, 8, 15, 22)
NUM_SPLITS = 3
HEIGHT, WIDTH, FPS = 240, 320, 25
MIN_FRAMES = 16
# UCF-101's lists end their lines with CR LF.
NEWLINE = '\r\n'


def test_groups(split_number: int) -> range:
  """The groups of split `split_number`'s test list (UCF-101's splits)."""
  return range(7 * split_number - 6, 7 * split_number + 1)


def video_name(class_name: str, group: int) -> str:
  spelled = FILE_SPELLING.get(class_name, class_name)
  return f'v_{spelled}_g{group:02d}_c01.avi'


def dataset_videos() -> List[Tuple[str, str, int]]:
  """(class, `Class/video.avi`, number of frames) of every video."""
  return [(class_name, f'{class_name}/{video_name(class_name, group)}',
           MIN_FRAMES + 2 * (i * len(GROUPS) + j))
          for i, class_name in enumerate(CLASSES)
          for j, group in enumerate(GROUPS)]


def write_avi(path: str, frames: np.ndarray) -> None:
  """MPEG-4 Part 2 (as UCF-101's XviD) in AVI, through PyAV."""
  with av.open(path, 'w') as container:
    stream = container.add_stream('mpeg4', rate=fractions.Fraction(FPS))
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = 'yuv420p'
    for frame in frames:
      container.mux(stream.encode(av.VideoFrame.from_ndarray(
          frame, format='rgb24')))
    container.mux(stream.encode())


def write_lists(split_dir: str, class_names: Sequence[str],
                videos: Sequence[Tuple[str, str, int]]) -> None:
  """classInd.txt and the three splits' train and test lists."""
  os.makedirs(split_dir, exist_ok=True)

  def write(name, lines):
    with open(os.path.join(split_dir, name), 'w', newline='') as f:
      f.write(''.join(line + NEWLINE for line in lines))

  write(ucf101_tfds_cache.CLASS_INDEX,
        [f'{i + 1} {name}' for i, name in enumerate(class_names)])
  for split_number in range(1, NUM_SPLITS + 1):
    test = test_groups(split_number)
    in_test = [int(path.split('_g')[1][:2]) in test for _, path, _ in videos]
    write(f'trainlist{split_number:02d}.txt',
          [f'{path} {class_names.index(name) + 1}'
           for (name, path, _), is_test in zip(videos, in_test)
           if not is_test])
    write(f'testlist{split_number:02d}.txt',
          [path for (_, path, _), is_test in zip(videos, in_test) if is_test])


def write_dataset(root: str) -> Dict[str, str]:
  """The videos and split lists, in UCF-101's layout under `root`.

  Returns:
    {'video_dir': ..., 'split_dir': ...}.
  """
  video_dir = os.path.join(root, 'UCF-101')
  split_dir = os.path.join(root, ucf101_tfds_cache.SPLITS_FOLDER)
  videos = dataset_videos()
  rng = np.random.default_rng(0)
  for _, path, num_frames in videos:
    os.makedirs(os.path.join(video_dir, os.path.dirname(path)), exist_ok=True)
    write_avi(os.path.join(video_dir, path),
              input_pipeline.synthetic_video(rng, num_frames, HEIGHT, WIDTH))
  class_names = tfds.builder('ucf101/ucf101_1').info.features['label'].names
  write_lists(split_dir, class_names, videos)
  return {'video_dir': video_dir, 'split_dir': split_dir}


CONFIGS = {'ucf101_1': (HEIGHT, WIDTH), 'ucf101_1_256': (256, 256)}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(command: Sequence[str], log_path: str) -> Dict[str, object]:
  """Runs `command` from the repository; wall and CPU seconds, log tail.

  Raises:
    RuntimeError: the command failed (with the end of its log).
  """
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  start = time.perf_counter()
  with open(log_path, 'w') as log:
    returncode = subprocess.run(command, cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT, check=False,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
                               ).returncode
  wall = time.perf_counter() - start
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  with open(log_path) as log:
    lines = log.read().splitlines()
  if returncode:
    raise RuntimeError(f'{command[0]} failed ({returncode}):\n'
                       + '\n'.join(lines[-30:]))
  return {'command': ' '.join(command), 'wall_s': round(wall, 1),
          'cpu_s': round(after.ru_utime + after.ru_stime - before.ru_utime
                         - before.ru_stime, 1),
          'log': log_path, 'lines': lines}


def build(config: str, data_dir: str, download_dir: str,
          log_dir: str) -> Dict[str, object]:
  """`tfds build ucf101 --config CONFIG`, as a user runs it."""
  tfds_cli = os.path.join(os.path.dirname(sys.executable), 'tfds')
  result = timed([tfds_cli, 'build', 'ucf101', '--config', config,
                  f'--data_dir={data_dir}', f'--download_dir={download_dir}'],
                 os.path.join(log_dir, f'build_{config}.log'))
  skipped = [line for line in result.pop('lines')
             if 'Skipping download of' in line]
  result['downloads_taken_from_cache'] = len(skipped)
  return result


def expected_labels(split_dir: str, split: str) -> Dict[str, int]:
  """{video file name: classInd index - 1} of split 1's list, read by the
  TFRecord converter's UCF-101 reader (not TFDS's)."""
  list_name = 'trainlist01.txt' if split == 'train' else 'testlist01.txt'
  videos, label_map = sources.read_ucf101_split(
      os.path.join(split_dir, list_name), '')
  return {os.path.basename(v.video_id): label_map[v.label_text]
          for v in videos}


def check_split(data_dir: str, config: str, split: str,
                split_dir: str) -> Dict[str, object]:
  """Every listed video is one example with its frames, size and label.

  Read through our input's stages (`read_split`, `decode_example`): a
  video is recognised by its frame count, its frames decoded to check the
  size, its label compared with classInd's.
  """
  frames_to_video = {num_frames: os.path.basename(path)
                     for _, path, num_frames in dataset_videos()}
  expected = expected_labels(split_dir, split)
  params = data_cfg.DataConfig(
      tfds_name=f'ucf101/{config}', tfds_split=split, tfds_data_dir=data_dir,
      is_training=False, num_classes=101)
  found, problems, ids = {}, [], []
  for example in tfds_input.read_split(params).map(
      tfds_input.decode_example):
    frames = example['frames'].numpy()
    video = frames_to_video.get(len(frames), f'{len(frames)} frames')
    label = int(example['label'].numpy()[0])
    shape = tuple(tf.io.decode_jpeg(frames[0]).shape)
    ids.append(example['video_id'].numpy().decode())
    found[video] = label
    if expected.get(video) != label:
      problems.append(f'{video}: label {label}, classInd '
                      f'{expected.get(video)}')
    if shape != (*CONFIGS[config], 3):
      problems.append(f'{video}: frames {shape}')
  if sorted(found) != sorted(expected):
    problems.append(f'videos {sorted(found)} != listed {sorted(expected)}')
  if len(set(ids)) != len(ids):
    problems.append('tfds_id not unique')
  return {'num_examples': len(ids), 'labels': found,
          'frame_size': list(CONFIGS[config]), 'problems': problems}


TINY_BACKBONE = {'type': 'r3d', 'r3d': {'model_id': 18,
                                        'width_multiplier': 0.25}}
CPU_RUNTIME = {'distribution_strategy': 'one_device',
               'mixed_precision_dtype': 'float32', 'num_gpus': 0}


def tiny_schedule(train_steps: int) -> dict:
  return {'train_steps': train_steps, 'steps_per_loop': 1,
          'summary_interval': 1, 'checkpoint_interval': train_steps,
          'validation_interval': train_steps, 'validation_steps': 1,
          'optimizer_config': {
              'learning_rate': {'cosine': {'decay_steps': train_steps}},
              'warmup': {'linear': {'warmup_steps': 1}}}}


def tfds_data(config: str, split: str, data_dir: str, **overrides) -> dict:
  return {'tfds_name': f'ucf101/{config}', 'tfds_split': split,
          'tfds_data_dir': data_dir, 'global_batch_size': 4,
          'feature_shape': [4, 32, 32, 3], 'min_image_size': 36,
          **overrides}


# Log lines of TensorFlow, absl and deprecation notices, not the trainer's.
_LIBRARY_LINE = re.compile(
    r'^([IWEF]\d{4} |WARNING|\d{4}-\d\d-\d\d |Instructions for|Use )')


def printed_lines(lines: Sequence[str]) -> List[str]:
  """What the trainer itself printed, from its first line on."""
  start = next((i for i, line in enumerate(lines)
                if line.startswith('restoring or initializing')), len(lines))
  return [line for line in lines[start:] if not _LIBRARY_LINE.match(line)]


def last_scalars(summary_dir: str) -> Dict[str, float]:
  """The last value of every scalar summary in `summary_dir`."""
  values = {}
  for name in sorted(tf.io.gfile.listdir(summary_dir)):
    for event in tf.compat.v1.train.summary_iterator(
        os.path.join(summary_dir, name)):
      for value in event.summary.value:
        tensor = tf.make_ndarray(value.tensor)
        if tensor.ndim == 0 and tensor.dtype.kind == 'f':
          values[value.tag] = round(float(tensor), 4)
  return values


def trainer(experiment: str, config_file: str, mode: str, model_dir: str,
            override: dict, log_path: str) -> Dict[str, object]:
  """`python -m cvrl_tf.train` with `--params_override`: what it printed,
  its last checkpoint and the last value of each summary it wrote."""
  result = timed([sys.executable, '-m', 'cvrl_tf.train',
                  f'--experiment={experiment}', f'--config_file={config_file}',
                  f'--mode={mode}', f'--model_dir={model_dir}',
                  f'--params_override={yaml.safe_dump(override)}'], log_path)
  result['printed'] = printed_lines(result.pop('lines'))
  result['checkpoint'] = os.path.basename(tf.train.latest_checkpoint(
      model_dir))
  result['summaries'] = {
      name: last_scalars(os.path.join(model_dir, name))
      for name in ('train', 'validation')
      if tf.io.gfile.isdir(os.path.join(model_dir, name))}
  result['params_override'] = override
  return result


def pretrain(data_dir: str, model_dir: str, log_dir: str):
  """Two steps of CVRL pretraining on ucf101_1_256's train split."""
  override = {
      'runtime': CPU_RUNTIME,
      'task': {'model': {'backbone': TINY_BACKBONE,
                         'projection_hidden_dim': 64, 'projection_dim': 32},
               'train_data': tfds_data('ucf101_1_256', 'train', data_dir,
                                       shuffle_buffer_size=8),
               'validation_data': tfds_data('ucf101_1_256', 'test',
                                            data_dir)},
      'trainer': tiny_schedule(2)}
  return trainer('cvrl_pretrain',
                 os.path.join(EXPERIMENTS_DIR, 'cvrl_pretrain_toy.yaml'),
                 'train', model_dir, override,
                 os.path.join(log_dir, 'pretrain.log'))


def finetune(data_dir: str, init_checkpoint: str, model_dir: str,
             log_dir: str):
  """cvrl_finetune_ucf101_tfds.yaml, shrunk, from the pretrained model."""
  override = {
      'runtime': CPU_RUNTIME,
      'task': {'model': {'backbone': TINY_BACKBONE},
               'init_checkpoint': init_checkpoint,
               'train_data': tfds_data('ucf101_1', 'train', data_dir,
                                       num_examples=9,
                                       shuffle_buffer_size=8),
               'validation_data': tfds_data(
                   'ucf101_1', 'test', data_dir, global_batch_size=2,
                   num_examples=3, min_image_size=32, num_test_clips=2,
                   num_test_crops=1)},
      'trainer': tiny_schedule(2)}
  return trainer('cvrl_finetune',
                 os.path.join(EXPERIMENTS_DIR,
                              'cvrl_finetune_ucf101_tfds.yaml'),
                 'train_and_eval', model_dir, override,
                 os.path.join(log_dir, 'finetune.log'))


def ffmpeg_version() -> str:
  found = shutil.which('ffmpeg')
  if not found:
    return ''
  return subprocess.run([found, '-version'], capture_output=True, text=True,
                        check=False).stdout.splitlines()[0]


def run(work_dir: str) -> Dict[str, object]:
  """Archive, both builds, checks and the two trainer runs, from scratch."""
  start = time.perf_counter()
  shutil.rmtree(work_dir, ignore_errors=True)
  log_dir = os.path.join(work_dir, 'logs')
  os.makedirs(log_dir)
  source = write_dataset(os.path.join(work_dir, 'source'))
  download_dir = os.path.join(work_dir, 'downloads')
  archives = ucf101_tfds_cache.seed_download_cache(
      source['video_dir'], source['split_dir'], download_dir)
  data_dir = os.path.join(work_dir, 'tfds')
  builds = {config: build(config, data_dir, download_dir, log_dir)
            for config in CONFIGS}
  checks = {f'{config}/{split}': check_split(data_dir, config, split,
                                             source['split_dir'])
            for config in CONFIGS for split in ('train', 'test')}
  pretrain_dir = os.path.join(work_dir, 'pretrain')
  runs = {'pretrain': pretrain(data_dir, pretrain_dir, log_dir)}
  runs['finetune'] = finetune(data_dir, pretrain_dir,
                              os.path.join(work_dir, 'finetune'), log_dir)
  return {
      'command': 'python -m benchmarks.tfds_ucf101_build ' + ' '.join(
          sys.argv[1:]),
      'code_commit': input_pipeline.code_commit(),
      'environment': {**input_pipeline.environment(),
                      'tensorflow_datasets': tfds.__version__,
                      'av': av.__version__, 'ffmpeg': ffmpeg_version(),
                      'mlcroissant': metadata.version('mlcroissant')},
      'videos': [{'class': name, 'path': path, 'frames': frames}
                 for name, path, frames in dataset_videos()],
      'archives': {'videos_zip': os.path.basename(archives.videos_zip),
                   'videos_zip_bytes': os.path.getsize(archives.videos_zip),
                   'splits_zip': os.path.basename(archives.splits_zip),
                   'split_lists': archives.split_lists},
      'builds': builds, 'checks': checks, 'trainer': runs,
      'wall_s': round(time.perf_counter() - start, 1)}


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--work_dir', required=True,
                      help='Scratch directory, emptied first.')
  parser.add_argument('--output_json', default=None)
  args = parser.parse_args(argv)
  if not shutil.which('ffmpeg'):
    sys.exit('error: TFDS encodes videos with the ffmpeg binary, which is '
             'not installed (Debian: apt-get install ffmpeg).')
  result = run(args.work_dir)
  input_pipeline.write_json(args.output_json, result)
  for name, check in result['checks'].items():
    print(f'{name}: {check["num_examples"]} examples, problems: '
          f'{check["problems"] or "none"}')
  for name, run_result in result['trainer'].items():
    print(f'{name}: {run_result["wall_s"]} s wall, {run_result["cpu_s"]} '
          f'CPU-s, {run_result["checkpoint"]}, {run_result["summaries"]}')
  return result


if __name__ == '__main__':
  main()
