"""Every experiment YAML applies to its registered experiment."""
import glob
import os
import re

import pytest
from official.core import exp_factory
from official.modeling import hyperparams

from cvrl_tf import configs
from cvrl_tf import registry_imports  # pylint: disable=unused-import



def experiment_for(yaml_name: str) -> str:
  if re.fullmatch(r'cvrl_finetune_(ucf101|hmdb51)_split\d\.yaml', yaml_name):
    return os.path.splitext(yaml_name)[0]
  for prefix, experiment in (('cvrl_pretrain_k600', 'cvrl_pretrain_kinetics600'),
                             ('cvrl_pretrain', 'cvrl_pretrain'),
                             ('cvrl_linear_eval', 'cvrl_linear_eval'),
                             ('cvrl_finetune', 'cvrl_finetune'),
                             ('cvrl_semi_supervised', 'cvrl_semi_supervised'),
                             ('cvrl_knn_eval', 'cvrl_knn_eval'),
                             ('tclr_pretrain', 'tclr_pretrain'),
                             ('vicc_pretrain', 'vicc_pretrain')):
    if yaml_name.startswith(prefix):
      return experiment
  raise AssertionError(f'No experiment for {yaml_name}')


@pytest.mark.parametrize('path', sorted(glob.glob(
    os.path.join(configs.EXPERIMENTS_DIR, '*.yaml'))), ids=os.path.basename)
def test_yaml_overrides_its_experiment_strictly(path):
  params = exp_factory.get_exp_config(experiment_for(os.path.basename(path)))
  params = hyperparams.override_params_dict(params, path, is_strict=True)
  params.validate()
  trainer = params.trainer
  if trainer.train_steps and (
      trainer.optimizer_config.learning_rate.type == 'cosine'):
    decay = trainer.optimizer_config.learning_rate.cosine.decay_steps
    assert decay == trainer.train_steps
