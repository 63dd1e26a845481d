"""Model Garden's optimization config with one more choice: 'larc'.

`optimizer.type: larc` builds `cvrl_tf.training.larc.LARC` (registered with
Model Garden's optimizer factory when `cvrl_tf.registry_imports` is
imported). An experiment that offers it uses `TrainerConfig` here, whose
`optimizer_config` holds the larger choice; every other optimizer and
schedule is Model Garden's.
"""
import dataclasses
from typing import List

from official.core import config_definitions as cfg
from official.modeling.optimization.configs import optimization_config
from official.modeling.optimization.configs import optimizer_config


@dataclasses.dataclass
class LARCConfig(optimizer_config.BaseOptimizerConfig):
  """`training/larc.py` `LARC`'s arguments; defaults are ViCC's.

  ViCC: `src/main_single.py`, `src/main_cross.py` (`SGD(momentum=0.9)`,
  `LARC(trust_coefficient=0.001, clip=False)`) and
  `slurm_scripts/pretrain/*.sh` (`--wd 1e-6`).
  """
  name: str = 'LARC'
  momentum: float = 0.9
  weight_decay: float = 1e-6
  trust_coefficient: float = 0.001
  clip: bool = False
  eps: float = 1e-8
  restart_steps: List[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class OptimizerConfig(optimization_config.OptimizerConfig):
  larc: LARCConfig = dataclasses.field(default_factory=LARCConfig)


@dataclasses.dataclass
class OptimizationConfig(optimization_config.OptimizationConfig):
  optimizer: OptimizerConfig = dataclasses.field(
      default_factory=OptimizerConfig)


@dataclasses.dataclass
class TrainerConfig(cfg.TrainerConfig):
  optimizer_config: OptimizationConfig = dataclasses.field(
      default_factory=OptimizationConfig)


def larc_cosine_optimization(base_learning_rate: float,
                             final_learning_rate: float, decay_steps: int,
                             weight_decay: float = 1e-6
                             ) -> OptimizationConfig:
  """LARC with ViCC's cosine decay from base to final rate, no warm-up.

  ViCC (`main_*.py`, `args.lr_schedule`): lr_t = final + (base - final) *
  (1 + cos(pi t / T)) / 2 per iteration, `--base_lr 0.6 --final_lr 0.0006`,
  `--warmup_epochs 0`: Model Garden's cosine with alpha = final / base.
  """
  return OptimizationConfig({
      'optimizer': {'type': 'larc', 'larc': {'weight_decay': weight_decay}},
      'learning_rate': {'type': 'cosine', 'cosine': {
          'initial_learning_rate': base_learning_rate,
          'decay_steps': decay_steps,
          'alpha': final_learning_rate / base_learning_rate}},
  })
