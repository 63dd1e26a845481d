"""Evaluation experiment configs: linear eval, fine-tuning, kNN retrieval."""
import dataclasses
from typing import Optional, Tuple

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams
from official.modeling import optimization
from official.vision.configs import common

from cvrl_tf.configs import backbones
from cvrl_tf.configs import cvrl
from cvrl_tf.configs import data

KINETICS400_VALID_EXAMPLES = 17706
KINETICS600_VALID_EXAMPLES = 27780
# Train / test videos of split 1 of each dataset.
UCF101_EXAMPLES = (9537, 3783)
HMDB51_EXAMPLES = (3570, 1530)


@dataclasses.dataclass
class ClassifierModel(hyperparams.Config):
  """Backbone -> global average pool -> (L2 normalise) -> dropout -> linear.

  Attributes:
    normalize_features: L2-normalise pooled features before the linear
      layer, as Model Garden's linear eval does; this is what makes the
      paper's learning rate of 32 stable.
  """
  backbone: backbones.Backbone3D = dataclasses.field(
      default_factory=backbones.Backbone3D)
  norm_activation: common.NormActivation = dataclasses.field(
      default_factory=cvrl.default_norm_activation)
  dropout_rate: float = 0.0
  normalize_features: bool = False


@dataclasses.dataclass
class ClassificationLosses(hyperparams.Config):
  label_smoothing: float = 0.0
  l2_weight_decay: float = 0.0


@dataclasses.dataclass
class TrainSubset(hyperparams.Config):
  """A class-balanced fraction of the labelled training set.

  Attributes:
    fraction: 1.0 trains on everything; 0.01 / 0.1 are the paper's
      semi-supervised settings.
    seed: selects which videos; the same seed gives the same list.
    ids_file: where the selected video ids are written (one per line);
      defaults to `MODEL_DIR/train_subset_ids.txt`.
  """
  fraction: float = 1.0
  seed: int = 0
  ids_file: str = ''


@dataclasses.dataclass
class ClassificationTask(cfg.TaskConfig):
  """Supervised training from a pretrained backbone (linear eval / fine-tune).

  `init_checkpoint` (local or gs://, a file prefix or a directory) is loaded
  into the backbone when `init_checkpoint_modules` is 'backbone'; a mismatch
  fails with the names of the missing variables.
  """
  model: ClassifierModel = dataclasses.field(default_factory=ClassifierModel)
  losses: ClassificationLosses = dataclasses.field(
      default_factory=ClassificationLosses)
  train_data: data.DataConfig = dataclasses.field(
      default_factory=lambda: data.DataConfig(
          is_training=True, is_ssl=False, drop_remainder=True,
          feature_shape=(32, 224, 224, 3), temporal_stride=2))
  validation_data: data.DataConfig = dataclasses.field(
      default_factory=lambda: data.DataConfig(
          is_training=False, is_ssl=False, drop_remainder=False,
          feature_shape=(32, 256, 256, 3), temporal_stride=2,
          num_test_clips=10, num_test_crops=3))
  train_subset: TrainSubset = dataclasses.field(default_factory=TrainSubset)
  init_checkpoint: Optional[str] = None
  init_checkpoint_modules: str = 'backbone'
  freeze_backbone: bool = False


@dataclasses.dataclass
class KnnEvalTask(cfg.TaskConfig):
  """Nearest-neighbour retrieval: test clips query the train set.

  Features are backbone outputs, averaged over `num_test_clips` x
  `num_test_crops` views per video and L2-normalised. `model` must match
  the pretraining model so that its checkpoints restore.
  """
  model: cvrl.CVRLModel = dataclasses.field(default_factory=cvrl.CVRLModel)
  train_data: data.DataConfig = dataclasses.field(
      default_factory=lambda: data.DataConfig(
          is_training=False, is_ssl=False, drop_remainder=False,
          feature_shape=(16, 224, 224, 3), temporal_stride=2,
          num_test_clips=10, num_test_crops=1, output_video_id=True))
  validation_data: data.DataConfig = dataclasses.field(
      default_factory=lambda: data.DataConfig(
          is_training=False, is_ssl=False, drop_remainder=False,
          feature_shape=(16, 224, 224, 3), temporal_stride=2,
          num_test_clips=10, num_test_crops=1, output_video_id=True))
  recall_ks: Tuple[int, ...] = (1, 5, 10, 20)
  knn_k: int = 20
  init_checkpoint: Optional[str] = None
  init_checkpoint_modules: str = 'backbone'


def sgd_cosine_optimization(learning_rate: float, train_steps: int,
                            warmup_steps: int = 0, momentum: float = 0.9
                            ) -> optimization.OptimizationConfig:
  """Momentum SGD with cosine decay and optional linear warm-up."""
  config = {
      'optimizer': {'type': 'sgd', 'sgd': {'momentum': momentum,
                                           'nesterov': True}},
      'learning_rate': {'type': 'cosine', 'cosine': {
          'initial_learning_rate': learning_rate,
          'decay_steps': train_steps}},
  }
  if warmup_steps:
    config['warmup'] = {'type': 'linear',
                        'linear': {'warmup_steps': warmup_steps}}
  return optimization.OptimizationConfig(config)


