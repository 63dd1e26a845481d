"""Tiny versions of the registered experiments, for tests on CPU."""
from official.core import exp_factory

from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.configs import cvrl

TINY_BACKBONE = {'type': 'r3d', 'r3d': {'model_id': 18,
                                        'width_multiplier': 0.25}}
# The trainer tests train the small model with SimCLR's recipe, as the toy
# preset does (LARS, SimCLR's head); the paper recipe has its own tests
# (test_paper_recipe.py, test_model_garden_step.py).
TINY_CVRL_MODEL = {'backbone': TINY_BACKBONE, 'projection_head': 'simclr',
                   'projection_num_layers': 3, 'projection_hidden_dim': 64,
                   'projection_dim': 32, 'projection_norm_momentum': None}
SIMCLR_OPTIMIZER = cvrl.lars_cosine_optimization(1.0, 1, 1).optimizer.as_dict()
CPU_RUNTIME = {'distribution_strategy': 'one_device',
               'mixed_precision_dtype': 'float32', 'num_gpus': 0}


def tiny_data(input_path: str, **overrides) -> dict:
  data = {'input_path': input_path, 'global_batch_size': 8,
          'feature_shape': [4, 32, 32, 3], 'temporal_stride': 2,
          'min_image_size': 36, 'seed': 1, 'shuffle_buffer_size': 20}
  data.update(overrides)
  return data


def schedule(train_steps: int, learning_rate: float,
             checkpoint_interval: int = 5) -> dict:
  return {
      'train_steps': train_steps, 'steps_per_loop': min(5, train_steps),
      'summary_interval': min(5, train_steps),
      'checkpoint_interval': checkpoint_interval,
      'optimizer_config': {
          'learning_rate': {'cosine': {'initial_learning_rate': learning_rate,
                                       'decay_steps': train_steps}},
          # Presets derive warm-up from real dataset sizes; keep it short.
          'warmup': {'linear': {'warmup_steps': 1}}}}


def tiny_experiment(name: str, override: dict):
  params = exp_factory.get_exp_config(name)
  params.override({'runtime': CPU_RUNTIME, **override}, is_strict=True)
  params.validate()
  return params


def tiny_pretrain(record_pattern: str, train_steps: int,
                  checkpoint_interval: int = 5,
                  spatial_augmentation: bool = True):
  """Pretraining of the tiny model on toy records.

  `spatial_augmentation=False` is for tests of something other than the
  training views: the host colour operations of spatial augmentation take
  most of an input pipeline's start-up (a trace of each order of the colour
  operations, XLA-compiled when first drawn).
  """
  data = tiny_data(record_pattern)
  params = tiny_experiment('cvrl_pretrain', {
      'task': {'model': TINY_CVRL_MODEL, 'train_data': data,
               'validation_data': data, 'losses': {'l2_weight_decay': 0.0}},
      'trainer': schedule(train_steps, 1.0, checkpoint_interval)})
  params.override({'trainer': {'optimizer_config': {
      'optimizer': SIMCLR_OPTIMIZER,
      'warmup': {'linear': {'warmup_steps': 2}}}}})
  params.task.train_data.augmentation.spatial.enabled = spatial_augmentation
  return params


def tiny_classification(name: str, train_pattern: str, test_pattern: str,
                        train_steps: int = 3, init_checkpoint: str = '',
                        backbone: dict = None, **task_overrides):
  """A linear-eval / fine-tune / semi-supervised experiment on toy records."""
  return tiny_experiment(name, {
      'task': {
          'model': {'backbone': backbone or TINY_BACKBONE},
          'train_data': tiny_data(train_pattern, num_classes=10,
                                  global_batch_size=4),
          'validation_data': tiny_data(
              test_pattern, num_classes=10, global_batch_size=2,
              feature_shape=[4, 32, 32, 3], min_image_size=32,
              num_test_clips=2, num_test_crops=3),
          'init_checkpoint': init_checkpoint, **task_overrides},
      'trainer': {**schedule(train_steps, 0.1, train_steps),
                  'validation_steps': 2},
  })


