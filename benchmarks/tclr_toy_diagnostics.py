r"""What TCLR's toy run learns: loss terms, gradients per term, features.

For each TCLR toy run (`method_runs.MethodRun.evaluate`: trained, or found
finished under `--work_dir`, at `train_steps` and `clip_batches`), records

  metrics       the benchmark's probe and kNN (`methods_toy.json`'s fields);
  loss_terms    the trainer's logged terms, each the mean over a loop of
                `trainer.steps_per_loop` steps (TensorBoard summaries);
  checkpoints   for the initial weights and every kept checkpoint, on one
                fixed training batch: each term's value and the global norm
                of its gradient over the backbone's weights; on the test
                videos' probe features (the benchmark's clips): their spread
                (`feature_spread`) and the 1-nearest-neighbour accuracy per
                class (`per_class_nearest_neighbor`).

Chance levels of the terms (`chance_levels`) are their values when every
candidate of every anchor is equally similar. Writes
`tclr_toy_diagnostics.json` to `--output_dir`:

  python -m benchmarks.tclr_toy_diagnostics --work_dir=/tmp/tclr_toy \
      --runs=150:separate,450:separate,150:joint --output_dir=docs/results
"""
import argparse
import math
import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from benchmarks import input_pipeline
from benchmarks import method_runs
from benchmarks import reproduce_runs as runs
from cvrl_tf import demo
from cvrl_tf.configs import tclr as tclr_cfg
from cvrl_tf.data_prep import toy_motions
from cvrl_tf.dataloaders import tclr_input
from cvrl_tf.evaluation import features as features_lib
from cvrl_tf.evaluation import retrieval
from cvrl_tf.tasks import tclr_pretrain

TCLR = method_runs.METHODS['tclr']
TERMS = ('sparse_instance_loss', 'dense_instance_loss', 'local_local_loss',
         'global_local_loss', 'tclr_loss')


def parse_runs(text: str) -> List[Tuple[int, str]]:
  """'150:separate,450:joint' -> [(150, 'separate'), (450, 'joint')]."""
  parsed = []
  for item in text.split(','):
    steps, _, clip_batches = item.partition(':')
    clip_batches = clip_batches or 'separate'
    if not steps.isdigit() or clip_batches not in tclr_cfg.CLIP_BATCHES:
      raise ValueError(f'--runs takes STEPS:CLIP_BATCHES items, CLIP_BATCHES '
                       f'one of {tclr_cfg.CLIP_BATCHES}; got {item!r}.')
    method_runs.check_train_steps(TCLR, int(steps))
    parsed.append((int(steps), clip_batches))
  return parsed


def chance_levels(videos: int, dense_clips: int = 4) -> Dict[str, float]:
  """Each term when all of an anchor's candidates are equally similar.

  Sparse instance: ln(2N - 1) candidates; dense instance: 56 / 4 ordered
  pairs of it; local-local: N videos x ln(2 x 4 - 1); global-local: 4
  augmentation pairs x 4 positions x ln 4.
  """
  pairs = (2 * dense_clips) * (2 * dense_clips - 1)  # Ordered, distinct.
  return {
      'sparse_instance_loss': math.log(2 * videos - 1),
      'dense_instance_loss': pairs / 4 * math.log(2 * videos - 1),
      'local_local_loss': videos * math.log(2 * dense_clips - 1),
      'global_local_loss': 4 * dense_clips * math.log(dense_clips),
  }


def feature_spread(features: np.ndarray) -> Dict[str, float]:
  """How spread out features [N, C] are across videos.

  std_across_videos: per-channel standard deviation, averaged; relative:
  divided by the mean absolute value; effective_rank: exp of the entropy
  of the centred features' normalised squared singular values (1: all
  variance along one direction, C: spread evenly); top_component_share:
  the largest of those; mean_pairwise_cosine: of the raw features.
  """
  features = np.asarray(features, np.float64)
  centred = features - features.mean(axis=0)
  singular = np.linalg.svd(centred, compute_uv=False)
  shares = singular ** 2 / np.sum(singular ** 2)
  shares = shares[shares > 0]
  unit = features / np.linalg.norm(features, axis=1, keepdims=True)
  cosine = unit @ unit.T
  std = centred.std(axis=0).mean()
  return {
      'std_across_videos': float(std),
      'relative_std': float(std / np.abs(features).mean()),
      'effective_rank': float(np.exp(-np.sum(shares * np.log(shares)))),
      'top_component_share': float(shares.max()),
      'mean_pairwise_cosine': float(
          cosine[~np.eye(len(features), dtype=bool)].mean()),
  }


def per_class_nearest_neighbor(train_features, train_labels, test_features,
                               test_labels) -> Dict[str, float]:
  """Per toy class: how often a test video's nearest training video
  (cosine, `retrieval.nearest_neighbors`) has its class (kNN R@1)."""
  _, indices = retrieval.nearest_neighbors(train_features, test_features, 1)
  predicted = np.asarray(train_labels)[indices[:, 0]]
  test_labels = np.asarray(test_labels)
  return {name: float(np.mean(predicted[test_labels == c] == c))
          for c, name in enumerate(toy_motions.CLASS_NAMES)}


