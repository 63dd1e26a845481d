"""Input specs of the clip models, shared by the tasks and the tools."""
import tf_keras


def model_input_specs(feature_shape) -> tf_keras.layers.InputSpec:
  """Batch-agnostic input spec for clips of `feature_shape` (T, H, W, C)."""
  return tf_keras.layers.InputSpec(shape=[None] + list(feature_shape))


def common_feature_shape(train_data, validation_data):
  """(T, H, W, C) with None where training and validation clips differ."""
  return [a if a == b else None for a, b in zip(train_data.feature_shape,
                                                validation_data.feature_shape)]
