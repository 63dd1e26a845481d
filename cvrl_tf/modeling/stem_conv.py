"""The R3D stem convolution, computed as a 2D convolution on CPU hosts.

The stem's 5x7x7 convolution of RGB clips is the most expensive layer of a
small R3D: TensorFlow's CPU Conv3D kernels run it (forward and filter
gradient) ~2.3x slower than the 2D kernels run the same arithmetic. Each
output frame t of a convolution with temporal kernel kt and stride st reads
input frames [t * st, t * st + kt) of the time-padded clip, so stacking those
frames along channels gives a 2D convolution with kt * 3 input channels and
the kernel reshaped to match. The layer keeps Conv3D's variables, so
checkpoints and everything that inspects the layer are unchanged.
"""
import tensorflow as tf
import tf_keras


def _has_accelerator() -> bool:
  return bool(tf.config.list_logical_devices('GPU') or
              tf.config.list_logical_devices('TPU'))


def same_output_size(size: int, stride: int) -> int:
  """Length of one dimension after a 'same' convolution: ceil(size / stride)."""
  return -(-size // stride)


def same_padding(size: int, kernel: int, stride: int):
  """(before, after) 'same' padding of one dimension, as TensorFlow pads."""
  output = same_output_size(size, stride)
  total = max((output - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def stacked_frames(clips: tf.Tensor, kernel: int, stride: int) -> tf.Tensor:
  """Each output frame's temporal window, stacked along channels.

  Args:
    clips: [B, T, H, W, C] with static T and C.
    kernel: temporal kernel size kt.
    stride: temporal stride st.

  Returns:
    [B * T', H, W, kt * C], T' = ceil(T / st), window frames in time order
    (out-of-range frames are zeros, as 'same' padding gives).
  """
  num_frames, channels = clips.shape[1], clips.shape[4]
  before, after = same_padding(num_frames, kernel, stride)
  padded = tf.pad(clips, [[0, 0], [before, after], [0, 0], [0, 0], [0, 0]])
  windows = [padded[:, t * stride:t * stride + kernel]
             for t in range(same_output_size(num_frames, stride))]
  # [B, T', kt, H, W, C] -> [B, T', H, W, kt, C]
  stacked = tf.transpose(tf.stack(windows, 1), [0, 1, 3, 4, 2, 5])
  shape = tf.shape(clips)
  return tf.reshape(stacked,
                    [-1, shape[2], shape[3], kernel * channels])


@tf_keras.utils.register_keras_serializable(package='cvrl_tf')
class StemConv3D(tf_keras.layers.Conv3D):
  """`Conv3D` that runs as a 2D convolution on hosts without GPU or TPU.

  Only 'same' padding without dilation takes the 2D form (the stem's).
  Takes [B, T, H, W, C] and returns [B, ceil(T / st), H', W', filters], the
  values of `Conv3D` up to float32 rounding of the summation order.
  """

  def convolution_op(self, inputs, kernel):
    if (_has_accelerator() or self.padding != 'same' or
        any(d != 1 for d in self.dilation_rate) or
        inputs.shape[1] is None or inputs.shape[4] is None):
      return super().convolution_op(inputs, kernel)
    kt, kh, kw, channels, filters = kernel.shape
    st, sh, sw = self.strides
    frames = stacked_frames(inputs, kt, st)
    kernel_2d = tf.reshape(tf.transpose(kernel, [1, 2, 0, 3, 4]),
                           [kh, kw, kt * channels, filters])
    outputs = tf.nn.conv2d(frames, kernel_2d, [1, sh, sw, 1], 'SAME')
    shape = tf.shape(outputs)
    return tf.reshape(outputs, [-1, same_output_size(inputs.shape[1], st),
                                shape[1], shape[2], filters])
