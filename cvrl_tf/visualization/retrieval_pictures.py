"""Pictures of nearest-neighbour retrieval: query clips and what they find.

The protocol of `cvrl_tf.evaluation.retrieval` on an experiment's data, as
the kNN evaluation runs it: the videos of `task.validation_data` query those
of `task.train_data` by cosine similarity of their encoder features (test
views averaged, `features.encode_videos`). A picture has a row per query:
the query clip, then its k nearest videos, best first, each with its label
and similarity, framed green if its label is the query's and red if not.
A clip is shown by a few frames of the video's centre clip as the
evaluation pipeline produces it (one clip, one centre crop).
"""
import dataclasses
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from official.core import config_definitions as cfg

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.configs import tfds_source
from cvrl_tf.data_prep import record_layout
from cvrl_tf.dataloaders import video_input
from cvrl_tf.evaluation import extract
from cvrl_tf.evaluation import features as features_lib
from cvrl_tf.evaluation import retrieval
from cvrl_tf.modeling import input_specs
from cvrl_tf.visualization import pictures


@dataclasses.dataclass
class RetrievalExamples:
  """Queries and their neighbours; Q queries, k neighbours each.

  Attributes:
    query_ids: [Q] video ids.
    query_labels: [Q] class indices.
    neighbor_ids: [Q, k] gallery video ids, best first.
    neighbor_labels: [Q, k].
    similarities: [Q, k] cosine similarities.
    query_clips: query video id -> uint8 [T, H, W, 3], the clip shown.
    neighbor_clips: gallery video id -> the clip shown (a gallery and its
      queries may share ids, e.g. two splits' `<class>_0000`).
    label_names: class index -> name, where the records name it.
  """
  query_ids: np.ndarray
  query_labels: np.ndarray
  neighbor_ids: np.ndarray
  neighbor_labels: np.ndarray
  similarities: np.ndarray
  query_clips: Dict[str, np.ndarray]
  neighbor_clips: Dict[str, np.ndarray]
  label_names: Dict[int, str]

  @property
  def correct(self) -> np.ndarray:
    """[Q, k] whether each neighbour has its query's class."""
    return self.neighbor_labels == self.query_labels[:, None]


def read_label_names(data_config: data_cfg.DataConfig) -> Dict[int, str]:
  """Class index -> `clip/label/text` of the records, where they have one;
  of a TFDS dataset, its `ClassLabel` names."""
  if data_config.tfds_name:
    return tfds_source.label_names(data_config)
  context = {
      data_config.label_field_key: tf.io.VarLenFeature(tf.int64),
      record_layout.LABEL_TEXT_KEY: tf.io.FixedLenFeature(
          [], tf.string, default_value=''),
  }
  names = {}
  for serialized in tf.data.TFRecordDataset(
      video_input.input_files(data_config)):
    parsed, _ = tf.io.parse_single_sequence_example(serialized, context)
    label = tf.sparse.to_dense(parsed[data_config.label_field_key]).numpy()
    text = parsed[record_layout.LABEL_TEXT_KEY].numpy().decode()
    if len(label) and text:
      names[int(label[0])] = text
  return names


def centre_clips(data_config: data_cfg.DataConfig,
                 video_ids: Sequence[str]) -> Dict[str, np.ndarray]:
  """Video id -> uint8 [T, H, W, 3] centre clip of each of `video_ids`."""
  data_config = features_lib.single_pass(data_config, num_test_clips=1,
                                         num_test_crops=1)
  clips = {}
  for features, _ in video_input.build_dataset(data_config,
                                               video_ids=video_ids):
    frames = pictures.to_uint8(features['image'],
                               data_config.zero_centering_image).numpy()
    for video_id, clip in zip(features['video_id'].numpy(), frames):
      clips[video_id.decode()] = clip
  return clips


