"""Config mistakes are one clear line, found before any data is read."""
import pytest
from official.core import exp_factory

from cvrl_tf.configs import validation as config_validation
from test_train_cli import error_lines
from test_train_cli import run_trainer
import tiny_experiments

ConfigError = config_validation.ConfigError


@pytest.fixture(name='records')
def _records(tmp_path):
  """Input files that exist but would fail if read, as no check may."""
  (tmp_path / 'train-00000-of-00001.tfrecord').write_bytes(b'not a record')
  return str(tmp_path / 'train-*.tfrecord')


def _pretrain(records, **data_overrides):
  params = tiny_experiments.tiny_pretrain(records, train_steps=2)
  for name, overrides in data_overrides.items():
    params.override({'task': {name: overrides}})
  return params


def _knn(records, **overrides):
  params = tiny_experiments.tiny_knn(records, records)
  params.override({'task': {'train_data': overrides}})
  return params


def _message(params, mode):
  with pytest.raises(ConfigError) as error:
    config_validation.validate(params, mode)
  message = str(error.value)
  assert '\n' not in message
  return message


@pytest.mark.parametrize('mode, overrides, expected', [
    ('train', {'train_data': {'feature_shape': [8, 32, 32]}},
     'task.train_data.feature_shape must be [frames, height, width, 3] with '
     'positive sizes, got [8, 32, 32].'),
    ('train', {'train_data': {'feature_shape': [8, 32, 32, 1]}},
     'got [8, 32, 32, 1]'),
    ('train', {'train_data': {'feature_shape': [0, 32, 32, 3]}},
     'got [0, 32, 32, 3]'),
    ('train', {'train_data': {'temporal_stride': 0}},
     'task.train_data.temporal_stride must be at least 1, got 0.'),
    ('train', {'train_data': {'global_batch_size': 0}},
     'task.train_data.global_batch_size must be positive, got 0.'),
    ('train_and_eval', {'validation_data': {'feature_shape': [4, 48, 32, 3],
                                            'min_image_size': 40}},
     'task.validation_data.feature_shape crops 48x32 from frames resized to a '
     'short side of min_image_size=40: set min_image_size to at least 48 or '
     'crop smaller.'),
    ('eval', {'validation_data': {'num_test_crops': 2}},
     'task.validation_data.num_test_crops must be 1 or 3, got 2.'),
    ('eval', {'validation_data': {'num_test_clips': 0}},
     'task.validation_data.num_test_clips must be at least 1, got 0.'),
    ('eval', {'validation_data': {'test_clip_starts': 'random'}},
     "task.validation_data.test_clip_starts must be one of ('even', 'tclr'), "
     "got 'random'."),
    ('train', {'train_data': {'augmentation': {'spatial': {
        'crop_area_range': [0.0, 1.0]}}}},
     'task.train_data.augmentation.spatial.crop_area_range must be [low, '
     'high] with 0 < low <= high <= 1, got [0.0, 1.0].'),
    ('train', {'train_data': {'augmentation': {'spatial': {
        'crop_area_range': [0.8, 0.5]}}}}, 'got [0.8, 0.5]'),
    ('train', {'train_data': {'augmentation': {'spatial': {
        'crop_aspect_ratio_range': [-1.0, 2.0]}}}},
     'crop_aspect_ratio_range must be [low, high] with 0 < low <= high'),
    ('train', {'train_data': {'augmentation': {'spatial': {
        'view_blur_solarize': 'byol'}}}},
     "task.train_data.augmentation.spatial.view_blur_solarize must be one of "
     "['asymmetric', 'symmetric'], got 'byol'."),
    ('train', {'train_data': {'augmentation': {'spatial': {
        'contrast_mean': 'video'}}}},
     "task.train_data.augmentation.spatial.contrast_mean must be one of "
     "['clip', 'frame'], got 'video'."),
    ('train', {'losses': {'loss_over_replicas': 'total'}},
     "task.losses.loss_over_replicas must be one of ['mean', 'sum'], got "
     "'total'."),
    ('train', {'train_data': {'augmentation': {
        'device_augmentation': True,
        'spatial': {'temporally_consistent': False}}}},
     'task.train_data.augmentation.device_augmentation draws one set of '
     'photometric parameters per clip: it needs '
     'task.train_data.augmentation.spatial.temporally_consistent: true.'),
    ('train', {'train_data': {'input_path': '', 'tfds_name': 'ucf101',
                              'read_flow': True}},
     'task.train_data.read_flow needs TFRecords written by '
     'tools/make_tfrecords.py --flow; TFDS datasets have no flow.'),
    ('train', {'train_data': {'read_flow': True, 'flow_flip': 'negate'}},
     "task.train_data.flow_flip must be one of ['mirror_image', "
     "'negate_x'], got 'negate'."),
    ('train', {'train_data': {'flow_photometric': 'like_rgb'}},
     'task.train_data.flow_photometric: like_rgb changes the flow stream, '
     'which task.train_data.read_flow: false leaves out: set read_flow: '
     'true or remove it.'),
])
def test_impossible_shapes(records, mode, overrides, expected):
  assert expected in _message(_pretrain(records, **overrides), mode)


