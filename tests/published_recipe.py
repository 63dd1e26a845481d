"""CVRL's published training settings, each value written once with its source.

The authors released two experiment files in Model Garden
(`official/projects/video_ssl/configs/experiments/`, repository
tensorflow/models): `cvrl_pretrain_k600_200ep.yaml` and
`cvrl_linear_eval_k600.yaml`. They override Model Garden's
`video_ssl_pretrain_kinetics600` / `video_ssl_linear_eval_kinetics600`
experiments, whose defaults (e.g. SGD momentum 0.9 from `add_trainer`) are
published values too. Settings for which nothing was released are DERIVED the
way the release derives its own (e.g. round(epochs x videos / batch)).

A `Published` row names the field in our config (`ours`, None where ours has
no such field) and in Model Garden's (`model_garden`, None where the release
has no such field), so one value checks both.
"""
import dataclasses
from typing import Any, Callable, Optional, Tuple

PAPER = 'CVRL paper (Qian et al., CVPR 2021), sec. 4'
PAPER_LOSS = 'CVRL paper, sec. 3.1'
RELEASE_PRETRAIN = 'release: cvrl_pretrain_k600_200ep.yaml'
RELEASE_LINEAR = 'release: cvrl_linear_eval_k600.yaml'
MG_TRAINER = ('Model Garden official/vision/configs/video_classification.py '
              'add_trainer')
MG_KINETICS = ('Model Garden official/vision/configs/video_classification.py '
               'video_classification_kinetics600 / kinetics400')
MG_VIDEO_SSL = 'Model Garden official/projects/video_ssl/configs/video_ssl.py'
MG_WARMUP = 'Model Garden official/modeling/optimization LinearWarmupConfig'
MG_INPUT = ('Model Garden official/projects/video_ssl/dataloaders/'
            'video_ssl_input.py')
MG_JITTER = ('Model Garden official/projects/video_ssl/ops/'
             'video_ssl_preprocess_ops.py')
RANDOM_CROP_RESIZE = ('Model Garden official/vision/ops/preprocess_ops_3d.py '
                      'random_crop_resize')
DERIVED = 'DERIVED: round(epochs x videos / batch), as the release rounds'

OPTIMIZER = 'trainer.optimizer_config.'
SPATIAL = 'task.train_data.augmentation.spatial.'


@dataclasses.dataclass(frozen=True)
class Published:
  """One published setting.

  Attributes:
    ours: dotted key in our experiment config, or None (see `note`).
    value: the published value.
    source: where it is published (or how it is derived).
    model_garden: dotted key in Model Garden's experiment, or None.
    to_ours: maps `value` to ours where the two configs count differently.
    note: why ours has no such field, for rows with `ours` None.
  """
  ours: Optional[str]
  value: Any
  source: str
  model_garden: Optional[str] = None
  to_ours: Callable[[Any], Any] = lambda value: value
  note: str = ''


def same_key(key: str, value: Any, source: str) -> Published:
  return Published(key, value, source, model_garden=key)


# The training clips' crops, the same in pretraining (each view) and linear
# evaluation: video_ssl_input.py calls random_crop_resize with aspect ratios
# (0.5, 2) and areas (0.3, 1), then random_flip_left_right, in both modes.
TRAINING_CROPS = (
    Published(SPATIAL + 'crop_area_range', (0.3, 1.0), MG_INPUT),
    Published(SPATIAL + 'crop_aspect_ratio_range', (0.5, 2.0), MG_INPUT),
    Published(SPATIAL + 'crop_sampler', 'sample_distorted_bounding_box',
              RANDOM_CROP_RESIZE
              + ' (tf.image.sample_distorted_bounding_box)'),
    Published(SPATIAL + 'truncate_resized_frames', True,
              RANDOM_CROP_RESIZE + ' (tf.cast of the resize to uint8)'),
    Published(SPATIAL + 'flip', True, MG_INPUT),
)

