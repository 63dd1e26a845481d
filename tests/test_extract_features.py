"""Feature extraction writes one row per video, equal to `CVRLModel.encode`."""
import io

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf.dataloaders import video_input
from cvrl_tf.evaluation import extract
from cvrl_tf.evaluation import features as features_lib
from test_export_model import CONFIG_FILES
from test_export_model import run_python
from test_export_model import tiny_override
from test_export_model import tiny_params
from test_export_model import write_pretrained_checkpoint
from tfds_mock import TinyVideos
import toy_records

NUM_TEST_CLIPS = 2


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  """(checkpoint directory, model, record pattern)."""
  directory = str(tmp_path_factory.mktemp('extract'))
  model = write_pretrained_checkpoint(tiny_params(), directory)
  pattern = toy_records.write_toy_records(
      directory, 'test', videos_per_class=1, size=32, max_frames=16)
  return directory, model, pattern


def test_npz_matches_direct_encoding(setup):
  checkpoint_dir, model, pattern = setup
  params = tiny_params()
  output_path = 'ram://features/test.npz'
  extract.extract_to_npz(params, checkpoint_dir, pattern, output_path,
                         num_test_clips=NUM_TEST_CLIPS)
  with tf.io.gfile.GFile(output_path, 'rb') as f:
    written = np.load(io.BytesIO(f.read()))
  assert sorted(written) == ['features', 'labels', 'video_ids']

  data_config = features_lib.single_pass(params.task.validation_data,
                                         pattern, NUM_TEST_CLIPS)
  assert_encodes_every_video(written, model, data_config, num_videos=10)


def assert_encodes_every_video(written, model, data_config, num_videos):
  """`written` holds each video's id, label and mean `model.encode` of its
  views, as the evaluation pipeline of `data_config` makes them."""
  ids, labels = video_input.read_ids_and_labels(data_config)
  assert len(ids) == num_videos and len(set(ids)) == num_videos
  # Batches of 4 videos: the last one may be partial.
  direct = {}
  for features, _ in video_input.build_dataset(data_config):
    views = model.encode(features['image']).numpy()
    assert len(views) == NUM_TEST_CLIPS * len(features['video_id'])
    for video_id, video_views in zip(
        features['video_id'].numpy(),
        views.reshape(-1, NUM_TEST_CLIPS, views.shape[-1])):
      direct[video_id.decode()] = video_views.mean(axis=0)

  written_ids = written['video_ids'].tolist()
  assert sorted(written_ids) == sorted(ids)
  assert dict(zip(written_ids, written['labels'].tolist())) == dict(
      zip(ids, labels))
  assert written['features'].shape == (num_videos, 128)
  assert written['features'].dtype == np.float32
  np.testing.assert_allclose(
      written['features'], np.stack([direct[i] for i in written_ids]),
      atol=1e-5, rtol=0)


def test_tool_reads_a_tfds_split(setup, tmp_path):
  """`--tfds_name`, `--tfds_split`, `--tfds_data_dir` instead of
  `--input_path`: a dataset built in a data dir, read by a process that
  does not know its builder."""
  checkpoint_dir, model, _ = setup
  data_dir = str(tmp_path / 'tfds')
  TinyVideos(data_dir=data_dir).download_and_prepare()
  output_path = tmp_path / 'features.npz'
  result = run_python(
      'tools/extract_features.py', '--experiment=cvrl_pretrain',
      *[f'--config_file={f}' for f in CONFIG_FILES],
      f'--params_override={tiny_override()}',
      f'--checkpoint_path={checkpoint_dir}', '--tfds_name=tiny_videos',
      '--tfds_split=train', f'--tfds_data_dir={data_dir}',
      f'--num_test_clips={NUM_TEST_CLIPS}', f'--output_path={output_path}')
  assert result.returncode == 0, result.stderr[-3000:]
  written = np.load(output_path)
  assert written['video_ids'].tolist()[0].startswith(
      'tiny_videos-train.tfrecord-00000-of-00001__')
  data_config = features_lib.single_pass(
      extract.read_from(tiny_params().task.validation_data,
                        tfds_name='tiny_videos', tfds_split='train',
                        tfds_data_dir=data_dir), num_test_clips=NUM_TEST_CLIPS)
  assert_encodes_every_video(written, model, data_config, num_videos=5)


@pytest.mark.parametrize('source, message', [
    ({}, 'name the videos either by input_path (TFRecords) or by tfds_name '
     'and tfds_split (a TFDS dataset), got neither.'),
    ({'input_path': '/data/test-*', 'tfds_name': 'ucf101/ucf101_1',
      'tfds_split': 'test'}, 'name the videos either by input_path '
     '(TFRecords) or by tfds_name and tfds_split (a TFDS dataset), not both.'),
    ({'input_path': '/nonexistent/test-*'},
     "No file matches input_path '/nonexistent/test-*'."),
    ({'tfds_name': 'ucf101/ucf101_1', 'tfds_split': 'test',
      'tfds_data_dir': '{tmp}'},
     "tfds_name 'ucf101/ucf101_1' has no data in {tmp}/ucf101/ucf101_1/2.0.0:"
     ' build it with `tfds build ucf101 --config ucf101_1 --data_dir=DIR` '
     'and set tfds_data_dir to that DIR.'),
    ({'tfds_name': 'ucf101/ucf101_1'}, 'tfds_split is empty'),
])
def test_source_errors_are_one_line(source, message, tmp_path):
  source = {k: v.format(tmp=tmp_path) for k, v in source.items()}
  with pytest.raises(extract.SourceError) as error:
    extract.read_from(tiny_params().task.validation_data, **source)
  assert str(error.value).startswith(message.format(tmp=tmp_path))
  assert '\n' not in str(error.value)


def test_tool_reports_mismatched_checkpoint(setup, tmp_path):
  checkpoint_dir, _, pattern = setup
  output_path = tmp_path / 'features.npz'
  result = run_python(
      'tools/extract_features.py', '--experiment=cvrl_pretrain',
      *[f'--config_file={f}' for f in CONFIG_FILES],
      f'--params_override={tiny_override(0.5)}',
      f'--checkpoint_path={checkpoint_dir}',
      f'--input_path={pattern}', f'--output_path={output_path}')
  assert result.returncode != 0
  errors = [line for line in result.stderr.splitlines()
            if line.startswith('error:')]
  assert len(errors) == 1, result.stderr[-3000:]
  assert 'does not match the backbone' in errors[0]
  assert 'with other shapes (backbone/' in errors[0]
  assert 'Traceback' not in result.stderr
  assert not output_path.exists()
