"""Pictures of training views and retrieval show the pipelines' own frames."""
import glob
import io
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
import yaml

from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf import train as trainer_lib
from cvrl_tf.configs import EXPERIMENTS_DIR
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.dataloaders import video_input
from cvrl_tf.evaluation import extract
from cvrl_tf.evaluation import features as features_lib
from cvrl_tf.tasks import pretrain
from cvrl_tf.visualization import augmentations
from cvrl_tf.visualization import pictures
from cvrl_tf.visualization import retrieval_pictures
from cvrl_tf.visualization import view_summaries
from test_export_model import write_pretrained_checkpoint
import tfds_mock
from tiny_experiments import tiny_data
from tiny_experiments import tiny_knn
from tiny_experiments import tiny_pretrain
from toy_records import write_toy_records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY_YAML = os.path.join(EXPERIMENTS_DIR, 'cvrl_pretrain_toy.yaml')


@pytest.fixture(scope='module')
def patterns(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('records'))
  return (write_toy_records(directory, 'train', videos_per_class=2,
                            max_frames=24),
          write_toy_records(directory, 'test', videos_per_class=1,
                            max_frames=24))


def uint8_reference(images, zero_centered=False):
  """Model inputs to uint8 with NumPy: [0, 1] (or [-1, 1]) -> 0..255."""
  images = np.asarray(tf.cast(images, tf.float32))
  if zero_centered:
    images = (images + 1) / 2
  return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)


def frame_boxes(layout, rows, columns):
  for row in range(rows):
    for column in range(columns):
      for t in range(layout.num_frames):
        yield row, column, t, layout.frame_box(row, column, t)


def assert_not_blank(image):
  assert image.dtype == np.uint8 and image.ndim == 3
  assert image.std() > 20, image.std()


def test_grid_pastes_every_frame_unchanged():
  rng = np.random.default_rng(0)
  clips = rng.integers(0, 256, (2, 3, 3, 8, 10, 3), dtype=np.uint8)
  cells = [[pictures.Cell(clips[r, c], caption=f'r{r} c{c}\nline 2',
                          border=pictures.WRONG_COLOR if c else None)
            for c in range(3)] for r in range(2)]
  image, layout = pictures.render_grid(cells, row_titles=['first', 'second'],
                                       column_titles=['a', 'b', 'c'])
  for row, column, t, (top, left, bottom, right) in frame_boxes(layout, 2, 3):
    np.testing.assert_array_equal(image[top:bottom, left:right],
                                  clips[row, column, t])
  top, left, _, _ = layout.frame_box(1, 1, 0)
  assert tuple(image[top - 1, left - 1]) == pictures.WRONG_COLOR
  top, left, _, _ = layout.frame_box(1, 0, 0)
  assert tuple(image[top - 1, left - 1]) == pictures.BACKGROUND
  # Titles and captions are drawn in the text colour.
  assert (image[:layout.top] < 100).all(axis=-1).any()
  assert (image[:, :layout.left] < 100).all(axis=-1).any()
  assert image.shape == (layout.top + 2 * layout.cell_pitch_y,
                         layout.left + 3 * layout.cell_pitch_x, 3)
  decoded = np.asarray(Image.open(io.BytesIO(pictures.encode_png(image))))
  np.testing.assert_array_equal(decoded, image)


def test_to_uint8_matches_numpy():
  values = tf.constant([[-1.0, -0.5, 0.0, 0.3, 1.0, 1.2]])
  for zero_centered in (False, True):
    np.testing.assert_array_equal(
        pictures.to_uint8(tf.cast(values, tf.bfloat16), zero_centered),
        uint8_reference(tf.cast(values, tf.bfloat16), zero_centered))


def run_tool(*args, timeout=240):
  return subprocess.run(
      [sys.executable, *args], cwd=REPO, capture_output=True, text=True,
      timeout=timeout, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))


def toy_override(pattern, device_augmentation):
  return (f'task.train_data.input_path={pattern},'
          'task.train_data.feature_shape=[4,32,32,3],'
          'task.train_data.global_batch_size=4,task.train_data.seed=3,'
          f'task.train_data.augmentation.device_augmentation='
          f'{device_augmentation}')


