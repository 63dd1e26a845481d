"""A plain (non-editable) install ships what the demo and the trainer read."""
import os
import shutil
import subprocess
import sys

from cvrl_tf import configs

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs in the installed copy: where the package and the demo's YAML are, and
# the demo's pretraining experiment built from that YAML.
_INSTALLED_PROBE = """
import os
import cvrl_tf
from cvrl_tf import configs
from cvrl_tf import demo
params = demo.pretrain_params(demo.DemoPaths('demo_out'))
print(os.path.dirname(cvrl_tf.__file__))
print(demo.TOY_PRETRAIN_YAML)
print(sorted(os.listdir(configs.EXPERIMENTS_DIR)))
print(params.task.model.backbone.r3d.model_id)
"""


def test_installed_package_finds_its_experiment_yamls(tmp_path):
  # A copy, so that the build writes nothing into the source tree.
  source = tmp_path / 'source'
  shutil.copytree(os.path.join(REPO_ROOT, 'cvrl_tf'), source / 'cvrl_tf',
                  ignore=shutil.ignore_patterns('__pycache__'))
  shutil.copy(os.path.join(REPO_ROOT, 'setup.py'), source)
  target = tmp_path / 'site'
  # A wheel built and installed as a user's `pip install .` would; the
  # dependencies are this interpreter's own.
  install = subprocess.run(
      [sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
       '--no-build-isolation', '--target', str(target), str(source)],
      cwd=tmp_path, capture_output=True, text=True)
  assert install.returncode == 0, install.stderr
  env = dict(os.environ, PYTHONPATH=str(target))
  probe = subprocess.run([sys.executable, '-c', _INSTALLED_PROBE], env=env,
                         cwd=tmp_path, capture_output=True, text=True)
  assert probe.returncode == 0, probe.stderr[-2000:]
  package_dir, toy_yaml, installed_yamls, model_id = (
      probe.stdout.strip().splitlines()[-4:])
  assert package_dir == str(target / 'cvrl_tf')
  assert toy_yaml.startswith(package_dir) and os.path.isfile(toy_yaml)
  assert installed_yamls == str(sorted(
      name for name in os.listdir(configs.EXPERIMENTS_DIR)
      if name.endswith('.yaml')))
  assert model_id == '18'
