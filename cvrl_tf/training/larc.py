"""LARC around momentum SGD, as ViCC and SwAV train (apex.parallel.LARC).

ViCC (github.com/martinetoering/ViCC, `src/main_single.py` and
`src/main_cross.py` `main_worker`) builds
`optim.SGD(params, lr=base_lr, weight_decay=wd, momentum=0.9)` and wraps
it in `LARC(optimizer, trust_coefficient=0.001, clip=False)`, with
`--wd 1e-6` in every script of `slurm_scripts/pretrain/`. Every parameter
(BatchNorm and biases included) is decayed and adapted.

apex's `LARC.step` (github.com/NVIDIA/apex, `apex/parallel/LARC.py`), for
each parameter p with gradient g, when ||p|| != 0 and ||g|| != 0:

  local_lr = trust_coefficient * ||p|| / (||g|| + wd ||p|| + eps)
  (clip: local_lr = min(local_lr / lr, 1))
  g <- (g + wd p) * local_lr

(otherwise g is left as it is, undecayed); then torch's SGD steps with its
weight decay switched off:

  buf <- momentum * buf + g        (buf = g at the first step)
  p   <- p - lr * buf.

This optimizer does both in one update rather than wrapping a Keras SGD:
Keras' momentum accumulates lr * g (v <- m v - lr g), torch's accumulates g
and applies the current lr to the sum, which differs once the learning rate
changes from step to step (ViCC's cosine decay). Like Model Garden's LARS
(official/modeling/optimization/lars.py) it is a legacy Keras optimizer,
registered with Model Garden's optimizer factory as 'larc' (config:
`cvrl_tf/configs/optimization.py`).

Stages: ViCC trains each stage as a new run with a new optimizer, so every
momentum buffer starts at zero; `restart_steps` zeroes them at the given
iterations. A zero gradient then leaves a variable where it is, as ViCC's
`p.grad = None` (frozen prototypes) and `requires_grad = False` (frozen
stream) do.
"""
from typing import Sequence

import tensorflow as tf
import tf_keras

from official.modeling.optimization import optimizer_factory


class LARC(tf_keras.optimizers.legacy.Optimizer):
  """apex LARC (scaling or clipping) over torch-style momentum SGD."""

  def __init__(self, learning_rate=0.01, momentum: float = 0.9,
               weight_decay: float = 0.0, trust_coefficient: float = 0.001,
               clip: bool = False, eps: float = 1e-8,
               restart_steps: Sequence[int] = (), name: str = 'LARC',
               **kwargs):
    """Args as apex's `LARC` and torch's `SGD`.

    Args:
      learning_rate: float or schedule, torch's lr.
      momentum: torch SGD's momentum (dampening 0, not Nesterov).
      weight_decay: torch SGD's weight_decay, applied by LARC.
      trust_coefficient: LARC's (ViCC: 0.001).
      clip: LARC's clipping mode (ViCC: False, scaling).
      eps: LARC's eps.
      restart_steps: iterations (0-based global steps) whose update starts
        from zero momentum: the first step of each stage.
      name: optimizer name.
      **kwargs: the legacy optimizer's (clipnorm, clipvalue, ...).
    """
    super().__init__(name, **kwargs)
    self._set_hyper('learning_rate', kwargs.get('lr', learning_rate))
    self._set_hyper('decay', self._initial_decay)
    self.momentum = momentum
    self.weight_decay = weight_decay
    self.trust_coefficient = trust_coefficient
    self.clip = clip
    self.eps = eps
    self.restart_steps = [int(step) for step in restart_steps]

  def _create_slots(self, var_list):
    for variable in var_list:
      self.add_slot(variable, 'momentum')

  def larc_gradient(self, gradient, variable, learning_rate):
    """apex's rescaled gradient (g + wd p) * local_lr, or g if a norm is 0."""
    param_norm = tf.norm(variable)
    grad_norm = tf.norm(gradient)
    local_lr = self.trust_coefficient * param_norm / (
        grad_norm + param_norm * self.weight_decay + self.eps)
    if self.clip:
      local_lr = tf.minimum(local_lr / learning_rate, 1.0)
    adapted = (gradient + self.weight_decay * variable) * local_lr
    both_nonzero = tf.logical_and(param_norm > 0, grad_norm > 0)
    return tf.where(both_nonzero, adapted, gradient)

  def _resource_apply_dense(self, grad, var, apply_state=None):
    var_device, var_dtype = var.device, var.dtype.base_dtype
    coefficients = ((apply_state or {}).get((var_device, var_dtype)) or
                    self._fallback_apply_state(var_device, var_dtype))
    learning_rate = coefficients['lr_t']
    momentum = self.get_slot(var, 'momentum')
    previous = tf.convert_to_tensor(momentum)
    if self.restart_steps:
      restart = tf.reduce_any(tf.equal(
          self.iterations, tf.constant(self.restart_steps, tf.int64)))
      previous = tf.where(restart, tf.zeros_like(previous), previous)
    next_momentum = (self.momentum * previous +
                     self.larc_gradient(grad, var, learning_rate))
    return tf.group(
        momentum.assign(next_momentum, use_locking=self._use_locking),
        var.assign_sub(learning_rate * next_momentum,
                       use_locking=self._use_locking))

  def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
    # LARC needs the whole gradient's norm: apply it densely.
    dense = tf.math.unsorted_segment_sum(grad, indices, tf.shape(var)[0])
    return self._resource_apply_dense(dense, var, apply_state)

  def get_config(self):
    config = super().get_config()
    config.update({
        'learning_rate': self._serialize_hyperparameter('learning_rate'),
        'decay': self._initial_decay,
        'momentum': self.momentum,
        'weight_decay': self.weight_decay,
        'trust_coefficient': self.trust_coefficient,
        'clip': self.clip,
        'eps': self.eps,
        'restart_steps': self.restart_steps,
    })
    return config


# The factory builds legacy optimizers unless told otherwise; both paths
# find 'larc', as they find Model Garden's 'lars'.
optimizer_factory.register_optimizer_cls('larc', LARC)
optimizer_factory.register_optimizer_cls('larc', LARC,
                                         use_legacy_optimizer=False)
