"""Tests the dataset listings of cvrl_tf.data_prep.sources (no decoding)."""
import json
import os

import pytest

from cvrl_tf.data_prep import sources


def _touch(path):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'wb'):
    pass
  return path


def _write(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    f.write(text)
  return path


def test_video_dir_indexes_classes_in_sorted_folder_order(tmp_path):
  root = str(tmp_path / 'videos')
  _touch(f'{root}/walk/b.mp4')
  _touch(f'{root}/walk/nested/c.webm')
  _touch(f'{root}/jump/a.avi')
  _touch(f'{root}/jump/.DS_Store')
  _touch(f'{root}/.hidden/x.mp4')

  videos, label_map = sources.load_videos(video_dir=root)

  assert label_map == {'jump': 0, 'walk': 1}
  got = sorted((v.video_id, v.label_text, v.label_index) for v in videos)
  assert got == [('jump/a.avi', 'jump', 0), ('walk/b.mp4', 'walk', 1),
                 ('walk/nested/c.webm', 'walk', 1)]
  assert all(os.path.isfile(v.path) for v in videos)


def test_video_dir_lists_linked_folders_once_and_ends_on_link_loops(tmp_path):
  root = str(tmp_path / 'videos')
  _touch(f'{root}/walk/b.mp4')
  _touch(f'{root}/jump/a.avi')
  _touch(str(tmp_path / 'elsewhere/c.mp4'))
  os.symlink(str(tmp_path / 'elsewhere'), f'{root}/walk/linked')
  os.symlink(root, f'{root}/walk/loop')              # back to the top
  os.symlink(f'{root}/jump', f'{root}/walk/again')   # a folder listed already

  videos, _ = sources.load_videos(video_dir=root)

  assert sorted(v.video_id for v in videos) == [
      'jump/a.avi', 'walk/b.mp4', 'walk/linked/c.mp4']


def test_csv_with_header_names_and_video_root(tmp_path):
  csv_path = _write(str(tmp_path / 'list.csv'),
                    'path,label\nx/1.mp4,"zebra, plains"\nx/2.mp4,ant\n')

  videos, label_map = sources.load_videos(csv_path=csv_path,
                                          video_root='/data')

  assert label_map == {'ant': 0, 'zebra, plains': 1}
  assert [(v.path, v.video_id, v.label_index) for v in videos] == [
      ('/data/x/1.mp4', 'x/1.mp4', 1), ('/data/x/2.mp4', 'x/2.mp4', 0)]


def test_csv_integer_labels_without_header_are_indices(tmp_path):
  csv_path = _write(str(tmp_path / 'list.csv'), 'a.mp4,7\nb.mp4,2\n')
  videos, label_map = sources.load_videos(csv_path=csv_path)
  assert label_map == {'2': 2, '7': 7}
  assert [(v.path, v.label_index) for v in videos] == [('a.mp4', 7),
                                                       ('b.mp4', 2)]


def test_kinetics_csv_finds_files_in_both_layouts(tmp_path):
  root = str(tmp_path / 'k400')
  nested = _touch(f'{root}/abseiling/abc_000010_000020.mp4')
  flat = _touch(f'{root}/def_000000_000010.webm')
  csv_path = _write(
      str(tmp_path / 'train.csv'),
      'label,youtube_id,time_start,time_end,split\n'
      'abseiling,abc,10,20,train\n'
      '"passing American football (in game)",def,0,10,train\n'
      'abseiling,gone,5,15,train\n')

  videos, label_map = sources.load_videos(csv_path=csv_path, video_root=root)

  assert label_map == {'abseiling': 0, 'passing American football (in game)': 1}
  by_id = {v.video_id: v for v in videos}
  assert by_id['abc_000010_000020'].path == nested
  assert by_id['def_000000_000010'].path == flat
  assert by_id['def_000000_000010'].label_index == 1
  # A missing file stays listed so the converter reports it as failed.
  assert not os.path.exists(by_id['gone_000005_000015'].path)


def test_ucf101_train_and_test_lists(tmp_path):
  split_dir = tmp_path / 'ucfTrainTestlist'
  _write(str(split_dir / 'classInd.txt'),
         '1 ApplyEyeMakeup\n2 ApplyLipstick\n3 Archery\n')
  train = _write(
      str(split_dir / 'trainlist01.txt'),
      'ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n'
      'Archery/v_Archery_g08_c02.avi 3\r\n')
  test = _write(str(split_dir / 'testlist01.txt'),
                'ApplyLipstick/v_ApplyLipstick_g01_c01.avi\n')

  train_videos, label_map = sources.load_videos(ucf101_split_file=train,
                                                video_root='/ucf')
  test_videos, _ = sources.load_videos(ucf101_split_file=test,
                                       video_root='/ucf')

  assert label_map == {'ApplyEyeMakeup': 0, 'ApplyLipstick': 1, 'Archery': 2}
  assert [(v.path, v.label_index) for v in train_videos] == [
      ('/ucf/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi', 0),
      ('/ucf/Archery/v_Archery_g08_c02.avi', 2)]
  assert [(v.video_id, v.label_index) for v in test_videos] == [
      ('ApplyLipstick/v_ApplyLipstick_g01_c01.avi', 1)]


def test_hmdb51_split_tags_select_subset(tmp_path):
  split_dir = tmp_path / 'testTrainMulti_7030_splits'
  _write(str(split_dir / 'wave_test_split1.txt'),
         'w1.avi 1 \nw2.avi 2 \nw3.avi 0 \n')
  _write(str(split_dir / 'brush_hair_test_split1.txt'), 'b1.avi 2 \n')
  _write(str(split_dir / 'brush_hair_test_split2.txt'), 'b1.avi 1 \n')

  train, label_map = sources.load_videos(hmdb51_split_dir=str(split_dir),
                                         video_root='/hmdb')
  test, _ = sources.load_videos(hmdb51_split_dir=str(split_dir),
                                video_root='/hmdb', hmdb51_subset='test')

  assert label_map == {'brush_hair': 0, 'wave': 1}
  assert [(v.path, v.label_index) for v in train] == [('/hmdb/wave/w1.avi', 1)]
  assert sorted((v.video_id, v.label_index) for v in test) == [
      ('brush_hair/b1.avi', 0), ('wave/w2.avi', 1)]


def test_label_map_file_overrides_and_must_cover_labels(tmp_path):
  root = str(tmp_path / 'videos')
  _touch(f'{root}/walk/b.mp4')
  _touch(f'{root}/jump/a.mp4')
  good = _write(str(tmp_path / 'map.json'), json.dumps({'walk': 0, 'jump': 5}))
  partial = _write(str(tmp_path / 'partial.json'), json.dumps({'walk': 0}))

  videos, label_map = sources.load_videos(video_dir=root, label_map_path=good)
  assert label_map == {'walk': 0, 'jump': 5}
  assert sorted((v.label_text, v.label_index) for v in videos) == [
      ('jump', 5), ('walk', 0)]
  with pytest.raises(sources.InputError, match='jump'):
    sources.load_videos(video_dir=root, label_map_path=partial)


@pytest.mark.parametrize('kwargs, message', [
    ({}, 'exactly one'),
    ({'video_dir': 'a', 'csv_path': 'b'}, 'exactly one'),
    ({'ucf101_split_file': 'trainlist01.txt'}, 'needs --video_root'),
    ({'video_dir': '/does/not/exist'}, 'not found'),
])
def test_unusable_inputs_raise_input_error(kwargs, message):
  with pytest.raises(sources.InputError, match=message):
    sources.load_videos(**kwargs)


def test_repeated_videos_are_rejected(tmp_path):
  csv_path = _write(str(tmp_path / 'list.csv'), 'a.mp4,x\na.mp4,x\n')
  with pytest.raises(sources.InputError, match='more than once'):
    sources.load_videos(csv_path=csv_path)
