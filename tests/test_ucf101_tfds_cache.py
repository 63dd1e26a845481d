"""A local UCF-101 put in TFDS's download cache is what TFDS's ucf101 builder
downloads: the builder's own download step and example generator find every
listed video, with its class, without the network.

The build itself (ffmpeg encoding every video) and training from it are
checked by benchmarks/tfds_ucf101_build.py (docs/results/tfds_ucf101_build.md).
"""
import os

import pytest
import tensorflow_datasets as tfds

from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import ucf101_tfds_cache
from video_fixtures import moving_frames
from video_fixtures import write_video

# (class, the spelling of its file names): the lists and UCF101.rar spell
# HandstandPushups' files `v_HandStandPushups_*`, TFDS's archive does not.
CLASSES = (('Archery', 'Archery'), ('HandstandPushups', 'HandStandPushups'))
GROUPS = {'train': (8, 9), 'test': (1,)}


def write_ucf101(root):
  """Videos as UCF101.rar unpacks them and split 1's lists; the listed
  videos {split: {file name: classInd index - 1}}."""
  video_dir, split_dir = root / 'UCF-101', root / 'ucfTrainTestlist'
  split_dir.mkdir(parents=True)
  names = tfds.builder('ucf101/ucf101_1').info.features['label'].names
  (split_dir / 'classInd.txt').write_text(''.join(
      f'{i + 1} {name}\r\n' for i, name in enumerate(names)))
  listed = {}
  for split, groups in GROUPS.items():
    lines = []
    for seed, (name, spelling) in enumerate(CLASSES):
      (video_dir / name).mkdir(parents=True, exist_ok=True)
      for group in groups:
        file_name = f'v_{spelling}_g{group:02d}_c01.avi'
        write_video(str(video_dir / name / file_name),
                    moving_frames(4, 32, 32, seed + group), codec='mpeg4')
        lines.append(f'{name}/{file_name}' + (
            f' {names.index(name) + 1}' if split == 'train' else ''))
        listed.setdefault(split, {})[file_name] = names.index(name)
    list_name = f'{split}list01.txt'
    (split_dir / list_name).write_text(''.join(f'{l}\r\n' for l in lines))
  return str(video_dir), str(split_dir), listed


def test_tfds_ucf101_builder_reads_the_cached_archives(tmp_path):
  video_dir, split_dir, listed = write_ucf101(tmp_path / 'ucf101')
  download_dir = tmp_path / 'downloads'
  archives = ucf101_tfds_cache.seed_download_cache(video_dir, split_dir,
                                                  str(download_dir))
  assert archives.num_videos == 6
  assert archives.split_lists == ['classInd.txt', 'testlist01.txt',
                                  'trainlist01.txt']

  builder = tfds.builder('ucf101/ucf101_1', data_dir=str(tmp_path / 'data'))
  # The download manager `tfds build` makes; nothing may be downloaded.
  dl_manager = tfds.download.DownloadManager(
      download_dir=str(download_dir), dataset_name=builder.name,
      url_infos=builder.url_infos)
  generators = builder._split_generators(dl_manager)  # pylint: disable=protected-access
  assert dl_manager.downloaded_size == sum(
      info.size for info in builder.url_infos.values())
  label = builder.info.features['label']
  for generator in generators:
    split = str(generator.name)
    examples = dict(builder._generate_examples(**generator.gen_kwargs))  # pylint: disable=protected-access
    expected = {ucf101_tfds_cache.archive_name(name): index
                for name, index in listed[split].items()}
    assert {key: label.str2int(example['label'])
            for key, example in examples.items()} == expected
    for key, example in examples.items():
      original = next(os.path.join(root, name)
                      for root, _, files in os.walk(video_dir)
                      for name in files
                      if ucf101_tfds_cache.archive_name(name) == key)
      with open(example['video'], 'rb') as extracted, open(
          original, 'rb') as written:
        assert extracted.read() == written.read(), key


def test_a_listed_video_missing_is_an_error_before_anything_is_written(
    tmp_path):
  video_dir, split_dir, _ = write_ucf101(tmp_path / 'ucf101')
  os.remove(os.path.join(video_dir, 'Archery', 'v_Archery_g01_c01.avi'))
  with pytest.raises(sources.InputError,
                     match='1 videos of the split lists are not in .*'
                     'v_Archery_g01_c01.avi'):
    ucf101_tfds_cache.seed_download_cache(video_dir, split_dir,
                                          str(tmp_path / 'downloads'))
  assert not (tmp_path / 'downloads').exists()