# Pretraining, common to the four paper YAMLs.
PRETRAIN = (
    same_key('runtime.mixed_precision_dtype', 'bfloat16', RELEASE_PRETRAIN),
    same_key(OPTIMIZER + 'optimizer.type', 'sgd', MG_TRAINER),
    same_key(OPTIMIZER + 'optimizer.sgd.momentum', 0.9, MG_TRAINER),
    same_key(OPTIMIZER + 'optimizer.sgd.nesterov', False, RELEASE_PRETRAIN),
    same_key(OPTIMIZER + 'learning_rate.type', 'cosine', MG_TRAINER),
    same_key(OPTIMIZER + 'learning_rate.cosine.initial_learning_rate', 0.32,
             RELEASE_PRETRAIN + '; ' + PAPER),
    same_key(OPTIMIZER + 'warmup.type', 'linear', MG_TRAINER),
    same_key(OPTIMIZER + 'warmup.linear.warmup_learning_rate', 0, MG_WARMUP),
    same_key('task.losses.l2_weight_decay', 1e-6, RELEASE_PRETRAIN),
    same_key('task.losses.temperature', 0.1, MG_VIDEO_SSL + '; ' + PAPER_LOSS),
    same_key('task.train_data.global_batch_size', 1024,
             RELEASE_PRETRAIN + '; ' + PAPER),
    same_key('task.train_data.feature_shape', (16, 224, 224, 3),
             RELEASE_PRETRAIN),
    same_key('task.train_data.temporal_stride', 2, RELEASE_PRETRAIN),
    same_key('task.train_data.shuffle_buffer_size', 1024, RELEASE_PRETRAIN),
    same_key('task.train_data.min_image_size', 256, MG_KINETICS),
    Published('task.model.backbone.r3d.model_id', 50, RELEASE_PRETRAIN,
              model_garden='task.model.backbone.resnet_3d.model_id'),
    Published('task.model.backbone.r3d.stem_conv_temporal_kernel_size', 5,
              RELEASE_PRETRAIN, model_garden='task.model.backbone.resnet_3d.'
              'stem_conv_temporal_kernel_size'),
    Published('task.model.backbone.r3d.stem_conv_temporal_stride', 2,
              RELEASE_PRETRAIN, model_garden='task.model.backbone.resnet_3d.'
              'stem_conv_temporal_stride'),
    Published('task.model.backbone.r3d.stem_pool_temporal_stride', 1,
              RELEASE_PRETRAIN, model_garden='task.model.backbone.resnet_3d.'
              'stem_pool_temporal_stride'),
    # Release: block_specs with temporal_kernel_sizes 1, 1, 3, 3 per stage,
    # temporal_strides 1, use_self_gating false.
    Published('task.model.backbone.r3d.temporal_kernel_sizes', (1, 1, 3, 3),
              RELEASE_PRETRAIN),
    same_key('task.model.norm_activation.norm_momentum', 0.9, MG_KINETICS),
    same_key('task.model.norm_activation.norm_epsilon', 1e-5, MG_KINETICS),
    same_key('task.model.norm_activation.activation', 'relu', MG_KINETICS),
    same_key('task.model.norm_activation.use_sync_bn', True,
             RELEASE_PRETRAIN),
    # Our head's BatchNorm follows the backbone's setting.
    Published('task.model.norm_activation.use_sync_bn', True,
              RELEASE_PRETRAIN,
              model_garden='task.model.hidden_norm_activation.use_sync_bn'),
    Published('task.model.projection_head', 'video_ssl', MG_VIDEO_SSL + ' '
              'VideoSSLModel (hidden Dense layers with bias)'),
    Published('task.model.projection_num_layers', 3, MG_VIDEO_SSL,
              model_garden='task.model.hidden_layer_num',
              to_ours=lambda hidden: hidden + 1),
    Published('task.model.projection_hidden_dim', 2048, MG_VIDEO_SSL,
              model_garden='task.model.hidden_dim'),
    same_key('task.model.projection_dim', 128, MG_VIDEO_SSL),
    Published('task.model.projection_norm_momentum', 0.997, MG_VIDEO_SSL,
              model_garden='task.model.hidden_norm_activation.norm_momentum'),
    Published('task.model.norm_activation.norm_epsilon', 1e-5, MG_VIDEO_SSL,
              model_garden='task.model.hidden_norm_activation.norm_epsilon'),
    Published(None, 'bfloat16', RELEASE_PRETRAIN,
              model_garden='task.train_data.dtype',
              note='ours feeds float32 frames; the model casts them to '
              'bfloat16 in its first layer, the same values'),
    *TRAINING_CROPS,
    Published(SPATIAL + 'color_jitter_prob', 0.8, MG_JITTER),
    Published(SPATIAL + 'color_jitter_strength', 1.0, MG_JITTER),
    Published(SPATIAL + 'contrast_mean', 'clip', MG_JITTER + ' '
              'random_color_jitter_3d (the clip reshaped into one image)'),
    Published(SPATIAL + 'grayscale_prob', 0.2, MG_JITTER),
    Published(SPATIAL + 'view_blur_solarize', 'asymmetric', MG_INPUT),
    Published(None, (1.0, 0.1), MG_INPUT,
              note='blur probability of view 1 and view 2: see augmentation'),
    Published(None, (0.0, 0.2), MG_INPUT,
              note='solarization probability of view 1 and view 2: see '
              'augmentation'),
)


