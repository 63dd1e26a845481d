"""Evaluation tasks through orbit, started from a pretraining checkpoint."""
import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf import train
from cvrl_tf.dataloaders import video_input
from cvrl_tf.evaluation import extract
from cvrl_tf.evaluation import protocols
from cvrl_tf.modeling import checkpoints
from cvrl_tf.tasks import classification
from cvrl_tf.tasks import knn_eval
from cvrl_tf.tasks import pretrain
from tiny_experiments import tiny_classification
from tiny_experiments import tiny_knn
from tiny_experiments import tiny_pretrain
from toy_records import write_toy_records


@pytest.fixture(scope='module')
def patterns(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('records'))
  return (write_toy_records(directory, 'train', videos_per_class=2),
          write_toy_records(directory, 'test', videos_per_class=1))


@pytest.fixture(scope='module')
def pretrained(patterns, tmp_path_factory):
  """A checkpoint directory of a 2-step pretraining run."""
  model_dir = str(tmp_path_factory.mktemp('pretrain'))
  train.run(tiny_pretrain(patterns[0], train_steps=2, checkpoint_interval=2,
                          spatial_augmentation=False), 'train', model_dir)
  return model_dir


def backbone_values(path):
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name)
          for name, _ in tf.train.list_variables(path)
          if name.startswith('backbone/') and name.endswith('VARIABLE_VALUE')
          and '.OPTIMIZER_SLOT' not in name}


def run_classification(name, patterns, pretrained, model_dir, **overrides):
  params = tiny_classification(name, *patterns, init_checkpoint=pretrained,
                               **overrides)
  _, logs = train.run(params, 'train_and_eval', str(model_dir))
  return params, logs


def test_linear_eval_changes_only_the_classifier(patterns, pretrained,
                                                 tmp_path):
  run_classification('cvrl_linear_eval', patterns, pretrained, tmp_path)
  before = backbone_values(tf.train.latest_checkpoint(pretrained))
  after = backbone_values(tf.train.latest_checkpoint(str(tmp_path)))
  assert before.keys() == after.keys() and len(before) > 50
  # Weights and BatchNorm statistics alike: the backbone is frozen and in
  # inference mode.
  for name in before:
    np.testing.assert_array_equal(before[name], after[name], err_msg=name)
  reader = tf.train.load_checkpoint(str(tmp_path))
  logits_kernel = [n for n, _ in tf.train.list_variables(str(tmp_path))
                   if n.startswith('model/') and 'kernel' in n
                   and 'backbone' not in n and 'optimizer' not in n]
  assert logits_kernel
  assert np.abs(reader.get_tensor(logits_kernel[-1])).sum() > 0


def test_finetune_updates_the_backbone(patterns, pretrained, tmp_path):
  _, logs = run_classification('cvrl_finetune', patterns, pretrained,
                               tmp_path)
  before = backbone_values(tf.train.latest_checkpoint(pretrained))
  after = backbone_values(tf.train.latest_checkpoint(str(tmp_path)))
  changed = [n for n in before if not np.array_equal(before[n], after[n])]
  assert len(changed) > len(before) // 2
  assert 0.0 <= logs['top1'] <= logs['top5'] <= 1.0


def test_mismatched_checkpoint_names_missing_variables(patterns, pretrained,
                                                       tmp_path):
  wider = {'type': 'r3d', 'r3d': {'model_id': 34, 'width_multiplier': 0.25}}
  params = tiny_classification('cvrl_linear_eval', *patterns,
                               init_checkpoint=pretrained, backbone=wider)
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match='missing .*backbone'):
    train.run(params, 'train', str(tmp_path))


def test_semi_supervised_trains_on_a_written_balanced_subset(
    patterns, pretrained, tmp_path):
  params = tiny_classification(
      'cvrl_semi_supervised', *patterns, init_checkpoint=pretrained,
      train_subset={'fraction': 0.5, 'seed': 3})
  task = classification.ClassificationTask(params.task,
                                           logging_dir=str(tmp_path))
  dataset = task.build_inputs(params.task.train_data.replace(
      output_video_id=True))
  written = (tmp_path / 'train_subset_ids.txt').read_text().splitlines()
  # 2 videos per class, half of them: one per class.
  assert len(written) == 10
  assert len({video_id.rsplit('_', 1)[0] for video_id in written}) == 10
  # The training pipeline shuffles and repeats: 160 draws cover all 10.
  seen = {v.decode() for features, _ in dataset.take(40)
          for v in features['video_id'].numpy()}
  assert seen == set(written)


def test_multi_view_validation_averages_logits_per_video(patterns, tmp_path):
  params = tiny_classification('cvrl_finetune', *patterns)
  task = classification.ClassificationTask(params.task)
  model = task.build_model()
  features, labels = next(iter(task.build_inputs(params.task.validation_data)))
  metrics = task.build_metrics(training=False)
  task.validation_step((features, labels), model, metrics)
  views = model(features['image'], training=False).numpy().reshape(
      labels.shape[0], 6, -1)
  expected = np.mean(views.mean(axis=1).argmax(-1) == labels.numpy().argmax(-1))
  assert metrics[0].result().numpy() == pytest.approx(expected)


