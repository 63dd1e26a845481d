"""gs:// through TensorFlow's own GCS client, in a private network namespace.

The tests of `gcs_end_to_end.py` run in one pytest process inside a network
and mount namespace made once for this module (`gcs_namespace.py`): there a
GCS emulator behind TLS answers for www.googleapis.com and
storage.googleapis.com, and no request can leave the machine. Each test
here reports one of them. Without `unshare --mount --net` (root), they are
skipped with the reason.
"""
import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

import gcs_namespace

pytestmark = pytest.mark.timeout(3600)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
END_TO_END = os.path.join(HERE, 'gcs_end_to_end.py')


def end_to_end_test_names():
  with open(END_TO_END) as f:
    module = ast.parse(f.read())
  return [node.name for node in module.body
          if isinstance(node, ast.FunctionDef)
          and node.name.startswith('test_gcs')]


@pytest.fixture(scope='module')
def namespace_outcomes(tmp_path_factory):
  """{test name: (outcome, details)} of the run inside the namespace."""
  reason = gcs_namespace.unavailable_reason()
  if reason:
    pytest.skip(f'gs:// tests need a private network namespace: {reason}')
  work_dir = tmp_path_factory.mktemp('gcs_namespace')
  report = work_dir / 'report.xml'
  command = gcs_namespace.command_in_namespace(str(work_dir / 'emulator'), [
      sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
      f'--basetemp={work_dir / "tmp"}', f'--junitxml={report}', END_TO_END])
  run = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                       timeout=3400, check=False)
  output = run.stdout + run.stderr
  if not report.exists():
    pytest.fail(f'the namespace run failed ({run.returncode}):\n'
                f'{output[-5000:]}')
  return junit_outcomes(str(report))


def junit_outcomes(report_path: str):
  """{test function: (outcome, details)} from a JUnit XML report.

  A parametrized function takes the outcome of its first case that did not
  pass.
  """
  outcomes = {}
  for case in ElementTree.parse(report_path).iter('testcase'):
    name = case.get('name').split('[')[0]
    problems = [child for child in case
                if child.tag in ('failure', 'error', 'skipped')]
    if problems:
      outcome = (problems[0].tag, (problems[0].get('message') or '') + '\n'
                 + (problems[0].text or ''))
    else:
      outcome = ('passed', '')
    if outcomes.get(name, ('passed', ''))[0] == 'passed':
      outcomes[name] = outcome
  return outcomes


@pytest.mark.parametrize('name', end_to_end_test_names())
def test_gcs(name, namespace_outcomes):
  outcome, details = namespace_outcomes.get(
      name, ('missing', 'not run in the namespace'))
  if outcome == 'skipped':
    pytest.skip(details)
  assert outcome == 'passed', f'{name} {outcome}:\n{details[-5000:]}'
