"""Backbones and models; importing registers `r3d` and the `cvrl` model."""
from cvrl_tf.modeling import r3d
from cvrl_tf.modeling import cvrl_model
