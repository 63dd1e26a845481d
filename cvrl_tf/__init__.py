"""CVRL: Spatiotemporal Contrastive Video Representation Learning in TF/Keras.

Importing the package registers its experiments with `exp_factory`, its
tasks with `task_factory` and its backbones and models with Model Garden's
factories. Processes that only decode videos (the converter's workers) set
`CVRL_TF_SKIP_REGISTRY=1` to stay free of TensorFlow.
"""
import os

SKIP_REGISTRY_ENV = 'CVRL_TF_SKIP_REGISTRY'

if not os.environ.get(SKIP_REGISTRY_ENV):
  from cvrl_tf import registry_imports  # pylint: disable=unused-import
