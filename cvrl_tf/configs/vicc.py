"""ViCC pretraining experiment configs, registered with `exp_factory`.

ViCC: Toering et al., "Self-supervised Video Representation Learning with
Cross-Stream Prototypical Contrasting", WACV 2022. Values cite the authors'
code (github.com/martinetoering/ViCC): `src/main_single.py` and
`src/main_cross.py` (`parse_args`, `main_worker`, `train_one_epoch`),
`src/model/pretrain.py` (`ViCC`, `ViCC2`) and the launch scripts
`slurm_scripts/pretrain/single-rgb.sh`, `single-flow.sh` and `cross.sh`
(4 GPUs each: `#SBATCH --gpus=4`, `--ntasks-per-node=4`, one process per
GPU, `--batch_size` per process).
"""
import dataclasses
from typing import List

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams
from official.vision.configs import common

from cvrl_tf.configs import backbones
from cvrl_tf.configs import cvrl
from cvrl_tf.configs import data
from cvrl_tf.configs import evaluation
from cvrl_tf.configs import optimization as optimization_cfg

STREAMS = ('rgb', 'flow')
# Scripts: `--base_lr 0.6 --final_lr 0.0006 --wd 1e-6`, `--optim sgd`
# (main_*.py: `optim.SGD(..., momentum=0.9)`), `--cos true` (LARC wrapper,
# `trust_coefficient=0.001, clip=False`), `--warmup_epochs 0`.
BASE_LEARNING_RATE = 0.6
FINAL_LEARNING_RATE = 0.0006
WEIGHT_DECAY = 1e-6
MOMENTUM = 0.9
LARC_TRUST_COEFFICIENT = 0.001
# Scripts: `--moco-t 0.1 --epsilon 0.05 --sinkhorn_iterations 3
# --nmb_prototypes 300 --moco-dim 128 --moco-k 1920`.
TEMPERATURE = 0.1
SINKHORN_EPSILON = 0.05
SINKHORN_ITERATIONS = 3
NUM_PROTOTYPES = 300
EMBEDDING_DIM = 128
QUEUE_LENGTH = 1920
# cross.sh: `--batch_size 24` per GPU on 4 GPUs; the single-stream scripts
# use 48 per GPU (192), see `vicc_pretrain`.
BATCH_SIZE = 96
UCF101_SPLIT1_TRAIN_EXAMPLES = evaluation.UCF101_SPLIT_EXAMPLES[0][0]


@dataclasses.dataclass
class ViCCStage(hyperparams.Config):
  """One training stage: one run of the authors' main_single / main_cross.

  Epochs count from the stage's start, as each of the authors' runs starts
  at epoch 0 with a fresh optimizer, learning-rate schedule and queue.

  Attributes:
    trained_stream: 'rgb' or 'flow', the stream whose encoder, head and
      prototypes this stage updates (main_cross `--reverse` trains flow).
    cross_stream: the other stream's two views join the loss, embedded by
      its frozen encoder (inference-mode BatchNorm, no gradient) through the
      trained stream's prototypes (main_cross, `ViCC2.forward`); False
      trains the stream alone (main_single, `ViCC.forward`).
    epochs: the stage's length.
    lr_decay_epochs: length of the stage's cosine decay from the base to
      the final rate (main_*.py `cosine_lr_schedule` over `--epochs`); the
      single-stream stages stop at epoch 300 of a 500-epoch schedule.
    queue_start_epoch: the stage's queues start filling at this epoch
      (`--epoch_queue_starts`) and take part in Sinkhorn-Knopp once full.
    freeze_prototypes_epochs: the prototypes get no update before this
      epoch (`--freeze_prototypes_nepochs`).
  """
  trained_stream: str = 'rgb'
  cross_stream: bool = False
  epochs: int = 1
  lr_decay_epochs: int = 1
  queue_start_epoch: int = 0
  freeze_prototypes_epochs: int = 0


def single_stage(stream: str, queue_start_epoch: int) -> ViCCStage:
  """single-{rgb,flow}.sh: 300 of 500 cosine epochs, prototypes frozen 100.

  The scripts run `--epochs 500`; cross.sh starts from
  `save_epoch299.pth.tar` (written by `--save_epoch_freq 100`), so 300
  epochs of the single-stream run feed the cross-stream stages.
  """
  return ViCCStage(trained_stream=stream, cross_stream=False, epochs=300,
                   lr_decay_epochs=500, queue_start_epoch=queue_start_epoch,
                   freeze_prototypes_epochs=100)


def cross_stage(stream: str) -> ViCCStage:
  """cross.sh: `--epochs 100 --epoch_queue_starts 25
  --freeze_prototypes_nepochs 0`, the last checkpoint (`save_epoch99`)."""
  return ViCCStage(trained_stream=stream, cross_stream=True, epochs=100,
                   lr_decay_epochs=100, queue_start_epoch=25,
                   freeze_prototypes_epochs=0)


def paper_stages() -> List[ViCCStage]:
  """Single RGB, single flow, then cross RGB, flow, RGB, flow (cross.sh's
  four runs c1-flowm, c1-rgbm, c2-flowm, c2-rgbm, each starting from the
  previous checkpoints of both streams). Queues: single-rgb.sh
  `--epoch_queue_starts 150`, single-flow.sh 200."""
  return [single_stage('rgb', 150), single_stage('flow', 200),
          cross_stage('rgb'), cross_stage('flow'),
          cross_stage('rgb'), cross_stage('flow')]


