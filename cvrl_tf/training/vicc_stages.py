"""ViCC's stage schedule as functions of the global step.

`ViCCRecipe.stages` (configs/vicc.py) lists the authors' runs in order, in
epochs from each run's start; `StageTable` turns them into step boundaries
once, and everything a step needs (its stage, learning rate, the step its
queues start from, whether the prototypes are frozen) is computed from the
global step in the graph. A resumed run therefore continues exactly
where it stopped: there is no state besides the step.
"""
import dataclasses
import math
from typing import List, Tuple

import tensorflow as tf
import tf_keras

from cvrl_tf.configs import vicc as vicc_cfg

# (trained stream, cross_stream): the kinds of step a schedule can hold.
StepKind = Tuple[str, bool]


@dataclasses.dataclass(frozen=True)
class StageSteps:
  """One stage in global steps [start, end)."""
  kind: StepKind
  start: int
  end: int
  lr_decay_steps: int
  queue_start: int
  prototypes_free: int


class StageTable:
  """The step boundaries of a `ViCCRecipe`'s stages.

  Attributes:
    stages: `StageSteps` of every stage, in order.
    kinds: the distinct step kinds, in order of first appearance; a
      stage's branch is its kind's index.
  """

  def __init__(self, recipe: vicc_cfg.ViCCRecipe):
    """Initialiser; `recipe` gives the stages and the steps of an epoch."""
    per_epoch = recipe.steps_per_epoch
    self.stages: List[StageSteps] = []
    start = 0
    for stage in recipe.stages:
      end = start + stage.epochs * per_epoch
      self.stages.append(StageSteps(
          kind=(stage.trained_stream, bool(stage.cross_stream)),
          start=start, end=end,
          lr_decay_steps=stage.lr_decay_epochs * per_epoch,
          queue_start=start + stage.queue_start_epoch * per_epoch,
          prototypes_free=start + stage.freeze_prototypes_epochs * per_epoch))
      start = end
    self.kinds: List[StepKind] = []
    for stage in self.stages:
      if stage.kind not in self.kinds:
        self.kinds.append(stage.kind)
    self._ends = tf.constant([s.end for s in self.stages], tf.int64)

  @property
  def total_steps(self) -> int:
    return self.stages[-1].end if self.stages else 0

  def _column(self, name: str, dtype=tf.int64) -> tf.Tensor:
    return tf.constant([getattr(s, name) for s in self.stages], dtype)

  def stage_index(self, step) -> tf.Tensor:
    """int32 index of the stage holding global step `step` (0-based).

    `step` may be a tensor of any shape; steps past the last stage count
    as its steps.
    """
    step = tf.cast(step, tf.int64)
    index = tf.searchsorted(self._ends, tf.reshape(step, [-1]), side='right')
    index = tf.minimum(tf.cast(index, tf.int32), len(self.stages) - 1)
    return tf.reshape(index, tf.shape(step))

  def branch(self, step) -> tf.Tensor:
    """int32 index into `kinds` of step `step`'s stage."""
    kinds = tf.constant([self.kinds.index(s.kind) for s in self.stages],
                        tf.int32)
    return tf.gather(kinds, self.stage_index(step))

  def stage_value(self, name: str, step) -> tf.Tensor:
    """Field `name` of `StageSteps` for step `step`'s stage (int64)."""
    return tf.gather(self._column(name), self.stage_index(step))

  def prototypes_frozen(self, step) -> tf.Tensor:
    """Whether step `step`'s update leaves the prototypes unchanged."""
    return tf.cast(step, tf.int64) < self.stage_value('prototypes_free', step)


class StagedCosineSchedule(tf_keras.optimizers.schedules.LearningRateSchedule):
  """Each stage's own cosine decay, restarted at every stage's start.

  Stage-local step t of a stage with D decay steps trains at
  final + (base - final) (1 + cos(pi t / D)) / 2, as ViCC's
  `cosine_lr_schedule[iteration - 1]` with iteration counted from 1 in
  each run.
  """

  def __init__(self, table: StageTable, base_learning_rate: float,
               final_learning_rate: float):
    super().__init__()
    self._table = table
    self._base = base_learning_rate
    self._final = final_learning_rate

  def __call__(self, step):
    step = tf.cast(step, tf.int64)
    local = tf.cast(step - self._table.stage_value('start', step), tf.float32)
    decay = tf.cast(self._table.stage_value('lr_decay_steps', step),
                    tf.float32)
    cosine = 0.5 * (1.0 + tf.cos(math.pi * local / tf.maximum(decay, 1.0)))
    return self._final + (self._base - self._final) * cosine

  def get_config(self):
    return {'base_learning_rate': self._base,
            'final_learning_rate': self._final,
            'stage_ends': [s.end for s in self._table.stages]}

