"""SimCLR colour distortion organised for the host CPU.

`distort_colors_cpu` computes `color_ops.distort_colors` with the random
branches taken outside compiled code, so that each draw runs only its own
operations, grouped into a few XLA-fused loops over the clip
(`fused_blocks`). It matches `distort_colors` up to float32 rounding.

AutoGraph is off here: every branch is on Python values (operation numbers,
shapes), so converting the functions of the 48 draws' branches would give
the same graph, at the cost of re-parsing their source in every process
that builds a pipeline.
"""
import itertools
from typing import List, Sequence, Tuple

import tensorflow as tf

from cvrl_tf.ops import color_ops

# Grayscale conversion, numbered after the jitter operations in a block.
GRAYSCALE = 4
_MIXES_CHANNELS = (color_ops.SATURATION, color_ops.HUE, GRAYSCALE)
_SATURATION_AND_HUE = {color_ops.SATURATION, color_ops.HUE}


def fused_blocks(ops: Sequence[int]) -> List[Tuple[int, ...]]:
  """Splits a sequence of colour operations into runs compiled together.

  XLA fuses a run of elementwise operations into a few loops over the clip,
  so a run costs about one pass over memory whatever its length, unless it
  recomputes work: an operation that mixes a pixel's channels (saturation,
  hue, grayscale) evaluates everything before it once per channel it reads,
  and the mean of contrast evaluates everything before it once more. Each
  run therefore holds at most one channel-mixing operation, with saturation
  and hue next to each other counted as one (`adjust_saturation_and_hue`),
  and no contrast after it. On CPU, for a 16 x 224 x 224 clip, this takes
  ~30% less time than one compiled call per operation, where whole orders
  in one call are up to 4x slower.

  Args:
    ops: operation numbers, `color_ops.BRIGHTNESS` to `color_ops.HUE` and
      `GRAYSCALE`.

  Returns:
    The runs, in order.
  """
  blocks, block, mixed = [], [], False
  for op in ops:
    merges = bool(block) and {op, block[-1]} == _SATURATION_AND_HUE
    if block and mixed and not merges and (
        op in _MIXES_CHANNELS or op == color_ops.CONTRAST):
      blocks.append(tuple(block))
      block, mixed = [], False
    block.append(op)
    mixed = mixed or op in _MIXES_CHANNELS
  if block:
    blocks.append(tuple(block))
  return blocks


def _apply_block(frames: tf.Tensor, factors: color_ops.Params,
                 scale: tf.Tensor, ops: Tuple[int, ...],
                 contrast_over_clip: bool) -> tf.Tensor:
  """`frames * scale`, then the operations `ops` with `factors`."""
  # XLA writes out the input of a reduction it cannot fuse with: a leading
  # contrast takes the mean of the unscaled input, which is in memory.
  first_mean = (color_ops.channel_means(frames, contrast_over_clip) * scale
                if ops and ops[0] == color_ops.CONTRAST else None)
  jitter_ops = color_ops.jitter_ops(contrast_over_clip)
  frames = frames * scale
  i = 0
  while i < len(ops):
    if set(ops[i:i + 2]) == _SATURATION_AND_HUE:
      frames = color_ops.adjust_saturation_and_hue(
          frames, factors['saturation'], factors['hue'])
      i += 2
      continue
    if ops[i] == GRAYSCALE:
      frames = color_ops.to_grayscale(frames)
    elif i == 0 and first_mean is not None:
      frames = color_ops.adjust_contrast(frames, factors['contrast'],
                                         first_mean)
    else:
      key = color_ops.JITTER_PARAMS[ops[i]]
      frames = jitter_ops[ops[i]](frames, factors[key])
    i += 1
  return frames


_compiled_blocks = {}


def _compiled_block(ops: Tuple[int, ...], contrast_over_clip: bool):
  """`_apply_block` for `ops`, compiled with XLA (once per clip shape)."""
  key = (ops, contrast_over_clip)
  if key not in _compiled_blocks:
    _compiled_blocks[key] = tf.function(
        lambda frames, factors, scale: _apply_block(
            frames, factors, scale, ops, contrast_over_clip),
        jit_compile=True, autograph=False)
  return _compiled_blocks[key]


_ORDERS = tuple(itertools.permutations(range(4)))


def _order_index(order: tf.Tensor) -> tf.Tensor:
  """Index of the permutation `order` (int32 [4]) in `_ORDERS`."""
  matches = tf.reduce_all(tf.equal(tf.constant(_ORDERS, tf.int32),
                                   tf.cast(order, tf.int32)), axis=1)
  return tf.argmax(tf.cast(matches, tf.int32), output_type=tf.int32)


@tf.autograph.experimental.do_not_convert
def distort_colors_cpu(frames: tf.Tensor, params: color_ops.Params,
                       scale: float = 1.0,
                       contrast_over_clip: bool = False) -> tf.Tensor:
  """`color_ops.distort_colors(frames * scale, params, contrast_over_clip)`,
  organised for CPU.

  Branches are taken outside XLA, so that each draw runs only its own
  operations, fused into the runs of `fused_blocks` (compiled functions);
  the first one also applies `scale`. Equal to `distort_colors` up to
  float32 rounding.

  Args:
    frames: float32 [N, H, W, 3] in [0, 1 / scale].
    params: output of `color_ops.sample_photometric_params`.
    scale: factor that maps `frames` to [0, 1].
    contrast_over_clip: see `color_ops.jitter`.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  factors = {key: params[key] for key in color_ops.JITTER_PARAMS}

  def run(ops):
    blocks = fused_blocks(ops)
    if not blocks:
      return frames * scale if scale != 1.0 else frames
    # Later blocks multiply by 1, exactly, rather than compiling twice.
    x = _compiled_block(blocks[0], contrast_over_clip)(
        frames, factors, tf.constant(scale))
    for block in blocks[1:]:
      x = _compiled_block(block, contrast_over_clip)(
          x, factors, tf.constant(1.0))
    return x

  def colour(gray):
    tail = [GRAYSCALE] if gray else []
    jittered = lambda: tf.switch_case(
        _order_index(params['order']),
        [lambda order=order: run(list(order) + tail) for order in _ORDERS])
    return tf.cond(params['jitter'], jittered, lambda: run(tail))

  return tf.cond(params['grayscale'], lambda: colour(True),
                 lambda: colour(False))