def test_possible_shapes_pass(records):
  # Training crops any size from a random window, and a clip longer than a
  # video loops it (temporal_sampling), so neither is a mistake.
  params = _pretrain(records, train_data={
      'feature_shape': [64, 48, 48, 3], 'temporal_stride': 8,
      'min_image_size': 32})
  config_validation.validate(params, 'train')
  # Unread inputs are not checked: pretraining in train mode never evaluates.
  params.override({'task': {'validation_data': {'min_image_size': 8}}})
  config_validation.validate(params, 'train')


def test_retrieval_bank_is_checked_in_eval_mode(records):
  # kNN evaluation reads train_data (with evaluation crops) in eval mode.
  message = _message(_knn(records, min_image_size=16), 'eval')
  assert message.startswith('task.train_data.feature_shape crops 32x32')
  with pytest.raises(ConfigError, match='task.train_data.input_path is empty'):
    config_validation.validate(_knn(''), 'eval')


@pytest.mark.parametrize('override, expected', [
    ('task.train_data.global_batch_size=1o24',
     "task.train_data.global_batch_size must be an integer, got '1o24' "
     '(str).'),
    ('task.train_data.global_batch_size=1.5',
     'task.train_data.global_batch_size must be an integer, got 1.5 (float).'),
    ('task.train_data.seed=x',
     "task.train_data.seed must be an integer or null, got 'x' (str)."),
    ('task.train_data.feature_shape=16',
     'task.train_data.feature_shape must be a list of integers, got 16 '
     '(int).'),
    ('task.train_data.is_ssl=maybe',
     "task.train_data.is_ssl must be true or false, got 'maybe' (str)."),
    ('task.losses.temperature=hot',
     "task.losses.temperature must be a number, got 'hot' (str)."),
    ('trainer.train_steps=[1,2]',
     'trainer.train_steps must be an integer, got [1, 2] (list).'),
    ('task.train_data.augmentation.spatial.crop_area_range=[0.5]',
     'task.train_data.augmentation.spatial.crop_area_range must be a list '
     'of 2 numbers, got [0.5] (list).'),
])
def test_wrong_types(override, expected):
  with pytest.raises(ConfigError) as error:
    config_validation.experiment_params('cvrl_pretrain',
                                        params_override=override)
  assert str(error.value) == expected


def test_registered_experiments_have_valid_types_and_shapes():
  for name in config_validation.registered_experiments():
    params = exp_factory.get_exp_config(name)
    config_validation.check_types(params)
    for data_name, data_config in config_validation.data_configs_read(
        params, 'train_and_eval'):
      params.override({'task': {data_name: {'input_path': __file__}}})
    config_validation.validate(params, 'train_and_eval')


def test_batches_must_split_over_replicas(records):
  params = _pretrain(records, train_data={'global_batch_size': 6},
                     validation_data={'global_batch_size': 4})
  config_validation.check_replicas(params, 'train', 3)
  config_validation.check_replicas(params, 'eval', 4)
  with pytest.raises(ConfigError) as error:
    config_validation.check_replicas(params, 'train_and_eval', 4)
  assert str(error.value) == (
      'task.train_data.global_batch_size=6 does not split over the 4 '
      'replicas of the distribution strategy: use a multiple of 4.')


def _write_yaml(path, text):
  path.write_text(text)
  return str(path)


@pytest.mark.parametrize('yaml_text, mode, expected', [
    ('task:\n  train_data:\n    augmentation:\n      spatial:\n'
     '        colour_jitter: 0.5\n', 'train',
     "error: unknown config key 'colour_jitter'"),
    ('task:\n  train_data:\n    global_batch_size: 1o24\n', 'train',
     "error: task.train_data.global_batch_size must be an integer, got "
     "'1o24' (str)."),
    ('task:\n  validation_data:\n    feature_shape: [8, 288, 288, 3]\n',
     'train_and_eval',
     'error: task.validation_data.feature_shape crops 288x288 from frames '
     'resized to a short side of min_image_size=256'),
], ids=['unknown_key', 'wrong_type', 'crop_too_large'])
def test_trainer_reports_config_file_mistakes(tmp_path, records, yaml_text,
                                              mode, expected):
  config_file = _write_yaml(tmp_path / 'experiment.yaml', yaml_text)
  result = run_trainer(
      '--experiment=cvrl_pretrain', f'--config_file={config_file}',
      f'--params_override=task.train_data.input_path={records},'
      f'task.validation_data.input_path={records}',
      f'--mode={mode}', f'--model_dir={tmp_path / "model"}')
  assert result.returncode != 0
  last_line = result.stderr.strip().splitlines()[-1]
  assert last_line.startswith(expected), result.stderr[-2000:]
  assert error_lines(result) == [last_line]
  assert 'Traceback' not in result.stderr
