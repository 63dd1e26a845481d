"""kNN retrieval evaluation of a pretrained encoder (TCLR / ViCC protocol).

Validation videos query the training videos by cosine similarity of their
backbone features (views averaged, L2-normalised); reports Recall@k and
weighted kNN top-1. Runs on a checkpoint (`--mode=eval`) or on every new
checkpoint of a running pretraining job (`--mode=continuous_eval
--model_dir=<the pretraining model_dir>`), since the model is the
pretraining model.
"""
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf
import tf_keras
from official.core import base_task
from official.core import task_factory

from cvrl_tf.configs import evaluation as eval_cfg
from cvrl_tf.dataloaders import video_input
from cvrl_tf.evaluation import features as features_lib
from cvrl_tf.evaluation import multiview
from cvrl_tf.evaluation import retrieval
from cvrl_tf.evaluation import retrieval_features
from cvrl_tf.modeling import checkpoints
from cvrl_tf.modeling import cvrl_model
from cvrl_tf.modeling import input_specs


@task_factory.register_task_cls(eval_cfg.KnnEvalTask)
class KnnEvalTask(base_task.Task):
  """Evaluation-only task: kNN of validation videos among training videos."""

  def build_model(self) -> tf_keras.Model:
    config = self.task_config
    self._model = cvrl_model.build_cvrl_model(
        input_specs.model_input_specs(input_specs.common_feature_shape(
            config.train_data, config.validation_data)), config.model)
    return self._model

  def initialize(self, model: tf_keras.Model) -> None:
    checkpoints.initialize_backbone(self.task_config, model)

  def build_inputs(self, params, input_context=None) -> tf.data.Dataset:
    return video_input.build_dataset(params, input_context=input_context)

  def build_metrics(self, training: bool = True):
    del training
    return []

  def validation_step(self, inputs, model: tf_keras.Model,
                      metrics=None) -> Dict[str, Any]:
    features, labels = inputs
    embeddings = multiview.average_views(
        retrieval_features.clip_features(
            model, features['image'], self.task_config.retrieval_feature),
        features_lib.num_views(self.task_config.validation_data))
    return {'features': embeddings, 'labels': labels}

  def aggregate_logs(self, state=None, step_outputs=None):
    state = state or {'features': [], 'labels': []}
    for key in state:
      state[key].extend(np.asarray(t) for t in step_outputs[key])
    return state

  def reduce_aggregated_logs(self, aggregated_logs,
                             global_step: Optional[tf.Tensor] = None):
    test_features = np.concatenate(aggregated_logs['features'])
    test_labels = features_lib.label_indices(
        np.concatenate(aggregated_logs['labels']))
    _, train_labels, train_features = features_lib.encode_videos(
        retrieval_features.retrieval_encoder(
            self._model, self.task_config.retrieval_feature),
        self.task_config.train_data)
    return retrieval.knn_retrieval(
        train_features, train_labels, test_features, test_labels,
        ks=self.task_config.recall_ks, knn_k=self.task_config.knn_k)
