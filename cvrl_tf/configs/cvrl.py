"""CVRL pretraining experiment configs, registered with `exp_factory`."""
import dataclasses
from typing import Optional

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams
from official.modeling import optimization
from official.vision.configs import common

from cvrl_tf.configs import backbones
from cvrl_tf.configs import data

# The paper's setting (Qian et al., CVPR 2021, sec. 4 "Self-supervised
# pre-training") as the authors released it in Model Garden
# (official/projects/video_ssl/configs/experiments/
# cvrl_pretrain_k600_200ep.yaml, "the release" below); docs/recipe.md
# compares every value.
# "initial learning rate of 0.32 and batch size of 1024" (paper sec. 4); the
# release uses 0.32 at 1024 too. Other batches scale it linearly.
BASE_LEARNING_RATE = 0.32
BASE_BATCH_SIZE = 1024
# Release: 71,488 steps = round(200 x 366,016 / 1024), 1,787 warm-up steps =
# round(5 x 366,016 / 1024).
WARMUP_EPOCHS = 5
# Release: losses.l2_weight_decay, applied as 1e-6 x sum(l2_loss(kernel)).
L2_WEIGHT_DECAY = 1e-6
# Release (video_ssl.py VideoSSLModel.hidden_norm_activation): the head's BN.
VIDEO_SSL_HEAD_NORM_MOMENTUM = 0.997
# Release (VideoSSLModel): hidden_layer_num 3 of width 2048, then Dense(128).
VIDEO_SSL_HEAD_DENSE_LAYERS = 4
KINETICS400_TRAIN_EXAMPLES = 215570
KINETICS600_TRAIN_EXAMPLES = 366016
PROJECTION_HEADS = ('simclr', 'video_ssl')


def release_steps(epochs: float, num_examples: int, batch_size: int) -> int:
  """Steps for `epochs` passes, rounded to the nearest (half to even).

  This gives the release's 71,488 = round(71,487.5) and 1,787 =
  round(1,787.19) for Kinetics-600 at batch 1024.
  """
  return round(epochs * num_examples / batch_size)


def linear_scaled_rate(batch_size: int) -> float:
  """0.32 at batch 1024, scaled linearly with the batch."""
  return BASE_LEARNING_RATE * batch_size / BASE_BATCH_SIZE


def default_norm_activation() -> common.NormActivation:
  """BatchNorm settings of every model here (Model Garden's video defaults)."""
  return common.NormActivation(norm_momentum=0.9, norm_epsilon=1e-5,
                               use_sync_bn=False)


@dataclasses.dataclass
class CVRLModel(hyperparams.Config):
  """Encoder plus projection head.

  Attributes:
    backbone: the 3D-ResNet.
    norm_activation: BatchNorm settings of backbone and head; `use_sync_bn`
      is switched on automatically under a multi-replica strategy.
    projection_head: 'simclr' (SimCLR's head: hidden Dense layers without
      bias, since BN's offset replaces it) or 'video_ssl' (the head of the
      authors' release, Model Garden's `VideoSSLModel`: hidden Dense layers
      with bias). Both are Dense -> BN -> activation for every layer but
      the last. The two have different checkpoint layouts.
    projection_num_layers: Dense layers in the head, the output layer
      included (SimCLR: 3; the release: 4, i.e. `hidden_layer_num: 3`).
    projection_hidden_dim: width of the hidden layers.
    projection_dim: output embedding size.
    projection_norm_momentum: momentum of the head's BN; None uses
      `norm_activation.norm_momentum` (the release uses 0.997 in the head,
      0.9 in the backbone).
  """
  backbone: backbones.Backbone3D = dataclasses.field(
      default_factory=backbones.Backbone3D)
  norm_activation: common.NormActivation = dataclasses.field(
      default_factory=default_norm_activation)
  projection_head: str = 'simclr'
  projection_num_layers: int = 3
  projection_hidden_dim: int = 2048
  projection_dim: int = 128
  projection_norm_momentum: Optional[float] = None


def video_ssl_head(model: CVRLModel) -> None:
  """Gives `model` the head of the authors' release (see module header)."""
  model.projection_head = 'video_ssl'
  model.projection_num_layers = VIDEO_SSL_HEAD_DENSE_LAYERS
  model.projection_norm_momentum = VIDEO_SSL_HEAD_NORM_MOMENTUM


@dataclasses.dataclass
class ContrastiveLosses(hyperparams.Config):
  """InfoNCE settings (eq. 1) and weight decay.

  Attributes:
    temperature: tau; 0.1 in all the paper's experiments (sec. 3.1).
    l2_weight_decay: adds l2_weight_decay x sum(tf.nn.l2_loss(kernel)) over
      the trainable kernels (backbone and head; not BN, not biases) to the
      loss, as the release does (`losses.contrastive_loss`). Leave it 0 with
      LARS, whose `weight_decay_rate` decays the weights instead.
    loss_over_replicas: what each replica's gradient is the gradient of
      (the optimizer sums the replicas' gradients):
      'mean': its loss divided by the number of replicas, so the update is
        that of the global batch's mean loss on any number of replicas and
        a learning rate means the same on any slice (ours, the default);
      'sum': its loss undivided, as Model Garden's video_ssl task
        (`scaled_loss = loss`), so on N replicas the update, weight decay
        included, is N times that of 'mean' (as if the rate were N times
        larger). On one replica the two are the same.
  """
  temperature: float = 0.1
  l2_weight_decay: float = 0.0
  loss_over_replicas: str = 'mean'


