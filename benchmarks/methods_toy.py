r"""The pretraining methods side by side on the toy benchmark, at one budget.

Every method trains the same half-width R3D-18 on 8 x 32^2 clips of the
reproduction's toy data (`reproduce_runs.prepare_data`, the
varied-appearance motion classes) for the same number of training steps,
each with its own recipe:

  vicc         `vicc_pretrain_toy.yaml`: RGB alone, flow alone, then the
               streams alternating, every stage counted in the steps (its
               epoch rescaled so that the run keeps the preset's 50
               epochs); its records also hold optical flow (Farneback;
               `--vicc_flow=tvl1` for ViCC's own);
  tclr         `tclr_pretrain_toy.yaml` (its epoch rescaled to keep the
               preset's 10 epochs);
  cvrl         the reproduction's `cvrl` setting (`cvrl_pretrain_toy.yaml`,
               its schedule rescaled to the steps);
  random_init  the reproduction's untrained encoder.

The frozen RGB backbones are evaluated with exactly the reproduction's probe
(`reproduce_runs.evaluate`: fast linear probe and kNN on 8-frame clips at
stride 2), for every seed; the results are the mean and sample standard
deviation over the seeds. Runs are keyed by their definition under
`--work_dir` and recorded in `--record_dir` (`run_records`): the cvrl and
random_init runs are the reproduction's, so its recorded runs are reused,
and a run recorded there is not trained again. Writes
`methods_toy.{json,md}` (`--output_name`) to `--output_dir`:

  python -m benchmarks.methods_toy --work_dir=/tmp/methods_toy \
      --methods=vicc,tclr,cvrl,random_init --seeds=0,1,2 --train_steps=450 \
      --output_dir=docs/results
"""
import argparse
import dataclasses
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from benchmarks import flow_cost
from benchmarks import input_pipeline
from benchmarks import method_runs
from benchmarks import methods_report
from benchmarks import reproduce_runs as runs
from benchmarks import run_keys
from benchmarks import run_records
from cvrl_tf import demo
from cvrl_tf.data_prep import optical_flow

METHOD_NAMES = ('vicc', 'tclr', 'cvrl', 'random_init')
VICC_LOSSES = ('rgb_loss', 'flow_loss')
def parse_methods(text: str) -> List[str]:
  methods = text.split(',')
  unknown = sorted(set(methods) - set(METHOD_NAMES))
  if unknown or not methods:
    raise ValueError(f'--methods takes some of {",".join(METHOD_NAMES)}; '
                     f'got {text!r}.')
  return methods


def parse_seeds(text: str) -> List[int]:
  try:
    return [int(seed) for seed in text.split(',')]
  except ValueError:
    raise ValueError(f'--seeds takes integers, e.g. 0,1,2; got {text!r}.'
                     ) from None


def check_train_steps(methods: Sequence[str], train_steps: int) -> None:
  """Raises ValueError unless every method can train for `train_steps`."""
  if train_steps <= 0:
    raise ValueError(f'--train_steps must be positive, got {train_steps}.')
  for name in methods:
    if name in method_runs.METHODS:
      method_runs.check_train_steps(method_runs.METHODS[name], train_steps)


def method_of(name: str, vicc_flow: str) -> Optional[method_runs.Method]:
  """The `method_runs.Method` of `name` (ViCC with `vicc_flow`), or None
  for the reproduction's settings."""
  method = method_runs.METHODS.get(name)
  if method is not None and method.flow:
    method = dataclasses.replace(method, flow=vicc_flow)
  return method


def finished_run(name: str, budget: runs.Budget, seed: int, work_dir: str,
                 record_dir: str, vicc_flow: str,
                 train: bool = True) -> Optional[Dict[str, Any]]:
  """The record of one method's run, reused or trained (`run_records`);
  None if it is not recorded and `train` is False."""
  method = method_of(name, vicc_flow)
  if method is not None:
    return method_runs.MethodRun(method, budget, seed, work_dir).finished(
        record_dir, train)
  return run_records.finished_setting_run(budget, name, seed, work_dir,
                                          record_dir, train)