def term_gradient_norms(task, model, features) -> Dict[str, Dict[str, float]]:
  """Each term's value and backbone-gradient norm on one batch."""
  with tf.GradientTape(persistent=True) as tape:
    outputs = task.method_outputs(features, model, task.task_config.train_data,
                                  training=True)
  variables = model.backbone.trainable_variables
  return {term: {'value': float(outputs[term]),
                 'backbone_gradient_norm': float(tf.linalg.global_norm(
                     tape.gradient(outputs[term], variables)))}
          for term in TERMS}


def kept_checkpoints(train_dir: str) -> List[Tuple[int, str]]:
  """(step, prefix) of the run's kept checkpoints, by step."""
  state = tf.train.get_checkpoint_state(train_dir)
  prefixes = state.all_model_checkpoint_paths if state else []
  return sorted((int(p.rsplit('-', 1)[1]), p) for p in prefixes)


def diagnose_weights(task, model, batch, encode, eval_params,
                     paths: demo.DemoPaths) -> Dict[str, object]:
  """Terms and gradients on `batch`; spread and per-class 1-NN of `encode`."""
  _, train_labels, train_features = features_lib.encode_videos(
      encode, demo.eval_data(eval_params, paths.record_pattern('train')))
  _, test_labels, test_features = features_lib.encode_videos(
      encode, demo.eval_data(eval_params, paths.record_pattern('test')))
  return {
      'terms': term_gradient_norms(task, model, batch),
      'feature_spread': feature_spread(test_features),
      'per_class_nearest_neighbor': per_class_nearest_neighbor(
          train_features, train_labels, test_features, test_labels),
  }


def diagnose_run(paths: demo.DemoPaths, budget: runs.Budget,
                 clip_batches: str, seed: int, work_dir: str,
                 with_initial: bool) -> Dict[str, object]:
  """The run's metrics, logged terms and per-checkpoint diagnostics."""
  run = method_runs.MethodRun(TCLR, budget, seed, work_dir,
                              {'clip_batches': clip_batches})
  metrics = run.evaluate()
  train_dir = os.path.join(run.claimed_run_dir(), 'train')
  params = run.training_params(paths)
  task = tclr_pretrain.TCLRPretrainTask(params.task)
  batch, _ = next(iter(tclr_input.build_tclr_dataset(
      params.task.train_data)))
  eval_params = method_runs.evaluation_params(TCLR, paths, budget)
  checkpoints = ([(0, '')] if with_initial else []) + kept_checkpoints(
      train_dir)
  diagnosed = {}
  for step, prefix in checkpoints:
    # Kept next to the checkpoints: an interrupted run resumes.
    cached = os.path.join(train_dir, f'diagnostics-{step}.json')
    if not tf.io.gfile.exists(cached):
      # The initial weights are the training run's and random_init's.
      tf.keras.utils.set_random_seed(seed)
      model = task.build_model()
      if prefix:
        tf.train.Checkpoint(model=model).read(prefix).expect_partial()
      encode = demo.build_encoder(eval_params, prefix, seed=seed)
      runs.write_json(cached, diagnose_weights(task, model, batch, encode,
                                               eval_params, paths))
    diagnosed[str(step)] = runs.read_json(cached)
  return {'train_steps': budget.train_steps, 'clip_batches': clip_batches,
          'metrics': metrics, 'loss_terms': method_runs.logged_scalars(
              train_dir, TERMS + ('training_loss', 'learning_rate')),
          'checkpoints': diagnosed}


def run(work_dir: str, output_dir: str, run_specs: Sequence[Tuple[int, str]],
        seed: int, command: str) -> Dict[str, object]:
  start = time.monotonic()
  diagnosed = {}
  for i, (steps, clip_batches) in enumerate(run_specs):
    budget = runs.Budget(train_steps=steps, seeds=(seed,))
    paths = runs.prepare_data(work_dir, budget)
    diagnosed[f'{steps}:{clip_batches}'] = diagnose_run(
        paths, budget, clip_batches, seed, work_dir, with_initial=i == 0)
  videos = TCLR.preset_params().task.train_data.global_batch_size
  return write_outcome(
      output_dir, 'tclr_toy_diagnostics.json',
      {'command': command, 'seed': seed,
       'chance_levels': chance_levels(videos), 'runs': diagnosed}, start)


def write_outcome(output_dir: str, file_name: str, outcome: Dict[str, object],
                  start: float) -> Dict[str, object]:
  """`outcome` with the wall time since `start`, environment and commit,
  written as JSON to `output_dir`/`file_name`."""
  outcome.update(wall_seconds=round(time.monotonic() - start, 1),
                 environment=input_pipeline.environment(),
                 commit=input_pipeline.code_commit())
  runs.write_json(os.path.join(output_dir, file_name), outcome)
  return outcome


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--work_dir', required=True)
  parser.add_argument('--output_dir', default='docs/results')
  parser.add_argument('--runs', default='150:separate')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  command = 'python -m benchmarks.tclr_toy_diagnostics ' + ' '.join(
      sys.argv[1:] if argv is None else argv)
  try:
    run(args.work_dir, args.output_dir, parse_runs(args.runs), args.seed,
        command)
  except ValueError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  main()
