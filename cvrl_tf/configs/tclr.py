"""TCLR pretraining experiment configs, registered with `exp_factory`.

TCLR: Dave et al., "TCLR: Temporal Contrastive Learning for Video
Representation", CVIU 2022. Values cite the authors' code
(github.com/DAVEISHAN/TCLR, `tclr_pretraining/`): `parameters.py`,
`train_gen_all_step.py` (`train_classifier`), `mlp.py`, `model.py`.
"""
import dataclasses

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams
from official.modeling import optimization
from official.vision.configs import common

from cvrl_tf.configs import backbones
from cvrl_tf.configs import cvrl
from cvrl_tf.configs import evaluation
from cvrl_tf.configs import tclr_data

# parameters.py: `learning_rate = 1e-3`, `batch_size = 40`,
# `weight_decay = 1e-9`, `temperature = 0.1`.
LEARNING_RATE = 1e-3
BATCH_SIZE = 40
WEIGHT_DECAY = 1e-9
TEMPERATURE = 0.1
# parameters.py: `warmup = 5`, `warmup_array = [1/100, 1/20, 1/10, 1/2, 1]`:
# epoch e < 5 trains at warmup_array[e] x the rate.
WARMUP_FACTORS = (1 / 100, 1 / 20, 1 / 10, 1 / 2, 1.0)
# parameters.py `scheduler_patience = 9`; train_classifier divides the rate
# by 10 once 9 epochs in a row did not beat the best epoch's training loss.
PLATEAU_PATIENCE_EPOCHS = 9
PLATEAU_FACTOR = 0.1
# UCF-101 split 1 training videos (the paper pretrains on them).
UCF101_SPLIT1_TRAIN_EXAMPLES = evaluation.UCF101_SPLIT_EXAMPLES[0][0]
# `TCLRRecipe.lr_schedule` choices.
LR_SCHEDULES = ('tclr_plateau', 'optimizer_config')
# `TCLRModel.clip_batches` choices.
CLIP_BATCHES = ('separate', 'joint')


@dataclasses.dataclass
class TCLRModel(hyperparams.Config):
  """Backbone plus the shared MLP head (`mlp.py`).

  Attributes:
    backbone: the 3D-ResNet; TCLR's is torchvision's `r3d_18` with layer4's
      temporal stride replaced by dilation (`model.py`
      `build_r3d_backbone`), so a 16-frame clip ends with 4 time steps.
    norm_activation: BatchNorm of backbone and head (PyTorch's defaults,
      momentum 0.1 = Keras 0.9, epsilon 1e-5); `use_sync_bn` is switched on
      under a multi-replica strategy.
    head_hidden_dim: fc1's width (512).
    embedding_dim: fc2's width (`final_embedding_size = 128`).
    clip_batches: how the step's clip batches (A sparse, A x K dense) go
      through the backbone:
      'separate': one backbone call each, as TCLR's `train_epoch` calls
        `model((clip, 's'))` / `model((clip, 'd'))` per clip, so each has
        its own BatchNorm batch statistics;
      'joint': one call on all of them together, BatchNorm statistics over
        all clips of the step; one backbone in the graph instead of
        A + A x K (2 + 8), which builds and compiles several times faster.
  """
  backbone: backbones.Backbone3D = dataclasses.field(
      default_factory=backbones.Backbone3D)
  norm_activation: common.NormActivation = dataclasses.field(
      default_factory=cvrl.default_norm_activation)
  head_hidden_dim: int = 512
  embedding_dim: int = 128
  clip_batches: str = 'separate'


@dataclasses.dataclass
class TCLRLosses(hyperparams.Config):
  """Loss settings.

  Attributes:
    temperature: tau of every term (`params.temperature = 0.1`).
    l2_weight_decay: adds l2_weight_decay x sum(tf.nn.l2_loss(kernel)) to
      the loss, i.e. a gradient l2_weight_decay x w on every kernel. TCLR's
      `optim.Adam(weight_decay=1e-9)` adds the same gradient but to every
      parameter, BatchNorm and biases included; at 1e-9 the difference is
      below float32 resolution of the updates.
  """
  temperature: float = TEMPERATURE
  l2_weight_decay: float = WEIGHT_DECAY


@dataclasses.dataclass
class TCLRRecipe(hyperparams.Config):
  """How the learning rate moves (`train_gen_all_step.py`).

  Attributes:
    lr_schedule: 'tclr_plateau': TCLR's: epoch e < len(warmup_factors)
      trains at warmup_factors[e] x learning_rate; afterwards the rate is
      divided by 1 / plateau_factor each time `plateau_patience_epochs`
      epochs in a row ended with a mean training loss above the best
      epoch's. The schedule's state is saved in checkpoints, so a resumed
      run continues it exactly. 'optimizer_config': the
      `trainer.optimizer_config` learning-rate schedule instead.
    learning_rate: the base rate.
    steps_per_epoch: steps of one epoch (training videos / global batch).
    warmup_factors: per-epoch warm-up factors.
    plateau_patience_epochs: epochs without improvement before a drop.
    plateau_factor: the drop's factor.
  """
  lr_schedule: str = 'tclr_plateau'
  learning_rate: float = LEARNING_RATE
  steps_per_epoch: int = UCF101_SPLIT1_TRAIN_EXAMPLES // BATCH_SIZE
  warmup_factors: tuple = WARMUP_FACTORS
  plateau_patience_epochs: int = PLATEAU_PATIENCE_EPOCHS
  plateau_factor: float = PLATEAU_FACTOR


@dataclasses.dataclass
class TCLRPretrainTask(cfg.TaskConfig):
  """TCLR self-supervised pretraining task.

  Attributes:
    deterministic: as `CVRLPretrainTask.deterministic`.
    recipe: the learning-rate schedule.
  """
  model: TCLRModel = dataclasses.field(default_factory=TCLRModel)
  losses: TCLRLosses = dataclasses.field(default_factory=TCLRLosses)
  recipe: TCLRRecipe = dataclasses.field(default_factory=TCLRRecipe)
  train_data: tclr_data.TclrDataConfig = dataclasses.field(
      default_factory=lambda: tclr_data.TclrDataConfig(
          is_training=True, drop_remainder=True))
  validation_data: tclr_data.TclrDataConfig = dataclasses.field(
      default_factory=lambda: tclr_data.TclrDataConfig(
          is_training=False, drop_remainder=True))
  deterministic: bool = False


def adam_optimization(learning_rate: float) -> optimization.OptimizationConfig:
  """Adam at a constant rate (`optim.Adam(lr=1e-3)`, PyTorch's betas/eps).

  The constant rate is what 'optimizer_config' schedules from; the
  'tclr_plateau' recipe sets the rate itself.
  """
  return optimization.OptimizationConfig({
      'optimizer': {'type': 'adam', 'adam': {
          'beta_1': 0.9, 'beta_2': 0.999, 'epsilon': 1e-8}},
      'learning_rate': {'type': 'constant', 'constant': {
          'learning_rate': learning_rate}},
  })


@exp_factory.register_config_factory('tclr_pretrain')
def tclr_pretrain() -> cfg.ExperimentConfig:
  """UCF-101 split 1, 16 x 112 x 112 clips, batch 40, Adam 1e-3."""
  task = TCLRPretrainTask()
  steps_per_epoch = task.recipe.steps_per_epoch
  # parameters.py `num_epochs = 1000`.
  return cvrl.epoch_experiment(
      task, 'ucf101', UCF101_SPLIT1_TRAIN_EXAMPLES, BATCH_SIZE,
      1000 * steps_per_epoch, steps_per_epoch,
      adam_optimization(LEARNING_RATE))