def test_augmentation_grid_is_the_first_training_batch(patterns, tmp_path):
  """The PNG shows the pipeline's first batch, device-augmented."""
  output = str(tmp_path / 'grid.png')
  override = toy_override(patterns[0], True)
  params = config_validation.experiment_params('cvrl_pretrain', [TOY_YAML],
                                               override)
  augmentations.write_augmentation_grid(params.task.train_data, 3, output)
  image = np.asarray(Image.open(output).convert('RGB'))
  assert_not_blank(image)

  # The same first batch, finished as the train step finishes it.
  data = params.task.train_data.replace(global_batch_size=3,
                                        output_video_id=True)
  features, _ = next(iter(video_input.build_dataset(data)))
  views = uint8_reference(pretrain.CVRLPretrainTask(params.task).views(
      features, data))
  views = np.stack(np.split(views, 2))  # [view, video, T, H, W, 3]
  ids = [i.decode() for i in features['video_id'].numpy()]
  cells = [[pictures.Cell(views[v, i])] for i in range(3) for v in range(2)]
  expected, layout = pictures.render_grid(
      cells, row_titles=[f'{i}\nview {v}' for i in ids for v in (1, 2)])
  assert image.shape == expected.shape == (
      layout.top + 6 * layout.cell_pitch_y,
      layout.left + layout.cell_pitch_x, 3)
  for row, _, t, (top, left, bottom, right) in frame_boxes(layout, 6, 1):
    video, view = divmod(row, 2)
    np.testing.assert_array_equal(image[top:bottom, left:right],
                                  views[view, video, t])
  np.testing.assert_array_equal(image, expected)
  # The two views of a video differ: they are augmented independently.
  assert np.abs(views[0].astype(int) - views[1]).mean() > 5


def test_show_augmentations_reports_a_missing_input_in_one_line(tmp_path):
  result = run_tool('tools/show_augmentations.py', '--experiment=cvrl_pretrain',
                    f'--config_file={TOY_YAML}',
                    '--params_override=task.train_data.input_path='
                    '/nonexistent/train-*', f'--output={tmp_path / "g.png"}')
  assert result.returncode != 0
  errors = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(errors) == 1 and 'matches no file' in errors[0], result.stderr
  assert 'Traceback' not in result.stderr


def image_summaries(model_dir):
  """{step: [decoded PNG, ...]} of the view images in the train events."""
  found = {}
  for path in glob.glob(os.path.join(model_dir, 'train', 'events.*')):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.tag == view_summaries.SUMMARY_NAME:
          encoded = tf.make_ndarray(value.tensor)[2:]  # After width, height.
          found[event.step] = [np.asarray(Image.open(io.BytesIO(png)))
                               for png in encoded]
  return found


def test_pretraining_writes_the_last_batch_views_every_summary_interval(
    patterns, tmp_path):
  params = tiny_pretrain(patterns[0], train_steps=10, checkpoint_interval=10)
  assert params.trainer.summary_interval == 5
  num_videos = params.task.view_summary_videos
  trainer_lib.run(params, 'train', str(tmp_path / 'on'))

  written = image_summaries(str(tmp_path / 'on'))
  assert sorted(written) == [5, 10]
  batches = list(video_input.build_dataset(params.task.train_data).take(10))
  for step, images in written.items():
    image = uint8_reference(batches[step - 1][0]['image'])
    half = len(image) // 2
    expected = pictures.view_pair_images(image[:num_videos],
                                         image[half:half + num_videos])
    assert len(images) == num_videos
    for picture, reference in zip(images, expected):
      assert_not_blank(picture)
      np.testing.assert_array_equal(picture, reference)

  # One step, at which summaries are recorded: no view images among them.
  params.override({'task': {'view_summary_videos': 0},
                   'trainer': {'train_steps': 1, 'steps_per_loop': 1,
                               'summary_interval': 1}})
  trainer_lib.run(params, 'train', str(tmp_path / 'off'))
  assert not image_summaries(str(tmp_path / 'off'))
  assert glob.glob(str(tmp_path / 'off' / 'train' / 'events.*'))


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('pretrained'))
  params = config_validation.experiment_params('cvrl_pretrain')
  params.override({'task': {'model': tiny_knn('', '').task.model.as_dict(),
                            'train_data': tiny_data('')}})
  write_pretrained_checkpoint(params, directory)
  return directory


@pytest.fixture(scope='module')
def retrieval_picture(patterns, pretrained, tmp_path_factory):
  """(params, examples, PNG path) of 3 queries and their 4 neighbours."""
  params = tiny_knn(*patterns, init_checkpoint=pretrained)
  output = str(tmp_path_factory.mktemp('retrieval') / 'retrieval.png')
  examples = retrieval_pictures.write_retrieval_grid(
      params, pretrained, output, num_queries=3, k=4, frames_per_clip=None)
  return params, examples, output


def assert_brute_force_neighbors(params, checkpoint, examples):
  """The examples' neighbours are those of the extracted features, by
  brute force; returns the extracted {'gallery', 'queries'} arrays."""
  arrays = {}
  for name, data in (('gallery', params.task.train_data),
                     ('queries', params.task.validation_data)):
    arrays[name] = extract.extract_to_npz(
        params, checkpoint, data.input_path, f'ram://{name}.npz',
        tfds_name=data.tfds_name, tfds_split=data.tfds_split,
        tfds_data_dir=data.tfds_data_dir)
  num_queries, k = examples.neighbor_ids.shape
  gallery = arrays['gallery']['features']
  gallery = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
  queries = arrays['queries']['features'][:num_queries]
  queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
  order = np.argsort(-(queries @ gallery.T), axis=1, kind='stable')[:, :k]
  np.testing.assert_array_equal(examples.query_ids,
                                arrays['queries']['video_ids'][:num_queries])
  np.testing.assert_array_equal(examples.neighbor_ids,
                                arrays['gallery']['video_ids'][order])
  np.testing.assert_array_equal(examples.neighbor_labels,
                                arrays['gallery']['labels'][order])
  return arrays