def classification_experiment(num_train: int, num_valid: int,
                              num_classes: int, batch_size: int, epochs: int,
                              learning_rate: float, freeze_backbone: bool,
                              warmup_epochs: int = 0) -> cfg.ExperimentConfig:
  """A linear-eval or fine-tuning experiment for a labelled dataset."""
  steps_per_epoch = max(num_train // batch_size, 1)
  train_steps = epochs * steps_per_epoch
  task = ClassificationTask(freeze_backbone=freeze_backbone)
  task.model.normalize_features = freeze_backbone
  for data_config, num_examples in ((task.train_data, num_train),
                                    (task.validation_data, num_valid)):
    data_config.num_classes = num_classes
    data_config.num_examples = num_examples
  task.train_data.global_batch_size = batch_size
  task.validation_data.global_batch_size = 16
  return cfg.ExperimentConfig(
      runtime=cfg.RuntimeConfig(mixed_precision_dtype='bfloat16'),
      task=task,
      trainer=cfg.TrainerConfig(
          train_steps=train_steps,
          steps_per_loop=min(steps_per_epoch, 100),
          summary_interval=min(steps_per_epoch, 100),
          checkpoint_interval=steps_per_epoch,
          validation_interval=steps_per_epoch * 10,
          validation_steps=-(-num_valid // 16),
          best_checkpoint_eval_metric='top1',
          best_checkpoint_metric_comp='higher',
          optimizer_config=sgd_cosine_optimization(
              learning_rate, train_steps, warmup_epochs * steps_per_epoch)),
      restrictions=[
          'task.train_data.num_classes == task.validation_data.num_classes'])


@exp_factory.register_config_factory('cvrl_linear_eval')
def cvrl_linear_eval() -> cfg.ExperimentConfig:
  """Paper: frozen backbone, 32 frames stride 2, 100 epochs, lr 32, cosine."""
  exp = classification_experiment(
      cvrl.KINETICS400_TRAIN_EXAMPLES, KINETICS400_VALID_EXAMPLES, 400,
      batch_size=1024, epochs=100, learning_rate=32.0, freeze_backbone=True)
  exp.task.train_data.name = exp.task.validation_data.name = 'kinetics400'
  return exp


@exp_factory.register_config_factory('cvrl_linear_eval_kinetics600')
def cvrl_linear_eval_kinetics600() -> cfg.ExperimentConfig:
  exp = classification_experiment(
      cvrl.KINETICS600_TRAIN_EXAMPLES, KINETICS600_VALID_EXAMPLES, 600,
      batch_size=1024, epochs=100, learning_rate=32.0, freeze_backbone=True)
  exp.task.train_data.name = exp.task.validation_data.name = 'kinetics600'
  return exp


@exp_factory.register_config_factory('cvrl_finetune')
def cvrl_finetune() -> cfg.ExperimentConfig:
  """Transfer to UCF-101 split 1: all layers fine-tuned (paper Table 2)."""
  exp = classification_experiment(
      *UCF101_EXAMPLES, 101, batch_size=64, epochs=50, learning_rate=0.16,
      freeze_backbone=False, warmup_epochs=2)
  exp.task.model.dropout_rate = 0.5
  exp.task.train_data.name = exp.task.validation_data.name = 'ucf101'
  return exp


@exp_factory.register_config_factory('cvrl_semi_supervised')
def cvrl_semi_supervised() -> cfg.ExperimentConfig:
  """Fine-tune on 1% of Kinetics-400 labels, lr 0.2 (paper Table 3)."""
  exp = classification_experiment(
      cvrl.KINETICS400_TRAIN_EXAMPLES // 100, KINETICS400_VALID_EXAMPLES,
      400, batch_size=256, epochs=100, learning_rate=0.2,
      freeze_backbone=False)
  exp.task.train_subset.fraction = 0.01
  exp.task.train_data.num_examples = cvrl.KINETICS400_TRAIN_EXAMPLES
  exp.task.train_data.name = exp.task.validation_data.name = 'kinetics400'
  return exp


@exp_factory.register_config_factory('cvrl_knn_eval')
def cvrl_knn_eval() -> cfg.ExperimentConfig:
  """kNN retrieval and classification with a frozen pretrained encoder."""
  task = KnnEvalTask()
  # Nothing is trained, but Model Garden's trainer always builds an optimizer.
  unused_optimizer = optimization.OptimizationConfig({
      'optimizer': {'type': 'sgd'},
      'learning_rate': {'type': 'constant'}})
  return cfg.ExperimentConfig(
      runtime=cfg.RuntimeConfig(mixed_precision_dtype='float32'),
      task=task,
      trainer=cfg.TrainerConfig(validation_steps=-1,
                                optimizer_config=unused_optimizer))
