r"""Why ViCC's toy losses sit at ln(prototypes): collapse measures per checkpoint.

For each ViCC toy run trained under `--work_dir` (by `benchmarks.methods_toy`
at 450 steps), for the initial weights and every kept
checkpoint, on one fixed training batch and for each stream alone and
across streams (`ViCCPretrainTask.view_embeddings`, training mode, no
queue):

  loss                 `ViCCPretrainTask.swapped_loss`;
  gradient_norms       global norm of its gradient over the stream's
                       backbone, projection and prototypes;
  embedding_cosine     mean cosine between the batch's first-view
                       embeddings of different videos (1: collapsed);
  score_spread         mean over videos of the std over prototypes of
                       z.c (0: every prototype scores alike, so the
                       prediction softmax(z.c / tau) is uniform);
  prediction_entropy,  mean entropies of the predictions and of the
  code_entropy         Sinkhorn-Knopp codes of the batch alone, against
                       ln(prototypes);

and, per stream part, the relative distance of the weights from the
initial ones (`moved`). Writes `vicc_toy_diagnostics.json`:

  python -m benchmarks.vicc_toy_diagnostics --work_dir=/tmp/methods_toy \
      --seeds=0 --output_dir=docs/results
"""
import argparse
import math
import os
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from benchmarks import method_runs
from benchmarks import reproduce_runs as runs
from benchmarks import tclr_toy_diagnostics
from cvrl_tf.configs import vicc as vicc_cfg
from cvrl_tf.losses import vicc as vicc_losses
from cvrl_tf.tasks import vicc_pretrain

VICC = method_runs.METHODS['vicc']
TRAIN_STEPS = 450


def entropy(probabilities: np.ndarray) -> float:
  """Mean entropy (nats) of the rows of `probabilities` [n, K]."""
  logs = np.log(np.where(probabilities > 0, probabilities, 1.0))
  return float(np.mean(-np.sum(probabilities * logs, axis=-1)))


def collapse_measures(embeddings: np.ndarray, prototypes: np.ndarray,
                      temperature: float, epsilon: float,
                      iterations: int) -> Dict[str, float]:
  """How alike the videos' embeddings [n, D] and their prototype scores are.

  `prototypes` [D, K] are L2-normalised columns.
  """
  videos = len(embeddings)
  cosines = embeddings @ embeddings.T
  scores = embeddings @ prototypes
  predictions = tf.nn.softmax(scores / temperature).numpy()
  codes = vicc_losses.sinkhorn_knopp(
      scores.astype(np.float32), epsilon, iterations).numpy()
  return {
      'embedding_cosine': float(
          (cosines.sum() - np.trace(cosines)) / (videos * (videos - 1))),
      'score_spread': float(scores.std(axis=1).mean()),
      'prediction_entropy': entropy(predictions),
      'code_entropy': entropy(codes),
  }


def stream_parts(model, stream: str) -> Dict[str, List[tf.Variable]]:
  return {'backbone': model._backbones[stream].trainable_variables,  # pylint: disable=protected-access
          'projection': model._projections[stream].trainable_variables,  # pylint: disable=protected-access
          'prototypes': model.prototypes(stream).trainable_variables}


def step_measures(task, model, features, stream: str,
                  cross: bool) -> Dict[str, object]:
  """Loss, gradient norms and collapse measures of one kind of step."""
  losses = task.task_config.losses
  model.prototypes(stream).normalize()
  parts = stream_parts(model, stream)
  with tf.GradientTape(persistent=True) as tape:
    embeddings = task.view_embeddings(features, model, stream, cross,
                                      task.task_config.train_data,
                                      training=True)
    loss = task.swapped_loss(embeddings, model, stream)
  measures = {'loss': float(loss), 'gradient_norms': {
      part: float(tf.linalg.global_norm(tape.gradient(loss, variables)))
      for part, variables in parts.items()}}
  measures.update(collapse_measures(
      embeddings[0].numpy(), model.prototypes(stream).kernel.numpy(),
      losses.temperature, losses.sinkhorn_epsilon,
      losses.sinkhorn_iterations))
  return measures


