"""absl flags shared by the tools: the experiment, and a checkpoint of it."""
import dataclasses

from absl import flags
import tensorflow as tf

from cvrl_tf.configs import validation as config_validation
from cvrl_tf.modeling import checkpoints

# What the checkpoint tools turn into one `error: ...` line.
CHECKPOINT_TOOL_ERRORS = (config_validation.ConfigError,
                          checkpoints.CheckpointError,
                          FileNotFoundError, tf.errors.NotFoundError)


@dataclasses.dataclass(frozen=True)
class ExperimentFlags:
  """Holders of the experiment flags."""
  experiment: flags.FlagHolder
  config_file: flags.FlagHolder
  params_override: flags.FlagHolder

  def experiment_params(self):
    """The experiment's params with the YAML files and overrides applied."""
    return config_validation.experiment_params(
        self.experiment.value, self.config_file.value or (),
        self.params_override.value)


@dataclasses.dataclass(frozen=True)
class CheckpointFlags(ExperimentFlags):
  """Holders of the experiment and checkpoint flags."""
  checkpoint_path: flags.FlagHolder


def define_experiment_flags() -> ExperimentFlags:
  """Defines --experiment, --config_file and --params_override."""
  return ExperimentFlags(
      experiment=flags.DEFINE_string(
          'experiment', None, 'Registered experiment, e.g. cvrl_pretrain.',
          required=True),
      config_file=flags.DEFINE_multi_string(
          'config_file', None,
          'YAML files overriding the experiment, in order.'),
      params_override=flags.DEFINE_string(
          'params_override', '', 'Overrides applied after the YAML files, '
          'e.g. "task.model.backbone.r3d.model_id=18".'),
  )


def define_checkpoint_flags() -> CheckpointFlags:
  """Defines the experiment flags and --checkpoint_path."""
  return CheckpointFlags(
      **vars(define_experiment_flags()),
      checkpoint_path=flags.DEFINE_string(
          'checkpoint_path', None, 'Checkpoint prefix, or a directory such '
          'as the pretraining model_dir (its latest checkpoint); local or '
          'gs://.', required=True),
  )


@dataclasses.dataclass(frozen=True)
class TfdsFlags:
  """Holders of --tfds_name, --tfds_split and --tfds_data_dir."""
  name: flags.FlagHolder
  split: flags.FlagHolder
  data_dir: flags.FlagHolder


def define_tfds_flags(instead_of: str, split_help: str) -> TfdsFlags:
  """Defines the flags naming a TFDS split (Model Garden's field names).

  Args:
    instead_of: what the dataset replaces, for the help text.
    split_help: help of --tfds_split.
  """
  return TfdsFlags(
      name=flags.DEFINE_string(
          'tfds_name', '', 'A TFDS video dataset, e.g. ucf101/ucf101_1, '
          f'instead of {instead_of}.'),
      split=flags.DEFINE_string('tfds_split', '', split_help),
      data_dir=flags.DEFINE_string(
          'tfds_data_dir', '', 'Where it was built; default TFDS\'s own.'),
  )
