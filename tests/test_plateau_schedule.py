"""TCLR's warm-up / plateau learning rate against a replay of its loop."""
import numpy as np
import tensorflow as tf

from cvrl_tf.configs import tclr as tclr_cfg
from cvrl_tf.training import plateau_schedule

STEPS_PER_EPOCH = 2


def reference_rates(epoch_losses, base=1e-3, warmup=(1 / 100, 1 / 20, 1 / 10,
                                                      1 / 2, 1), patience=9):
  """The rate of every epoch as `train_gen_all_step.py` `train_classifier`
  sets it: warm-up array, then / 10 ** k once `scheduler_epoch` reaches the
  patience; the epoch's loss then updates `best_score` / `scheduler_epoch`.
  """
  rates, best, bad, drops, rate = [], 10000.0, 0, 1, base
  for epoch, loss in enumerate(epoch_losses):
    if epoch < len(warmup):
      rate = warmup[epoch] * base
    if bad == patience:
      rate = base / 10 ** drops
      bad = 0
      drops += 1
    rates.append(rate)
    if loss < best:
      best = loss
      bad = 0
    if loss > best:
      bad += 1
  return rates


def step_losses(epoch_losses, rng):
  """Per-step losses whose epoch means are `epoch_losses`."""
  noise = rng.normal(size=len(epoch_losses)) * 0.1
  return np.stack([epoch_losses + noise, epoch_losses - noise], axis=1)


def replay(epoch_losses, resume_at_epoch=None, tmp_path=None):
  """Rates per epoch from PlateauSchedule, optionally through a checkpoint."""
  state = plateau_schedule.PlateauState()
  recipe = tclr_cfg.TCLRRecipe()
  schedule = plateau_schedule.PlateauSchedule(
      state, recipe.learning_rate, STEPS_PER_EPOCH, recipe.warmup_factors,
      recipe.plateau_factor)
  rates, step = [], 0
  losses = step_losses(np.asarray(epoch_losses, np.float32),
                       np.random.default_rng(0))
  for epoch, epoch_steps in enumerate(losses):
    if epoch == resume_at_epoch:
      path = tf.train.Checkpoint(state=state).write(str(tmp_path / 'ckpt'))
      state = plateau_schedule.PlateauState()
      tf.train.Checkpoint(state=state).read(path).assert_consumed()
      schedule.state = state
    rates.append(float(schedule(step)))
    for loss in epoch_steps:
      assert float(schedule(step)) == rates[-1]
      state.record_step(tf.constant(loss), STEPS_PER_EPOCH,
                        recipe.plateau_patience_epochs)
      step += 1
  return rates


# Improves for 12 epochs, stalls for 20 (two drops), improves, stalls again.
EPOCH_LOSSES = ([10.0 - 0.5 * e for e in range(12)] + [5.0] * 20 +
                [4.0, 3.9] + [4.5] * 11)


def test_rates_follow_tclrs_loop():
  expected = reference_rates(EPOCH_LOSSES)
  assert sorted(set(np.round(np.log10(expected[5:]))))[:3] == [-6, -5, -4]
  np.testing.assert_allclose(replay(EPOCH_LOSSES), expected, rtol=1e-6)


def test_state_survives_a_checkpoint_mid_plateau(tmp_path):
  np.testing.assert_allclose(
      replay(EPOCH_LOSSES, resume_at_epoch=20, tmp_path=tmp_path),
      reference_rates(EPOCH_LOSSES), rtol=1e-6)