# `ContrastiveLosses.loss_over_replicas` choices.
LOSS_OVER_REPLICAS = ('mean', 'sum')


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
    view_summary_videos: videos of the training batch whose two views are
      written to TensorBoard as frame strips every `trainer.summary_interval`
      steps (`cvrl_tf.visualization.view_summaries`); 0 writes none.
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
  view_summary_videos: int = 3


def sgd_cosine_optimization(learning_rate: float, train_steps: int,
                            warmup_steps: int = 0, nesterov: bool = False
                            ) -> optimization.OptimizationConfig:
  """Momentum SGD, cosine decay, linear warm-up from 0: the release's recipe.

  Momentum 0.9 comes from Model Garden's `add_trainer`
  (official/vision/configs/video_classification.py), which the release
  inherits; the release sets `nesterov: false`.
  """
  config = {
      'optimizer': {'type': 'sgd', 'sgd': {'momentum': 0.9,
                                           'nesterov': nesterov}},
      'learning_rate': {'type': 'cosine', 'cosine': {
          'initial_learning_rate': learning_rate,
          'decay_steps': train_steps}},
  }
  if warmup_steps:
    config['warmup'] = {'type': 'linear',
                        'linear': {'warmup_steps': warmup_steps}}
  return optimization.OptimizationConfig(config)


def lars_cosine_optimization(learning_rate: float, train_steps: int,
                             warmup_steps: int,
                             weight_decay: float = 1e-6
                             ) -> optimization.OptimizationConfig:
  """LARS with linear warm-up and cosine decay: SimCLR's optimizer.

  Not CVRL's: the authors' release trains with momentum SGD
  (`sgd_cosine_optimization`). Weight decay applies to kernels only: BN
  parameters and biases are excluded from both decay and layer adaptation.
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


def pretrain_experiment(num_examples: int, batch_size: int, epochs: int
                        ) -> cfg.ExperimentConfig:
  """The release's pretraining recipe for `num_examples` videos."""
  steps_per_epoch = max(num_examples // batch_size, 1)
  train_steps = release_steps(epochs, num_examples, batch_size)
  task = CVRLPretrainTask()
  video_ssl_head(task.model)
  task.losses.l2_weight_decay = L2_WEIGHT_DECAY
  task.train_data.global_batch_size = batch_size
  task.train_data.num_examples = num_examples
  task.train_data.shuffle_buffer_size = 1024  # Release: train_data.
  task.validation_data.global_batch_size = batch_size
  return cfg.ExperimentConfig(
      # Release: runtime.mixed_precision_dtype.
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
          optimizer_config=sgd_cosine_optimization(
              learning_rate=linear_scaled_rate(batch_size),
              train_steps=train_steps,
              warmup_steps=release_steps(WARMUP_EPOCHS, num_examples,
                                         batch_size))),
      restrictions=['task.train_data.is_training != None'])


def epoch_experiment(task, name: str, num_examples: int, batch_size: int,
                     train_steps: int, steps_per_epoch: int, optimizer_config,
                     trainer_cls=cfg.TrainerConfig) -> cfg.ExperimentConfig:
  """Pretraining `task` on dataset `name` at `batch_size`, logging,
  checkpointing and validating once an epoch (TCLR's and ViCC's runs)."""
  task.train_data.name = name
  task.train_data.global_batch_size = batch_size
  task.train_data.num_examples = num_examples
  task.validation_data.global_batch_size = batch_size
  return cfg.ExperimentConfig(
      task=task,
      trainer=trainer_cls(
          train_steps=train_steps,
          steps_per_loop=steps_per_epoch,
          summary_interval=steps_per_epoch,
          checkpoint_interval=steps_per_epoch,
          max_to_keep=5,
          validation_interval=steps_per_epoch,
          validation_steps=1,
          optimizer_config=optimizer_config),
      restrictions=['task.train_data.is_training != None'])


@exp_factory.register_config_factory('cvrl_pretrain')
def cvrl_pretrain() -> cfg.ExperimentConfig:
  """Kinetics-400, R3D-50, 16x224x224 stride 2, batch 1024, 800 epochs."""
  exp = pretrain_experiment(KINETICS400_TRAIN_EXAMPLES, BASE_BATCH_SIZE, 800)
  exp.task.train_data.name = 'kinetics400'
  return exp


@exp_factory.register_config_factory('cvrl_pretrain_kinetics400')
def cvrl_pretrain_kinetics400() -> cfg.ExperimentConfig:
  return cvrl_pretrain()


@exp_factory.register_config_factory('cvrl_pretrain_kinetics600')
def cvrl_pretrain_kinetics600() -> cfg.ExperimentConfig:
  """Kinetics-600, otherwise as `cvrl_pretrain`."""
  exp = pretrain_experiment(KINETICS600_TRAIN_EXAMPLES, BASE_BATCH_SIZE, 800)
  exp.task.train_data.name = 'kinetics600'
  return exp
