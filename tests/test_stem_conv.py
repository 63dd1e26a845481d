"""The stem's 2D-convolution form against Keras' Conv3D."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from cvrl_tf.modeling import stem_conv


@pytest.mark.parametrize('frames,kernel,stride,size', [
    (8, 5, 2, 32),   # the toy preset's stem
    (7, 5, 2, 33),   # odd sizes: uneven 'same' padding in time and space
    (1, 5, 2, 16),   # single-frame clips (the image baseline)
    (4, 3, 1, 17),
])
def test_matches_conv3d_values_and_gradients(frames, kernel, stride, size):
  clips = tf.random.uniform([2, frames, size, size, 3], seed=3)
  fast = stem_conv.StemConv3D(8, [kernel, 7, 7], strides=[stride, 2, 2],
                              padding='same', use_bias=False)
  reference = tf_keras.layers.Conv3D(8, [kernel, 7, 7],
                                     strides=[stride, 2, 2], padding='same',
                                     use_bias=False)
  fast(clips)
  reference(clips)
  reference.set_weights(fast.get_weights())
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(clips)
    fast_out, reference_out = fast(clips), reference(clips)
    fast_loss = tf.reduce_sum(fast_out**2)
    reference_loss = tf.reduce_sum(reference_out**2)
  assert fast_out.shape == reference_out.shape
  # Both sum 735-1715 float32 products in different orders; allow rounding
  # relative to the output's scale, as for the gradients below.
  np.testing.assert_allclose(fast_out, reference_out, rtol=0,
                             atol=1e-5 * np.abs(reference_out).max())
  for fast_grad, reference_grad in zip(
      tape.gradient(fast_loss, [fast.kernel, clips]),
      tape.gradient(reference_loss, [reference.kernel, clips])):
    scale = np.abs(reference_grad).max()
    np.testing.assert_allclose(fast_grad, reference_grad, rtol=0,
                               atol=1e-5 * scale)


def test_stacked_frames_by_brute_force():
  clips = np.arange(2 * 5 * 2 * 2 * 3, dtype=np.float32).reshape(
      2, 5, 2, 2, 3)
  stacked = stem_conv.stacked_frames(tf.constant(clips), 3, 2).numpy()
  # 'same' padding of 5 frames, kernel 3, stride 2: 3 outputs, 1 frame of
  # zeros before and 1 after.
  padded = np.concatenate([np.zeros_like(clips[:, :1]), clips,
                           np.zeros_like(clips[:, :1])], 1)
  expected = np.stack([
      np.concatenate([padded[b, 2 * t + i] for i in range(3)], -1)
      for b in range(2) for t in range(3)])
  np.testing.assert_array_equal(stacked, expected)


def test_same_padding_matches_tensorflow():
  for size, kernel, stride in [(8, 5, 2), (7, 5, 2), (1, 5, 2), (4, 3, 1),
                               (16, 5, 2), (9, 7, 3)]:
    before, after = stem_conv.same_padding(size, kernel, stride)
    ones = tf.ones([1, size, 1])
    tf_out = tf.nn.conv1d(ones, tf.ones([kernel, 1, 1]), stride, 'SAME')
    padded = np.pad(np.ones(size), (before, after))
    ours = [padded[t * stride:t * stride + kernel].sum()
            for t in range(-(-size // stride))]
    np.testing.assert_array_equal(tf_out.numpy().ravel(), ours)
