"""Every method the train and validation steps call converts under AutoGraph.

A method AutoGraph cannot convert runs as-is with a multi-line warning in
every training log ("AutoGraph could not transform ... Please report this to
the TensorFlow team"), and would silently lose Python control flow.
"""
import inspect

import pytest
import tensorflow as tf

from cvrl_tf.tasks import pretrain
from cvrl_tf.tasks import pretrain_step
from cvrl_tf.tasks import tclr_pretrain
from cvrl_tf.tasks import vicc_pretrain

TASKS = (pretrain_step.PretrainTask, pretrain.CVRLPretrainTask,
         tclr_pretrain.TCLRPretrainTask, vicc_pretrain.ViCCPretrainTask)


def _own_methods(cls):
  return [(cls.__name__, name) for name, member in vars(cls).items()
          if inspect.isfunction(member) and not name.startswith('__')]


@pytest.mark.parametrize(
    'class_name,method',
    [pair for cls in TASKS for pair in _own_methods(cls)])
def test_converts(class_name, method):
  cls = {cls.__name__: cls for cls in TASKS}[class_name]
  tf.autograph.to_graph(getattr(cls, method))
