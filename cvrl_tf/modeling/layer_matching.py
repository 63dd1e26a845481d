"""Pairs the convolutions and BatchNorms of two ResNets, for inflation.

Layers are matched by structure, not by name: the stem and every residual
block of both networks must hold the same sequence of convolutions and
BatchNorms, with the same spatial kernels, strides, padding and channels.
The first layer that does not match raises an error that names it in both
networks and says what differs.
"""
import dataclasses
import itertools
from typing import List, Optional, Sequence, Tuple

import tf_keras

CONV_TYPES = (tf_keras.layers.Conv2D, tf_keras.layers.Conv3D)
NORM_TYPE = tf_keras.layers.BatchNormalization


class InflationError(ValueError):
  """The source network's layers do not map onto the R3D's."""


@dataclasses.dataclass
class _Group:
  """The conv / BatchNorm layers of the stem or of one residual block."""
  name: str
  layers: List[tf_keras.layers.Layer]


def _sublayers(layer: tf_keras.layers.Layer, include_self: bool):
  """`layer`'s nested layers in creation order (Keras tracks no other way)."""
  return list(layer._flatten_layers(  # pylint: disable=protected-access
      include_self=include_self, recursive=True))


def _leaf_layers(layer: tf_keras.layers.Layer) -> List[tf_keras.layers.Layer]:
  """Conv and BatchNorm layers with weights in `layer`, in creation order.

  Creation order is the order of use in the blocks here (shortcut, then the
  residual branch), for Model Garden's 2D and 3D blocks and `BasicBlock3D`.
  Layers created but never called (an unused shortcut) have no weights.
  """
  found = []
  for sub in _sublayers(layer, include_self=True):
    if not sub.weights or _sublayers(sub, include_self=False):
      continue
    if not isinstance(sub, CONV_TYPES + (NORM_TYPE,)):
      raise InflationError(
          f'{type(sub).__name__} {sub.name!r} in {layer.name!r} has weights '
          'but is neither a convolution nor a BatchNorm; cannot inflate it.')
    found.append(sub)
  return found


def _groups(backbone: tf_keras.Model, specs) -> List[_Group]:
  """The stem and the blocks res2 block 0 ... res5 block n, with layers."""
  stem, blocks = [], []
  for layer in backbone.layers:
    if not layer.weights:
      continue
    if isinstance(layer, CONV_TYPES + (NORM_TYPE,)) and not blocks:
      stem.append(layer)
    else:
      blocks.append(layer)
  names = [f'res{stage + 2} block {i}'
           for stage, (_, _, repeats) in enumerate(specs)
           for i in range(repeats)]
  if len(names) != len(blocks):
    raise InflationError(
        f'{backbone.name!r} has {len(blocks)} blocks, its depth specifies '
        f'{len(names)}.')
  return [_Group('stem', stem)] + [
      _Group(name, _leaf_layers(block)) for name, block in zip(names, blocks)]


def _describe(layer: tf_keras.layers.Layer) -> str:
  shape = (layer.kernel if isinstance(layer, CONV_TYPES)
           else layer.weights[0]).shape.as_list()
  return f'{type(layer).__name__} {layer.name!r} {shape}'


def _spatial(values: Sequence) -> Tuple:
  """The last two entries (height, width) of a 2D or 3D conv attribute."""
  return tuple(values)[-2:]


def _conv_mismatch(source, target) -> Optional[str]:
  """Why conv `source` cannot be inflated into Conv3D `target`, or None."""
  if not isinstance(target, tf_keras.layers.Conv3D):
    return 'a convolution faces a non-3D convolution'
  if isinstance(source, tf_keras.layers.Conv3D):
    if source.kernel.shape[0] > 1 and source.padding != 'same':
      return ("a single-frame source needs 'same' temporal padding, got "
              f'{source.padding!r}')
  if (source.kernel.shape[-4:].as_list() !=
      target.kernel.shape[-4:].as_list()):
    return 'kernel shapes (spatial size, channels) differ'
  if _spatial(source.strides) != _spatial(target.strides):
    return (f'spatial strides differ: {_spatial(source.strides)} vs '
            f'{_spatial(target.strides)}')
  if _spatial(source.dilation_rate) != _spatial(target.dilation_rate):
    return 'spatial dilation rates differ'
  # A 1x1 kernel never reads padding, whatever the stride.
  if (source.padding != target.padding and
      _spatial(target.kernel_size) != (1, 1)):
    return f'padding differs: {source.padding!r} vs {target.padding!r}'
  if source.use_bias != target.use_bias:
    return 'one has a bias, the other not'
  return None


def _mismatch(source, target) -> Optional[str]:
  """Why layer `source` cannot be copied into `target`, or None."""
  if source is None or target is None:
    return 'the networks differ in structure here'
  if isinstance(source, CONV_TYPES):
    return _conv_mismatch(source, target)
  if not isinstance(target, NORM_TYPE):
    return 'a BatchNorm faces another layer type'
  if ([w.shape for w in source.weights] != [w.shape for w in target.weights]):
    return 'BatchNorm parameter shapes differ'
  return None


def _at(label: str, group: _Group, index: int, layer) -> str:
  if layer is None:
    return f'no {label} layer'
  return f'{label} {group.name} layer {index} ({_describe(layer)})'


def match_layers(source: tf_keras.Model, source_specs,
                 target: tf_keras.Model, target_specs, source_label: str):
  """Pairs (source, target) layers; raises at the first that does not match."""
  pairs = []
  for source_group, target_group in itertools.zip_longest(
      _groups(source, source_specs), _groups(target, target_specs),
      fillvalue=_Group('', [])):
    for i, (s, t) in enumerate(itertools.zip_longest(source_group.layers,
                                                     target_group.layers)):
      problem = ('the networks differ in depth'
                 if source_group.name != target_group.name
                 else _mismatch(s, t))
      if not problem:
        pairs.append((s, t))
        continue
      counts = ''
      if (source_group.name == target_group.name and
          len(source_group.layers) != len(target_group.layers)):
        counts = (f' The {source_label} {source_group.name} has '
                  f'{len(source_group.layers)} conv/BN layers, the R3D '
                  f'{target_group.name} has {len(target_group.layers)}.')
      raise InflationError(
          f'{_at(source_label, source_group, i, s)} does not match '
          f'{_at("R3D", target_group, i, t)}: {problem}.{counts}')
  return pairs