def pretrain_schedule(videos: int, steps: int, warmup: int,
                      source: str) -> Tuple[Published, ...]:
  """The rows that depend on the dataset and the number of epochs."""
  return (
      same_key('task.train_data.num_examples', videos, MG_KINETICS),
      same_key('trainer.train_steps', steps, source),
      same_key(OPTIMIZER + 'learning_rate.cosine.decay_steps', steps, source),
      same_key(OPTIMIZER + 'warmup.linear.warmup_steps', warmup, source),
  )


# {YAML in experiments/: (experiment, rows)}.
PRETRAIN_YAMLS = {
    'cvrl_pretrain_k600_r3d50_200ep.yaml': (
        'cvrl_pretrain_kinetics600',
        pretrain_schedule(366016, 71488, 1787, RELEASE_PRETRAIN)),
    'cvrl_pretrain_k600_r3d50_800ep.yaml': (
        'cvrl_pretrain_kinetics600',
        pretrain_schedule(366016, 285950, 1787, DERIVED)),
    'cvrl_pretrain_k400_r3d50_200ep.yaml': (
        'cvrl_pretrain', pretrain_schedule(215570, 42104, 1053, DERIVED)),
    'cvrl_pretrain_k400_r3d50_800ep.yaml': (
        'cvrl_pretrain', pretrain_schedule(215570, 168414, 1053, DERIVED)),
}

LINEAR_EVAL = (
    same_key('runtime.mixed_precision_dtype', 'bfloat16', RELEASE_LINEAR),
    same_key(OPTIMIZER + 'optimizer.type', 'sgd', MG_TRAINER),
    same_key(OPTIMIZER + 'optimizer.sgd.momentum', 0.9, MG_TRAINER),
    same_key(OPTIMIZER + 'optimizer.sgd.nesterov', False, RELEASE_LINEAR),
    same_key(OPTIMIZER + 'learning_rate.cosine.initial_learning_rate', 32.0,
             RELEASE_LINEAR + '; ' + PAPER),
    same_key(OPTIMIZER + 'warmup.linear.warmup_learning_rate', 0, MG_WARMUP),
    same_key('task.losses.l2_weight_decay', 0.0, RELEASE_LINEAR),
    same_key('task.train_data.global_batch_size', 1024, RELEASE_LINEAR),
    same_key('task.train_data.feature_shape', (32, 224, 224, 3),
             RELEASE_LINEAR + '; ' + PAPER),
    same_key('task.train_data.temporal_stride', 2,
             RELEASE_LINEAR + '; ' + PAPER),
    *TRAINING_CROPS,
    same_key('task.validation_data.feature_shape', (32, 256, 256, 3),
             RELEASE_LINEAR),
    same_key('task.validation_data.temporal_stride', 2, RELEASE_LINEAR),
    same_key('task.validation_data.num_test_clips', 10, RELEASE_LINEAR),
    same_key('task.validation_data.num_test_crops', 3, RELEASE_LINEAR),
    same_key('task.validation_data.global_batch_size', 64, RELEASE_LINEAR),
    same_key('task.validation_data.min_image_size', 256, MG_VIDEO_SSL),
    Published('task.freeze_backbone', True, PAPER + ' (linear evaluation)'),
    Published('task.model.normalize_features', True, MG_VIDEO_SSL,
              model_garden='task.model.normalize_feature'),
)

LINEAR_EVAL_YAMLS = {
    # Kinetics-600 has no YAML here: the experiment itself is the release's.
    None: ('cvrl_linear_eval_kinetics600', (
        same_key('task.train_data.num_examples', 366016, MG_KINETICS),
        same_key('trainer.train_steps', 35744, RELEASE_LINEAR),
        same_key(OPTIMIZER + 'learning_rate.cosine.decay_steps', 35744,
                 RELEASE_LINEAR),
        same_key(OPTIMIZER + 'warmup.linear.warmup_steps', 1787,
                 RELEASE_LINEAR))),
    'cvrl_linear_eval_k400_r3d50.yaml': ('cvrl_linear_eval', (
        same_key('task.train_data.num_examples', 215570, MG_KINETICS),
        same_key('trainer.train_steps', 21052, DERIVED),
        same_key(OPTIMIZER + 'learning_rate.cosine.decay_steps', 21052,
                 DERIVED),
        same_key(OPTIMIZER + 'warmup.linear.warmup_steps', 1053, DERIVED))),
}

SEMI_SUPERVISED = (
    Published(OPTIMIZER + 'learning_rate.cosine.initial_learning_rate', 0.2,
              PAPER + ' (semi-supervised learning)'),
)
SEMI_SUPERVISED_YAMLS = {
    'cvrl_semi_supervised_k400_1pct.yaml': ('cvrl_semi_supervised', (
        Published('task.train_subset.fraction', 0.01, PAPER),)),
    'cvrl_semi_supervised_k400_10pct.yaml': ('cvrl_semi_supervised', (
        Published('task.train_subset.fraction', 0.1, PAPER),)),
}