def find_neighbors(params: cfg.ExperimentConfig, checkpoint_path: str,
                   num_queries: int, k: int) -> RetrievalExamples:
  """The first `num_queries` validation videos and their k neighbours.

  Args:
    params: an experiment with `task.model` (a CVRL model), `train_data`
      (the gallery) and `validation_data` (the queries), labelled.
    checkpoint_path: pretraining checkpoint prefix or directory.
    num_queries: queries, in the order of the validation records.
    k: neighbours per query.

  Returns:
    The examples to draw.
  """
  gallery_config = params.task.train_data
  query_config = params.task.validation_data
  model = extract.restore_model(
      params.task.model,
      input_specs.common_feature_shape(gallery_config, query_config),
      checkpoint_path)
  encode = tf.function(lambda images: model.encode(images, training=False),
                       reduce_retracing=True)
  gallery_ids, gallery_labels, gallery_features = features_lib.encode_videos(
      encode, gallery_config)
  query_ids, query_labels, query_features = features_lib.encode_videos(
      encode, query_config)
  query_ids, query_labels = query_ids[:num_queries], query_labels[:num_queries]
  similarities, indices = retrieval.nearest_neighbors(
      gallery_features, query_features[:num_queries], k)
  query_ids = np.array([i.decode() for i in query_ids])
  neighbor_ids = np.array([i.decode() for i in gallery_ids])[indices]
  label_names = read_label_names(gallery_config)
  label_names.update(read_label_names(query_config))
  return RetrievalExamples(
      query_ids=query_ids, query_labels=query_labels,
      neighbor_ids=neighbor_ids, neighbor_labels=gallery_labels[indices],
      similarities=similarities,
      query_clips=centre_clips(query_config, list(query_ids)),
      neighbor_clips=centre_clips(gallery_config,
                                  sorted(set(neighbor_ids.flat))),
      label_names=label_names)


def _label(examples: RetrievalExamples, label: int) -> str:
  return examples.label_names.get(int(label), f'class {int(label)}')


def _frames(clip: np.ndarray, num_frames: Optional[int]) -> np.ndarray:
  """`num_frames` frames evenly spaced over `clip`, first and last included."""
  if not num_frames or num_frames >= len(clip):
    return clip
  return clip[np.linspace(0, len(clip) - 1, num_frames).round().astype(int)]


def retrieval_grid(examples: RetrievalExamples,
                   frames_per_clip: Optional[int] = 4) -> np.ndarray:
  """A picture: a row per query, query then neighbours; uint8 [H, W, 3].

  Args:
    examples: what to draw.
    frames_per_clip: frames shown of each clip (all if None).
  """
  rows = []
  for q, query_id in enumerate(examples.query_ids):
    row = [pictures.Cell(
        _frames(examples.query_clips[query_id], frames_per_clip),
        caption=f'{query_id}\n{_label(examples, examples.query_labels[q])}',
        border=pictures.QUERY_COLOR)]
    for n, neighbor_id in enumerate(examples.neighbor_ids[q]):
      correct = examples.correct[q, n]
      row.append(pictures.Cell(
          _frames(examples.neighbor_clips[neighbor_id], frames_per_clip),
          caption=(f'{_label(examples, examples.neighbor_labels[q, n])}\n'
                   f'{"right" if correct else "wrong"} '
                   f'{examples.similarities[q, n]:.2f}'),
          border=pictures.CORRECT_COLOR if correct else pictures.WRONG_COLOR))
    rows.append(row)
  titles = ['query'] + [f'top {n + 1}'
                        for n in range(examples.neighbor_ids.shape[1])]
  return pictures.render_grid(rows, column_titles=titles)[0]


def read_tfds(params: cfg.ExperimentConfig, tfds_name: str,
              query_split: str, gallery_split: str,
              tfds_data_dir: str = '') -> cfg.ExperimentConfig:
  """`params` with queries and gallery read from two splits of a TFDS
  dataset instead of its own data.

  Raises:
    extract.SourceError: a split that cannot be read (one line).
  """
  params = params.replace()
  params.task.validation_data = extract.read_from(
      params.task.validation_data, tfds_name=tfds_name,
      tfds_split=query_split, tfds_data_dir=tfds_data_dir)
  params.task.train_data = extract.read_from(
      params.task.train_data, tfds_name=tfds_name, tfds_split=gallery_split,
      tfds_data_dir=tfds_data_dir)
  return params


def write_retrieval_grid(params: cfg.ExperimentConfig, checkpoint_path: str,
                         output: str, num_queries: int, k: int,
                         frames_per_clip: Optional[int] = 4
                        ) -> RetrievalExamples:
  """Finds neighbours and writes their picture to `output` (PNG)."""
  examples = find_neighbors(params, checkpoint_path, num_queries, k)
  pictures.write_png(output, retrieval_grid(examples, frames_per_clip))
  return examples
