"""absl flags shared by the tools that run on a pretrained checkpoint."""
from absl import flags


def define_checkpoint_flags():
  """Defines the experiment and checkpoint flags; returns their holders.

  Returns:
    (experiment, config_file, params_override, checkpoint_path) holders.
  """
  return (
      flags.DEFINE_string(
          'experiment', None, 'Registered experiment, e.g. cvrl_pretrain.',
          required=True),
      flags.DEFINE_multi_string(
          'config_file', None,
          'YAML files overriding the experiment, in order.'),
      flags.DEFINE_string(
          'params_override', '', 'Overrides applied after the YAML files, '
          'e.g. "task.model.backbone.r3d.model_id=18".'),
      flags.DEFINE_string(
          'checkpoint_path', None, 'Checkpoint prefix, or a directory such '
          'as the pretraining model_dir (its latest checkpoint); local or '
          'gs://.', required=True),
  )