def vicc_losses(budget: runs.Budget, seeds: Sequence[int], work_dir: str,
                vicc_flow: str) -> Dict[str, Dict[str, List]]:
  """The logged losses of ViCC's runs trained under `work_dir`
  ({run name: {tag: [(step, loop mean)]}}; runs trained elsewhere have no
  logs here)."""
  losses = {}
  for seed in seeds:
    run = method_runs.MethodRun(method_of('vicc', vicc_flow), budget, seed,
                                work_dir)
    definition = run.definition()
    logged = method_runs.logged_scalars(
        os.path.join(runs.run_dir_of(work_dir, definition), 'train'),
        VICC_LOSSES)
    if logged:
      losses[run_keys.run_name(definition)] = logged
  return losses


def toy_flow_cost() -> Dict[str, float]:
  """CPU-ms per flow of each method on frames of the toy records' size
  (`flow_cost`)."""
  size = demo.RECORD_MIN_RESIZE
  # 4 flows a repetition: the moving square stays inside 40 x 40.
  measured = flow_cost.run(list(optical_flow.FLOW_METHODS), size, size,
                           frames_per_rep=4, repetitions=9)
  return {method: m['cpu_ms_per_frame_median']
          for method, m in measured['methods'].items()}


def run(work_dir: str, output_dir: str, record_dir: str, budget: runs.Budget,
        methods: Sequence[str], command: str,
        vicc_flow: str = method_runs.TOY_VICC_FLOW,
        output_name: str = 'methods_toy',
        train: bool = True) -> Dict[str, object]:
  """Reuses or trains every method's runs; writes `output_name`.{json,md}.

  Without `train`, only the recorded runs count (the page says which are
  missing).
  """
  start = time.monotonic()
  records = {}
  for name in methods:
    records[name] = {}
    for seed in budget.seeds:
      record = finished_run(name, budget, seed, work_dir, record_dir,
                            vicc_flow, train)
      if record is not None:
        records[name][seed] = record
  with_vicc = 'vicc' in methods
  outcome = methods_report.result(
      records, budget, command, time.monotonic() - start, vicc_flow,
      toy_flow_cost() if with_vicc else None,
      vicc_losses(budget, sorted(records['vicc']), work_dir, vicc_flow)
      if with_vicc else None)
  outcome.update(environment=input_pipeline.environment(),
                 commit=input_pipeline.code_commit(), output_name=output_name)
  runs.write_json(os.path.join(output_dir, f'{output_name}.json'), outcome)
  with open(os.path.join(output_dir, f'{output_name}.md'), 'w') as f:
    f.write(methods_report.report(outcome))
  return outcome


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--work_dir', required=True,
                      help='Videos, records, checkpoints; reruns resume.')
  parser.add_argument('--output_dir', default='docs/results')
  parser.add_argument('--output_name', default='methods_toy',
                      help='Results go to <output_name>.{json,md}.')
  parser.add_argument('--record_dir', default=run_records.RECORD_DIR,
                      help='Records of finished runs, committed: a run '
                      'recorded there is not trained again.')
  parser.add_argument('--methods', default=','.join(METHOD_NAMES))
  parser.add_argument('--seeds', default='0')
  parser.add_argument('--train_steps', type=int, required=True)
  parser.add_argument('--vicc_flow', default=method_runs.TOY_VICC_FLOW,
                      choices=optical_flow.FLOW_METHODS,
                      help="ViCC's optical flow; tvl1 is the authors' "
                      '(costly at toy size, see benchmarks/method_runs.py).')
  parser.add_argument('--only_recorded', action='store_true',
                      help='Train nothing: report the runs recorded in '
                      '--record_dir.')
  parser.add_argument('--quick', action='store_true',
                      help="A smoke run on the reproduction's quick data "
                      '(2 training and 1 test video per class).')
  args = parser.parse_args(argv)
  command = 'python -m benchmarks.methods_toy ' + ' '.join(
      sys.argv[1:] if argv is None else argv)
  try:
    methods = parse_methods(args.methods)
    budget = dataclasses.replace(
        runs.QUICK if args.quick else runs.Budget(),
        train_steps=args.train_steps, seeds=tuple(parse_seeds(args.seeds)))
    check_train_steps(methods, args.train_steps)
    outcome = run(args.work_dir, args.output_dir, args.record_dir, budget,
                  methods, command, args.vicc_flow, args.output_name,
                  train=not args.only_recorded)
  except (ValueError, run_keys.DefinitionMismatchError) as e:
    sys.exit(f'error: {e}')
  except runs.TrainingInterrupted as e:
    sys.exit(f'stopped: {e} Run the same command to resume.')
  print(methods_report.results_table(outcome['methods']))


if __name__ == '__main__':
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  main()
