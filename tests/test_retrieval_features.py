"""TCLR's retrieval protocol options against a brute-force NumPy reference."""
import numpy as np
import pytest
import tensorflow as tf
from official.core import exp_factory

from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.configs import validation
from cvrl_tf.evaluation import features as features_lib
from cvrl_tf.evaluation import multiview
from cvrl_tf.evaluation import protocols
from cvrl_tf.evaluation import retrieval
from cvrl_tf.evaluation import retrieval_features
from cvrl_tf.tasks import knn_eval
from tiny_experiments import tiny_knn
from toy_records import write_toy_records


def tclr_recall(train_maps, train_labels, test_maps, test_labels):
  """`complete_retrieval.py` on [videos, clips, T', H', W', C] feature maps.

  Per clip: `AdaptiveAvgPool3d((None, 1, 1))` then `view(-1)` of the
  [C, T'] result; per video: the sum of (1 / clips) x clip feature;
  rows L2-normalised; similarity = train x test^T; a query is correct at k
  when its label is among the labels of the last k of `np.argsort` of its
  column.
  """
  def video_features(maps):
    pooled = maps.mean(axis=(3, 4))                 # [N, V, T', C]
    flat = np.transpose(pooled, (0, 1, 3, 2)).reshape(
        maps.shape[0], maps.shape[1], -1)            # [N, V, C * T']
    features = np.zeros(flat[:, 0].shape)
    for clip in range(maps.shape[1]):
      features += (1 / maps.shape[1]) * flat[:, clip]
    return features / np.linalg.norm(features, axis=1)[:, None]

  similarity = video_features(train_maps) @ video_features(test_maps).T
  order = np.argsort(similarity, axis=0)
  recalls = {}
  for k in (1, 5, 10, 20):
    correct = 0
    for i in range(similarity.shape[1]):
      top_label = train_labels[order[:, i]]
      correct += test_labels[i] in top_label[-k:]
    recalls[f'recall@{k}'] = correct / similarity.shape[1]
  return recalls


def our_recall(train_maps, train_labels, test_maps, test_labels):
  def video_features(maps):
    num_videos, num_clips = maps.shape[:2]
    clips = retrieval_features.time_step_features(
        tf.constant(maps.reshape(num_videos * num_clips, *maps.shape[2:])))
    return multiview.average_views(clips, num_clips).numpy()

  return retrieval.knn_retrieval(
      video_features(train_maps), train_labels, video_features(test_maps),
      test_labels)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_time_step_retrieval_matches_tclrs_code(seed):
  rng = np.random.default_rng(seed)
  num_classes, time_steps, channels = 6, 4, 8
  prototypes = rng.normal(size=(num_classes, time_steps, 1, 1, channels))
  train_labels = rng.integers(0, num_classes, 40)
  test_labels = rng.integers(0, num_classes, 25)

  def maps(labels):
    noise = rng.normal(size=(len(labels), 3, time_steps, 2, 2, channels))
    return (prototypes[labels][:, None] + 5.0 * noise).astype(np.float32)

  train_maps, test_maps = maps(train_labels), maps(test_labels)
  expected = tclr_recall(train_maps, train_labels, test_maps, test_labels)
  got = our_recall(train_maps, train_labels, test_maps, test_labels)
  for key, value in expected.items():
    assert got[key] == pytest.approx(value), key
  assert 0 < expected['recall@1'] < 1


def test_time_steps_tell_apart_what_pooling_merges():
  # Two classes with the same features in opposite temporal order.
  first, second = np.eye(4, dtype=np.float32)[:2]
  forward = np.stack([first, second])[None, :, None, None]   # [1, 2, 1, 1, 4]
  backward = forward[:, ::-1]
  maps = tf.constant(np.concatenate([forward, backward]))
  steps = retrieval_features.time_step_features(maps).numpy()
  assert steps.shape == (2, 8)
  assert np.dot(steps[0], steps[1]) == 0
  pooled = tf.reduce_mean(maps, [1, 2, 3]).numpy()
  np.testing.assert_array_equal(pooled[0], pooled[1])


@pytest.fixture(scope='module')
def patterns(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('records'))
  return (write_toy_records(directory, 'train', videos_per_class=1),
          write_toy_records(directory, 'test', videos_per_class=1))


def test_knn_task_with_time_step_features_matches_the_direct_protocol(
    patterns):
  params = tiny_knn(*patterns)
  params.override({'task': {'retrieval_feature': 'time_steps'}})
  task = knn_eval.KnnEvalTask(params.task)
  model = task.build_model()
  state = None
  for batch in task.build_inputs(params.task.validation_data):
    outputs = task.validation_step(batch, model)
    state = task.aggregate_logs(state, {k: (v,) for k, v in outputs.items()})
  logs = task.reduce_aggregated_logs(state)
  encode = retrieval_features.retrieval_encoder(model, 'time_steps')
  _, _, test_features = features_lib.encode_videos(
      encode, params.task.validation_data)
  # The tiny R3D-18 ends 4 frames with 2 time steps of 128 channels.
  assert test_features.shape[1] == 2 * 128
  expected = protocols.knn_eval(encode, params.task.train_data,
                                params.task.validation_data, ks=(1, 5),
                                knn_k=5)
  for key, value in expected.items():
    assert logs[key] == pytest.approx(value, abs=1e-6), key


def test_unknown_retrieval_feature_is_a_config_error():
  params = exp_factory.get_exp_config('cvrl_knn_eval')
  params.task.retrieval_feature = 'layer4'
  with pytest.raises(validation.ConfigError, match='task.retrieval_feature'):
    validation.validate(params, 'eval')
