"""Imports every module that registers experiments, tasks and models."""
# pylint: disable=unused-import
from cvrl_tf.configs import cvrl
from cvrl_tf.configs import evaluation
from cvrl_tf.configs import tclr
from cvrl_tf.configs import vicc
from cvrl_tf.modeling import cvrl_model
from cvrl_tf.modeling import r3d
from cvrl_tf.tasks import classification
from cvrl_tf.tasks import knn_eval
from cvrl_tf.tasks import pretrain
from cvrl_tf.tasks import tclr_pretrain
from cvrl_tf.tasks import vicc_pretrain
from cvrl_tf.training import larc