def test_retrieval_picture_shows_neighbours_marked_by_class(
    pretrained, retrieval_picture):
  params, examples, output = retrieval_picture
  arrays = assert_brute_force_neighbors(params, pretrained, examples)
  assert set(examples.label_names.values()) <= set(
      i.rsplit('_', 1)[0] for i in arrays['gallery']['video_ids'])

  # Each cell shows the centre clip the evaluation pipeline makes.
  image = np.asarray(Image.open(output).convert('RGB'))
  assert_not_blank(image)
  centre = {}
  for name, data in (('queries', params.task.validation_data),
                     ('gallery', params.task.train_data)):
    single = features_lib.single_pass(data, num_test_clips=1,
                                      num_test_crops=1)
    for features, _ in video_input.build_dataset(single):
      for video_id, clip in zip(features['video_id'].numpy(),
                                uint8_reference(features['image'])):
        centre[(name, video_id.decode())] = clip
  _, layout = pictures.render_grid(
      [[pictures.Cell(centre[('queries', examples.query_ids[0])],
                      caption='a\nb')] * 5] * 3,
      column_titles=['query', 'top 1'])
  assert image.shape[:2] == (layout.top + 3 * layout.cell_pitch_y,
                             layout.left + 5 * layout.cell_pitch_x)
  for row, column, t, (top, left, bottom, right) in frame_boxes(layout, 3, 5):
    if column == 0:
      clip = centre[('queries', examples.query_ids[row])]
    else:
      clip = centre[('gallery', examples.neighbor_ids[row, column - 1])]
    np.testing.assert_array_equal(image[top:bottom, left:right], clip[t])
    if column:
      correct = (examples.neighbor_labels[row, column - 1]
                 == examples.query_labels[row])
      assert tuple(image[top - 1, left - 1]) == (
          pictures.CORRECT_COLOR if correct else pictures.WRONG_COLOR)


@pytest.fixture(scope='module')
def tfds_retrieval(patterns, pretrained, tmp_path_factory):
  """The picture of 2 queries from one split of a built TFDS dataset and
  their 3 neighbours from another, drawn by the library, and the run of
  tools/show_retrieval.py on it (4 frames a clip: all of them), in a
  process that does not know the builder: (builder, params, examples,
  expected PNG, tool result, tool PNG)."""
  directory = tmp_path_factory.mktemp('tfds_retrieval')
  data_dir = str(directory / 'tfds')
  builder = tfds_mock.build(tfds_mock.TinyVideos, data_dir)
  knn = tiny_knn(*patterns, init_checkpoint=pretrained)
  params = retrieval_pictures.read_tfds(knn, 'tiny_videos', 'test', 'train',
                                        data_dir)
  expected = str(directory / 'expected.png')
  examples = retrieval_pictures.write_retrieval_grid(
      params, pretrained, expected, num_queries=2, k=3, frames_per_clip=None)
  config_file = directory / 'knn.yaml'
  config_file.write_text(yaml.safe_dump(knn.as_dict()))
  output = directory / 'retrieval.png'
  result = run_tool('tools/show_retrieval.py', '--experiment=cvrl_knn_eval',
                    f'--config_file={config_file}',
                    f'--checkpoint_path={pretrained}', f'--output={output}',
                    '--frames_per_clip=4', '--tfds_name=tiny_videos',
                    '--tfds_split=test', f'--tfds_data_dir={data_dir}',
                    '--num_queries=2', '--k=3')
  return builder, params, examples, expected, result, output


def assert_tool_drew(tfds_retrieval):
  """The tool's PNG is the library's, pixel for pixel."""
  _, _, _, expected, result, output = tfds_retrieval
  assert result.returncode == 0, result.stderr[-3000:]
  image = np.asarray(Image.open(output).convert('RGB'))
  assert_not_blank(image)
  np.testing.assert_array_equal(
      image, np.asarray(Image.open(expected).convert('RGB')))


def test_show_retrieval_tool_writes_the_retrieval_picture(tfds_retrieval):
  """The tool end to end draws the library's picture, pixel for pixel."""
  assert_tool_drew(tfds_retrieval)
  _, _, _, _, result, output = tfds_retrieval
  assert result.stdout.startswith(f'Wrote {output}: 2 queries, ')


def test_show_retrieval_tool_reads_two_tfds_splits(pretrained,
                                                   tfds_retrieval):
  """Queries from one split of a built TFDS dataset, the gallery from
  another, labels named by its ClassLabel; the tool, in a process that does
  not know the builder, draws the same picture."""
  builder, params, examples, _, _, _ = tfds_retrieval
  assert_brute_force_neighbors(params, pretrained, examples)
  assert all(i.startswith('tiny_videos-test.tfrecord')
             for i in examples.query_ids)
  assert examples.label_names == dict(
      enumerate(builder.info.features['label'].names))
  assert_tool_drew(tfds_retrieval)