@dataclasses.dataclass
class ViCCRecipe(hyperparams.Config):
  """The stage schedule and the per-stage cosine learning rate.

  Attributes:
    stages: the stages, in order; `trainer.train_steps` may not exceed
      their total length.
    steps_per_epoch: steps of one epoch (training videos / global batch).
    base_learning_rate: each stage's first rate (`--base_lr`).
    final_learning_rate: the rate the cosine decays to (`--final_lr`).
  """
  stages: List[ViCCStage] = dataclasses.field(default_factory=paper_stages)
  steps_per_epoch: int = UCF101_SPLIT1_TRAIN_EXAMPLES // BATCH_SIZE
  base_learning_rate: float = BASE_LEARNING_RATE
  final_learning_rate: float = FINAL_LEARNING_RATE


@dataclasses.dataclass
class ViCCModel(hyperparams.Config):
  """Per stream: backbone, projection and prototypes (`ViCC.__init__`).

  Attributes:
    backbone: the 3D backbone of each stream (the two have the same
      architecture, `select_backbone(network)` twice).
    norm_activation: the backbones' BatchNorm (PyTorch's defaults, as
      TCLR's); `use_sync_bn` is switched on under a multi-replica strategy.
    embedding_dim: the projection's output (`--moco-dim 128`); its hidden
      layer is as wide as the backbone's features (`encoder_q`: Conv3d
      feature_size -> feature_size (bias) -> ReLU -> Conv3d -> dim).
    num_prototypes: prototypes per stream (`--nmb_prototypes 300`).
  """
  backbone: backbones.Backbone3D = dataclasses.field(
      default_factory=backbones.Backbone3D)
  norm_activation: common.NormActivation = dataclasses.field(
      default_factory=cvrl.default_norm_activation)
  embedding_dim: int = EMBEDDING_DIM
  num_prototypes: int = NUM_PROTOTYPES


@dataclasses.dataclass
class ViCCLosses(hyperparams.Config):
  """Swapped prototype prediction settings.

  Attributes:
    temperature: the prediction softmax's (`--moco-t 0.1`).
    sinkhorn_epsilon: Sinkhorn-Knopp's regularisation (`--epsilon`).
    sinkhorn_iterations: `--sinkhorn_iterations`.
    queue_length: embeddings each view's queue holds over the global
      batch, rounded down to a multiple of the global batch as ViCC does
      (`args.moco_k -= args.moco_k % (batch_size * world_size)`); 0: no
      queue.
    second_view_gradient: whether the trained stream's second view passes
      a gradient to its encoder. ViCC's scripts run `--sync_bn none`, which
      sets `batch_shuffle`, and `ViCC.forward` / `ViCC2.forward` then embed
      that view under `torch.no_grad()` (its prototype scores still train
      the prototypes): False, the default, does the same; True gives both
      views a gradient, as SwAV does.

  Weight decay is the optimizer's (`larc_optimization`), as ViCC's, so it
  acts on the updated stream only.
  """
  temperature: float = TEMPERATURE
  sinkhorn_epsilon: float = SINKHORN_EPSILON
  sinkhorn_iterations: int = SINKHORN_ITERATIONS
  queue_length: int = QUEUE_LENGTH
  second_view_gradient: bool = False


@dataclasses.dataclass
class ViCCPretrainTask(cfg.TaskConfig):
  """ViCC self-supervised pretraining task on RGB and optical flow.

  `train_data.read_flow` must be on: every video gives two views of RGB
  and of flow from the same frames, crops and flips.
  """
  model: ViCCModel = dataclasses.field(default_factory=ViCCModel)
  losses: ViCCLosses = dataclasses.field(default_factory=ViCCLosses)
  recipe: ViCCRecipe = dataclasses.field(default_factory=ViCCRecipe)
  train_data: data.DataConfig = dataclasses.field(
      default_factory=lambda: data.DataConfig(
          is_training=True, is_ssl=True, drop_remainder=True, read_flow=True,
          feature_shape=(32, 128, 128, 3), temporal_stride=1))
  validation_data: data.DataConfig = dataclasses.field(
      default_factory=lambda: data.DataConfig(
          is_training=False, is_ssl=True, drop_remainder=True,
          read_flow=True, feature_shape=(32, 128, 128, 3),
          temporal_stride=1))


def larc_optimization() -> optimization_cfg.OptimizationConfig:
  """SGD with momentum 0.9 inside LARC, weight decay 1e-6 (ViCC's).

  The rate is the task's staged cosine (`ViCCRecipe`), and the task
  restarts the momentum at every stage's first step (`restart_steps`).
  """
  return optimization_cfg.OptimizationConfig({
      'optimizer': {'type': 'larc', 'larc': {
          'momentum': MOMENTUM, 'weight_decay': WEIGHT_DECAY,
          'trust_coefficient': LARC_TRUST_COEFFICIENT, 'clip': False}},
      'learning_rate': {'type': 'constant', 'constant': {
          'learning_rate': BASE_LEARNING_RATE}},
  })


def total_steps(recipe: ViCCRecipe) -> int:
  """Steps of all stages."""
  return sum(stage.epochs for stage in recipe.stages) * recipe.steps_per_epoch


@exp_factory.register_config_factory('vicc_pretrain')
def vicc_pretrain() -> cfg.ExperimentConfig:
  """UCF-101 split 1, 32 x 128 x 128 clips at stride 1, batch 96.

  Scripts: `--dataset ucf101-2stream-2clip --seq_len 32 --ds 1
  --img_dim 128`. One batch for every stage: the cross-stream stages'
  96 (24 x 4 GPUs); the single-stream scripts use 192 (48 x 4), a second
  input pipeline this trainer does not have.
  """
  task = ViCCPretrainTask()
  return cvrl.epoch_experiment(
      task, 'ucf101', UCF101_SPLIT1_TRAIN_EXAMPLES, BATCH_SIZE,
      total_steps(task.recipe), task.recipe.steps_per_epoch,
      larc_optimization(), trainer_cls=optimization_cfg.TrainerConfig)
