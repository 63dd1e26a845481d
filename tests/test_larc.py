"""LARC against a NumPy transcription of apex's LARC.step and torch's SGD.

The reference follows `apex/parallel/LARC.py` (`LARC.step`) and
`torch.optim.SGD` (momentum, dampening 0, weight decay switched off by
LARC during the step), as ViCC wraps them (`src/main_*.py`).
"""
import math

import numpy as np
import pytest
import tensorflow as tf

from official.core import config_definitions as cfg
from official.modeling import optimization

from cvrl_tf.configs import optimization as opt_cfg
from cvrl_tf.training import larc

BASE_LR = 0.6
FINAL_LR = 0.0006
DECAY_STEPS = 6
STEPS = 4


def vicc_cosine(step):
  """ViCC's `args.lr_schedule` at iteration `step` (0-based)."""
  return FINAL_LR + 0.5 * (BASE_LR - FINAL_LR) * (
      1 + math.cos(math.pi * step / DECAY_STEPS))


def apex_larc_sgd(params, gradients, momentum, weight_decay, trust, clip,
                  eps, restart_steps):
  """Parameters after each step; `gradients[t][i]` is p_i's at step t."""
  params = [p.astype(np.float64) for p in params]
  buffers = [None] * len(params)
  history = []
  for step, grads in enumerate(gradients):
    lr = vicc_cosine(step)
    if step in restart_steps:  # A new stage: a new torch optimizer.
      buffers = [None] * len(params)
    for i, (p, g) in enumerate(zip(params, grads)):
      g = g.astype(np.float64).copy()
      param_norm, grad_norm = np.linalg.norm(p), np.linalg.norm(g)
      if param_norm != 0 and grad_norm != 0:
        adaptive_lr = trust * param_norm / (
            grad_norm + param_norm * weight_decay + eps)
        if clip:
          adaptive_lr = min(adaptive_lr / lr, 1)
        g += weight_decay * p
        g *= adaptive_lr
      buffers[i] = g if buffers[i] is None else momentum * buffers[i] + g
      params[i] = p - lr * buffers[i]
    history.append([p.copy() for p in params])
  return history


@pytest.mark.parametrize('clip,trust', [(False, 0.001), (True, 0.5)])
def test_larc_matches_apex_and_torch_sgd(clip, trust):
  """A kernel, a zero-initialised bias (apex leaves its first gradient
  unscaled), and a frozen variable (zero gradient) until a restart."""
  rng = np.random.default_rng(0)
  params = [rng.normal(size=(3, 2)), np.zeros(2), rng.normal(size=(2, 4))]
  gradients = [[rng.normal(size=p.shape) * 0.1 for p in params]
               for _ in range(STEPS)]
  for step in (0, 1):
    gradients[step][2] = np.zeros_like(params[2])
  restart_steps = [0, 2]
  config = opt_cfg.OptimizationConfig({
      'optimizer': {'type': 'larc', 'larc': {
          'weight_decay': 1e-2, 'trust_coefficient': trust, 'clip': clip,
          'restart_steps': restart_steps}},
      'learning_rate': {'type': 'cosine', 'cosine': {
          'initial_learning_rate': BASE_LR, 'decay_steps': DECAY_STEPS,
          'alpha': FINAL_LR / BASE_LR}},
  })
  factory = optimization.OptimizerFactory(config)
  optimizer = factory.build_optimizer(factory.build_learning_rate())
  assert isinstance(optimizer, larc.LARC)
  variables = [tf.Variable(p, dtype=tf.float32) for p in params]
  optimizer.build(variables)
  for variable in variables:
    np.testing.assert_array_equal(optimizer.get_slot(variable, 'momentum'), 0)
  expected = apex_larc_sgd(params, gradients, 0.9, 1e-2, trust, clip, 1e-8,
                           restart_steps)
  for step in range(STEPS):
    optimizer.apply_gradients(
        zip([tf.constant(g, tf.float32) for g in gradients[step]], variables))
    for variable, want in zip(variables, expected[step]):
      np.testing.assert_allclose(variable.numpy(), want, rtol=1e-5,
                                 atol=1e-6, err_msg=f'step {step}')
  # Frozen at zero momentum: not moved, not decayed.
  np.testing.assert_array_equal(expected[1][2], params[2])


def test_larc_cosine_preset_is_vicc_schedule():
  config = opt_cfg.larc_cosine_optimization(BASE_LR, FINAL_LR, DECAY_STEPS)
  factory = optimization.OptimizerFactory(config)
  schedule = factory.build_learning_rate()
  np.testing.assert_allclose(
      [float(schedule(step)) for step in range(DECAY_STEPS + 1)],
      [vicc_cosine(step) for step in range(DECAY_STEPS + 1)], rtol=1e-5)
  optimizer = factory.build_optimizer(schedule)
  assert (optimizer.momentum, optimizer.weight_decay,
          optimizer.trust_coefficient, optimizer.clip) == (0.9, 1e-6, 0.001,
                                                           False)


def test_trainer_config_parses_larc_from_yaml_overrides():
  params = cfg.ExperimentConfig(trainer=opt_cfg.TrainerConfig())
  params.override({'trainer': {'optimizer_config': {'optimizer': {
      'type': 'larc', 'larc': {'restart_steps': [0, 10]}}}}},
                  is_strict=True)
  assert params.trainer.optimizer_config.optimizer.get().restart_steps == [
      0, 10]