def tiny_knn(train_pattern: str, test_pattern: str, init_checkpoint: str = '',
             train_steps: int = 0):
  eval_data = dict(num_classes=10, global_batch_size=4, num_test_clips=2,
                   num_test_crops=1, min_image_size=32, output_video_id=True)
  return tiny_experiment('cvrl_knn_eval', {
      'task': {'model': TINY_CVRL_MODEL,
               'train_data': tiny_data(train_pattern, **eval_data),
               'validation_data': tiny_data(test_pattern, **eval_data),
               'recall_ks': [1, 5], 'knn_k': 5,
               'init_checkpoint': init_checkpoint},
      'trainer': {'train_steps': train_steps, 'validation_steps': -1},
  })


# TCLR at test size: 8-frame clips (TCLR: 16) so that the tiny R3D-18, which
# halves time, still ends with one time step per dense clip (4); the sparse
# clip at stride 4 spans 32 frames and the dense clips (stride 1) are its
# quarters, the ratios of TCLR's 16 x 4 = 64-frame span.
TINY_TCLR_MODEL = {'backbone': TINY_BACKBONE, 'head_hidden_dim': 32,
                   'embedding_dim': 16}
TINY_TCLR_CLIPS = {'sparse_clip_frames': 8, 'sparse_clip_stride': 4,
                   'dense_clip_stride': 1, 'min_video_frames': 29}


def short_run(train_steps: int) -> dict:
  """Trainer settings of a run of a few steps, one checkpoint at its end."""
  return {'train_steps': train_steps, 'steps_per_loop': min(5, train_steps),
          'summary_interval': min(5, train_steps),
          'checkpoint_interval': train_steps,
          'validation_interval': train_steps, 'validation_steps': 1}


def tiny_tclr_pretrain(record_pattern: str, train_steps: int,
                       steps_per_epoch: int = 1):
  data = tiny_data(record_pattern, global_batch_size=4,
                   feature_shape=[8, 32, 32, 3], tclr_clips=TINY_TCLR_CLIPS)
  data.pop('temporal_stride')
  return tiny_experiment('tclr_pretrain', {
      'task': {'model': TINY_TCLR_MODEL, 'train_data': data,
               'validation_data': data,
               'recipe': {'steps_per_epoch': steps_per_epoch}},
      'trainer': short_run(train_steps)})


# ViCC at test size: per stream the tiny R3D-18, a 16-wide embedding, 8
# prototypes, a queue of two batches. Stages are one step each unless given
# (epochs of `steps_per_epoch` steps).
TINY_VICC_MODEL = {'backbone': TINY_BACKBONE, 'embedding_dim': 16,
                   'num_prototypes': 8}


def tiny_vicc_stages(epochs=(1, 1, 1, 1)) -> list:
  """Single RGB, single flow, cross RGB, cross flow; queue from epoch 0."""
  kinds = [('rgb', False), ('flow', False), ('rgb', True), ('flow', True)]
  return [{'trained_stream': stream, 'cross_stream': cross,
           'epochs': length, 'lr_decay_epochs': length,
           'queue_start_epoch': 0, 'freeze_prototypes_epochs': 0}
          for (stream, cross), length in zip(kinds, epochs)]


def tiny_vicc_pretrain(record_pattern: str, stages=None,
                       steps_per_epoch: int = 1):
  """All the stages' steps of the tiny model."""
  data = tiny_data(record_pattern, global_batch_size=4, read_flow=True,
                   temporal_stride=1)
  stages = stages or tiny_vicc_stages()
  train_steps = sum(stage['epochs'] for stage in stages) * steps_per_epoch
  return tiny_experiment('vicc_pretrain', {
      'task': {'model': TINY_VICC_MODEL, 'train_data': data,
               'validation_data': data,
               'losses': {'queue_length': 8},
               'recipe': {'stages': stages,
                          'steps_per_epoch': steps_per_epoch}},
      'trainer': short_run(train_steps)})
