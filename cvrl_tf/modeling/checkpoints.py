"""Loads a pretrained backbone and refuses checkpoints that do not match."""
import os
import tempfile

from absl import logging
import tensorflow as tf
import tf_keras


class CheckpointMismatchError(ValueError):
  """The checkpoint lacks variables of the model, or has other shapes."""


def resolve_checkpoint(path: str) -> str:
  """A checkpoint prefix from a prefix or a directory (local or gs://)."""
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if not latest:
      raise FileNotFoundError(f'No checkpoint in directory {path!r}.')
    return latest
  return path


def _variable_shapes(path: str, root: str):
  """{key: shape} of the variables under object `root` in a checkpoint."""
  return {name: shape for name, shape in tf.train.list_variables(path)
          if name.startswith(root + '/')
          and name.endswith('.ATTRIBUTES/VARIABLE_VALUE')}


def expected_variable_shapes(module: tf.Module, root: str):
  """{key: shape} a checkpoint must hold to restore `module` under `root`."""
  with tempfile.TemporaryDirectory() as scratch:
    saved = tf.train.Checkpoint(**{root: module}).write(
        os.path.join(scratch, 'ckpt'))
    return _variable_shapes(saved, root)


def load_backbone(backbone: tf_keras.Model, checkpoint_path: str,
                  root: str = 'backbone') -> str:
  """Restores `backbone` from a checkpoint written with a `root` item.

  Checkpoints of this package's trainer and of Model Garden's video_ssl
  store the backbone under `backbone/`.

  Args:
    backbone: the built model to restore into.
    checkpoint_path: a checkpoint prefix or a directory (latest is used).
    root: the checkpoint item the backbone was saved under.

  Returns:
    The checkpoint prefix that was loaded.

  Raises:
    CheckpointMismatchError: naming variables that are missing from the
      checkpoint or whose shapes differ.
  """
  path = resolve_checkpoint(checkpoint_path)
  expected = expected_variable_shapes(backbone, root)
  found = _variable_shapes(path, root)
  missing = sorted(set(expected) - set(found))
  wrong_shape = sorted(k for k in set(expected) & set(found)
                       if list(expected[k]) != list(found[k]))
  if missing or wrong_shape:
    def names(keys):
      shown = ', '.join(k.split('/.ATTRIBUTES')[0] for k in keys[:5])
      return shown + (f' and {len(keys) - 5} more' if len(keys) > 5 else '')
    problems = []
    if missing:
      problems.append(f'{len(missing)} of {len(expected)} backbone variables '
                      f'missing ({names(missing)})')
    if wrong_shape:
      problems.append(f'{len(wrong_shape)} with other shapes '
                      f'({names(wrong_shape)})')
    raise CheckpointMismatchError(
        f'Checkpoint {path} does not match the backbone: '
        + '; '.join(problems) + '. Check the backbone config.')
  tf.train.Checkpoint(**{root: backbone}).read(path).expect_partial()
  logging.info('Loaded %d backbone variables from %s.', len(expected), path)
  return path


def initialize_backbone(task_config, model: tf_keras.Model) -> None:
  """Loads `init_checkpoint` into the backbone (or everything), strictly."""
  if not task_config.init_checkpoint:
    return
  if task_config.init_checkpoint_modules == 'backbone':
    load_backbone(model.backbone, task_config.init_checkpoint)
  elif task_config.init_checkpoint_modules == 'all':
    path = resolve_checkpoint(task_config.init_checkpoint)
    tf.train.Checkpoint(model=model).read(path).assert_existing_objects_matched()
  else:
    raise ValueError('init_checkpoint_modules must be "backbone" or "all", '
                     f'got {task_config.init_checkpoint_modules!r}.')