def test_knn_task_matches_the_direct_protocol(patterns, pretrained, tmp_path):
  params = tiny_knn(*patterns, init_checkpoint=pretrained)
  _, logs = train.run(params, 'eval', str(tmp_path))
  task = knn_eval.KnnEvalTask(params.task)
  model = task.build_model()
  task.initialize(model)
  expected = protocols.knn_eval(
      tf.function(lambda x: model.encode(x, training=False)),
      params.task.train_data, params.task.validation_data, ks=(1, 5),
      knn_k=5)
  for key, value in expected.items():
    assert logs[key] == pytest.approx(value, abs=1e-6), key


def test_continuous_knn_eval_on_a_ram_filesystem(patterns):
  model_dir = 'ram://cvrl_continuous_eval'
  train.run(tiny_pretrain(patterns[0], train_steps=2, checkpoint_interval=1,
                          spatial_augmentation=False), 'train', model_dir)
  params = tiny_knn(*patterns, train_steps=2)
  params.override({'trainer': {'continuous_eval_timeout': 5}})
  _, logs = train.run(params, 'continuous_eval', model_dir)
  assert 0.0 <= logs.get('recall@1', 0.0) <= 1.0
  assert tf.io.gfile.glob(model_dir + '/validation/events.out.tfevents*')


def test_augmented_views_are_one_labelled_pass_per_view(patterns, pretrained):
  params = tiny_knn(*patterns, init_checkpoint=pretrained)
  task = knn_eval.KnnEvalTask(params.task)
  model = task.build_model()
  task.initialize(model)
  encode = tf.function(lambda x: model.encode(x, training=False))
  train_data = params.task.train_data
  labels, features = protocols.augmented_features(encode, train_data,
                                                  num_views=2)
  _, expected_labels = video_input.read_ids_and_labels(train_data)
  assert features.shape[0] == 2 * len(expected_labels)
  np.testing.assert_array_equal(np.sort(labels),
                                np.sort(expected_labels * 2))
  # The two passes draw different crops, so their features differ.
  half = len(expected_labels)
  assert not np.allclose(np.sort(features[:half], 0),
                         np.sort(features[half:], 0))
  metrics = protocols.evaluate_encoder(
      encode, train_data, params.task.validation_data,
      train_data.num_classes, num_augmented_views=1)
  assert {'top1', 'top5', 'recall@1', 'knn_top1'} <= set(metrics)


def _with_nan_stem(pretrained, directory):
  """A copy of the pretrained backbone with NaN in its stem kernel.

  Returns:
    (checkpoint prefix, name of the NaN variable in the checkpoint).
  """
  network = pretrain.CVRLPretrainTask(
      tiny_pretrain('unused', train_steps=1).task).build_model()
  checkpoint = tf.train.Checkpoint(backbone=network.backbone)
  checkpoint.read(tf.train.latest_checkpoint(pretrained)).expect_partial()
  kernel = next(v for v in network.backbone.trainable_variables
                if 'stem' in v.name and 'kernel' in v.name)
  kernel.assign(tf.fill(kernel.shape, np.nan))
  path = checkpoint.write(str(directory / 'nan_ckpt'))
  nan_names = [name for name, _ in tf.train.list_variables(path)
               if name.endswith('VARIABLE_VALUE')
               and np.isnan(tf.train.load_checkpoint(path).get_tensor(
                   name)).any()]
  assert len(nan_names) == 1
  return path, nan_names[0].split('/.ATTRIBUTES')[0]


def test_checkpoint_with_nan_is_refused_naming_the_variable(
    patterns, pretrained, tmp_path):
  path, nan_name = _with_nan_stem(pretrained, tmp_path)
  params = tiny_classification('cvrl_linear_eval', *patterns,
                               init_checkpoint=path)
  with pytest.raises(checkpoints.NonFiniteCheckpointError) as error:
    train.run(params, 'train', str(tmp_path / 'linear'))
  assert str(error.value) == (
      f'Checkpoint {path} holds NaN or Inf values in 1 variable(s): '
      f'{nan_name}. The training that wrote it diverged; use an earlier '
      'checkpoint.')
  # The evaluation tools and export load through the same check.
  model_config = tiny_pretrain('unused', train_steps=1).task.model
  with pytest.raises(checkpoints.NonFiniteCheckpointError, match=nan_name):
    extract.restore_model(model_config, [4, 32, 32, 3], path)


def test_missing_init_checkpoint_is_named(patterns, tmp_path):
  missing = str(tmp_path / 'no_such_run' / 'ckpt-10')
  params = tiny_classification('cvrl_linear_eval', *patterns,
                               init_checkpoint=missing)
  with pytest.raises(checkpoints.CheckpointNotFoundError,
                     match=f'No checkpoint at {missing!r}'):
    train.run(params, 'train', str(tmp_path / 'linear'))
