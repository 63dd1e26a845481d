"""CVRL pretraining experiment configs, registered with `exp_factory`."""
import dataclasses

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams
from official.modeling import optimization
from official.vision.configs import common

from cvrl_tf.configs import backbones
from cvrl_tf.configs import data

# SimCLR's linear scaling rule with CVRL's base rate: 0.32 x batch / 256.
BASE_LEARNING_RATE = 0.32
KINETICS400_TRAIN_EXAMPLES = 215570
KINETICS600_TRAIN_EXAMPLES = 366016


def default_norm_activation() -> common.NormActivation:
  """BatchNorm settings of every model here (Model Garden's video defaults)."""
  return common.NormActivation(norm_momentum=0.9, norm_epsilon=1e-5,
                               use_sync_bn=False)


@dataclasses.dataclass
class CVRLModel(hyperparams.Config):
  """Encoder plus SimCLR projection head.

  Attributes:
    backbone: the 3D-ResNet.
    norm_activation: BatchNorm settings of backbone and head; `use_sync_bn`
      is switched on automatically under a multi-replica strategy.
    projection_num_layers: dense layers in the head (SimCLR's 3-layer MLP:
      all but the last are followed by BN and ReLU).
    projection_hidden_dim: width of the hidden layers.
    projection_dim: output embedding size.
  """
  backbone: backbones.Backbone3D = dataclasses.field(
      default_factory=backbones.Backbone3D)
  norm_activation: common.NormActivation = dataclasses.field(
      default_factory=default_norm_activation)
  projection_num_layers: int = 3
  projection_hidden_dim: int = 2048
  projection_dim: int = 128


@dataclasses.dataclass
class ContrastiveLosses(hyperparams.Config):
  """InfoNCE settings (eq. 1). Weight decay lives in the LARS optimizer."""
  temperature: float = 0.1


@dataclasses.dataclass
class CVRLPretrainTask(cfg.TaskConfig):
  """Self-supervised pretraining task.

  Attributes:
    deterministic: reproducible training (`cvrl_tf.training.determinism`):
      seeds the initial weights with `train_data.seed` (required), enables op
      determinism and saves the training input iterator in checkpoints, so
      that an interrupted and resumed run ends with the weights of an
      uninterrupted one. Slower, and checkpoints include the input
      pipeline's buffers (shuffle buffer and prefetched batches).
  """
  model: CVRLModel = dataclasses.field(default_factory=CVRLModel)
  losses: ContrastiveLosses = dataclasses.field(
      default_factory=ContrastiveLosses)
  train_data: data.DataConfig = dataclasses.field(
      default_factory=lambda: data.DataConfig(
          is_training=True, is_ssl=True, drop_remainder=True,
          feature_shape=(16, 224, 224, 3), temporal_stride=2))
  validation_data: data.DataConfig = dataclasses.field(
      default_factory=lambda: data.DataConfig(
          is_training=False, is_ssl=True, drop_remainder=True,
          feature_shape=(16, 224, 224, 3), temporal_stride=2))
  deterministic: bool = False


def lars_cosine_optimization(learning_rate: float, train_steps: int,
                             warmup_steps: int,
                             weight_decay: float = 1e-6
                             ) -> optimization.OptimizationConfig:
  """LARS with linear warm-up and cosine decay (SimCLR / CVRL recipe).

  Weight decay applies to kernels only: BN parameters and biases are
  excluded from both decay and layer adaptation.
  """
  return optimization.OptimizationConfig({
      'optimizer': {
          'type': 'lars',
          'lars': {
              'momentum': 0.9,
              'weight_decay_rate': weight_decay,
              'exclude_from_weight_decay': ['batch_normalization', 'bias'],
          },
      },
      'learning_rate': {
          'type': 'cosine',
          'cosine': {
              'initial_learning_rate': learning_rate,
              'decay_steps': train_steps,
          },
      },
      'warmup': {
          'type': 'linear',
          'linear': {'warmup_steps': warmup_steps},
      },
  })


def pretrain_experiment(num_examples: int, batch_size: int, epochs: int,
                        warmup_epochs: int = 5) -> cfg.ExperimentConfig:
  """The paper's pretraining setup for a dataset of `num_examples` videos."""
  steps_per_epoch = max(num_examples // batch_size, 1)
  train_steps = epochs * steps_per_epoch
  task = CVRLPretrainTask()
  task.train_data.global_batch_size = batch_size
  task.train_data.num_examples = num_examples
  task.validation_data.global_batch_size = batch_size
  return cfg.ExperimentConfig(
      runtime=cfg.RuntimeConfig(mixed_precision_dtype='bfloat16'),
      task=task,
      trainer=cfg.TrainerConfig(
          train_steps=train_steps,
          steps_per_loop=min(steps_per_epoch, 100),
          summary_interval=min(steps_per_epoch, 100),
          checkpoint_interval=steps_per_epoch,
          max_to_keep=5,
          validation_interval=steps_per_epoch,
          validation_steps=1,
          optimizer_config=lars_cosine_optimization(
              learning_rate=BASE_LEARNING_RATE * batch_size / 256,
              train_steps=train_steps,
              warmup_steps=warmup_epochs * steps_per_epoch)),
      restrictions=['task.train_data.is_training != None'])


@exp_factory.register_config_factory('cvrl_pretrain')
def cvrl_pretrain() -> cfg.ExperimentConfig:
  """Kinetics-400, R3D-50, 16x224x224 stride 2, batch 1024, 800 epochs."""
  exp = pretrain_experiment(KINETICS400_TRAIN_EXAMPLES, 1024, 800)
  exp.task.train_data.name = 'kinetics400'
  return exp


@exp_factory.register_config_factory('cvrl_pretrain_kinetics400')
def cvrl_pretrain_kinetics400() -> cfg.ExperimentConfig:
  return cvrl_pretrain()


@exp_factory.register_config_factory('cvrl_pretrain_kinetics600')
def cvrl_pretrain_kinetics600() -> cfg.ExperimentConfig:
  """Kinetics-600, otherwise as `cvrl_pretrain`."""
  exp = pretrain_experiment(KINETICS600_TRAIN_EXAMPLES, 1024, 800)
  exp.task.train_data.name = 'kinetics600'
  return exp