def moved(model, initial: Dict[str, List[np.ndarray]]) -> Dict[str, float]:
  """Relative distance of each stream part's weights from `initial`.

  The initial prototypes are compared once L2-normalised, as training
  normalises them before its first step; `model`'s must be normalised.
  """
  distances = {}
  for stream in vicc_cfg.STREAMS:
    for part, variables in stream_parts(model, stream).items():
      start = initial[f'{stream}_{part}']
      if part == 'prototypes':
        start = [w / np.linalg.norm(w, axis=0) for w in start]
      squared = sum(float(np.sum((v.numpy() - w) ** 2))
                    for v, w in zip(variables, start))
      distances[f'{stream}_{part}'] = math.sqrt(squared / sum(
          float(np.sum(w ** 2)) for w in start))
  return distances


def diagnose_run(work_dir: str, seed: int) -> Dict[str, object]:
  budget = runs.Budget(train_steps=TRAIN_STEPS, seeds=(seed,))
  run = method_runs.MethodRun(VICC, budget, seed, work_dir)
  train_dir = os.path.join(runs.run_dir_of(work_dir, run.definition()),
                           'train')
  if tf.train.latest_checkpoint(train_dir) is None:
    raise ValueError(f'{train_dir}: no ViCC run of seed {seed} at '
                     f'{TRAIN_STEPS} steps; train it with methods_toy.')
  params = run.training_params(runs.prepare_data(work_dir, budget, VICC.flow))
  task = vicc_pretrain.ViCCPretrainTask(params.task)
  features = next(iter(task.build_inputs(params.task.train_data)))[0]
  initial, diagnosed = None, {}
  for step, prefix in [(0, '')] + tclr_toy_diagnostics.kept_checkpoints(
      train_dir):
    # The initial weights are the training run's.
    tf.keras.utils.set_random_seed(seed)
    model = task.build_model()
    if prefix:
      tf.train.Checkpoint(model=model).read(prefix).expect_partial()
    if initial is None:
      initial = {f'{stream}_{part}': [v.numpy() for v in variables]
                 for stream in vicc_cfg.STREAMS
                 for part, variables in stream_parts(model, stream).items()}
    entry = {}
    for stream in vicc_cfg.STREAMS:
      for cross in (False, True):
        entry[f'{stream}_{"cross" if cross else "alone"}'] = step_measures(
            task, model, features, stream, cross)
    # After step_measures, which normalises the prototypes.
    entry['moved'] = moved(model, initial)
    diagnosed[str(step)] = entry
  return {'loss_terms': method_runs.logged_scalars(
      train_dir, ('rgb_loss', 'flow_loss', 'learning_rate')),
          'checkpoints': diagnosed}


def run(work_dir: str, output_dir: str, seeds: Sequence[int],
        command: str) -> Dict[str, object]:
  start = time.monotonic()
  diagnosed = {str(seed): diagnose_run(work_dir, seed) for seed in seeds}
  return tclr_toy_diagnostics.write_outcome(
      output_dir, 'vicc_toy_diagnostics.json',
      {'command': command, 'ln_prototypes': math.log(vicc_cfg.NUM_PROTOTYPES),
       'runs': diagnosed}, start)


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--work_dir', required=True)
  parser.add_argument('--output_dir', default='docs/results')
  parser.add_argument('--seeds', default='0')
  args = parser.parse_args(argv)
  command = 'python -m benchmarks.vicc_toy_diagnostics ' + ' '.join(
      sys.argv[1:] if argv is None else argv)
  try:
    run(args.work_dir, args.output_dir,
        [int(s) for s in args.seeds.split(',')], command)
  except ValueError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  main()
