"""A Model Garden video_ssl R3D-50 pretraining checkpoint starts our evals."""
import numpy as np
import tensorflow as tf
import tf_keras
from official.projects.video_ssl.configs import video_ssl as mg_cfg
from official.projects.video_ssl.modeling import video_ssl_model
from official.vision.configs import backbones_3d

from cvrl_tf.modeling import classifier
from cvrl_tf.tasks import classification
from tiny_experiments import tiny_classification

CLIP_SHAPE = [None, 4, 32, 32, 3]


def model_garden_video_ssl_model():
  """Model Garden's pretraining model with CVRL's R3D-50 block layout."""
  blocks = [backbones_3d.ResNet3DBlock(temporal_strides=1,
                                       temporal_kernel_sizes=(k,) * n,
                                       use_self_gating=False)
            for k, n in ((1, 3), (1, 4), (3, 6), (3, 3))]
  config = mg_cfg.VideoSSLModel()
  config.backbone.resnet_3d.block_specs = blocks
  config.backbone.resnet_3d.stem_pool_temporal_stride = 1
  config.norm_activation.norm_momentum = 0.9
  config.norm_activation.norm_epsilon = 1e-5
  return video_ssl_model.build_video_ssl_pretrain_model(
      tf_keras.layers.InputSpec(shape=CLIP_SHAPE), config, num_classes=1)


def test_video_ssl_trainer_checkpoint_initialises_linear_eval(tmp_path):
  mg_model = model_garden_video_ssl_model()
  clips = tf.random.stateless_uniform([2, 4, 32, 32, 3], seed=[1, 2])
  mg_model(clips, training=True)  # Non-trivial BatchNorm statistics.
  # The layout of Model Garden's trainer checkpoints: the model, plus its
  # checkpoint_items (the backbone) at the top level.
  path = tf.train.Checkpoint(model=mg_model, **mg_model.checkpoint_items
                             ).write(str(tmp_path / 'ckpt-1'))

  params = tiny_classification(
      'cvrl_linear_eval', 'unused', 'unused', init_checkpoint=path,
      backbone={'type': 'r3d', 'r3d': {'model_id': 50}})
  task = classification.ClassificationTask(params.task)
  model = task.build_model()
  task.initialize(model)

  ours = model.backbone(clips, training=False)
  theirs = mg_model.backbone(clips, training=False)
  for endpoint in ('2', '3', '4', '5'):
    np.testing.assert_allclose(ours[endpoint].numpy(),
                               theirs[endpoint].numpy(), atol=1e-5)
  assert isinstance(model, classifier.VideoClassifier)
