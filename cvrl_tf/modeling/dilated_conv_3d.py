"""A 3D convolution with temporal dilation and spatial stride together.

Keras' `Conv3D` refuses strides > 1 with a dilation > 1. TCLR's R3D-18
(github.com/DAVEISHAN/TCLR, `tclr_pretraining/model.py`,
`build_r3d_backbone`) replaces the temporal stride of layer4's first
convolution by a temporal dilation of 2 while keeping its spatial stride 2:
`Conv3d(256, 512, kernel_size=(3, 3, 3), stride=(1, 2, 2), padding=(2, 1, 1),
dilation=(2, 1, 1))`. A 'same' convolution with odd temporal kernel k and
dilation d reads frames t + d j, |j| <= (k - 1) / 2, which all lie in the
phase t mod d: it is the undilated 'same' convolution of each phase
x[:, p::d], interleaved back, and that one may stride in space.
"""
import tensorflow as tf
import tf_keras


@tf_keras.utils.register_keras_serializable(package='cvrl_tf')
class TemporallyDilatedConv3D(tf_keras.layers.Conv3D):
  """`Conv3D` ('same' padding, temporal stride 1) dilated in time.

  Its variables are a plain `Conv3D`'s. Takes [B, T, H, W, C] and returns
  [B, T, H', W', filters].
  """

  def __init__(self, temporal_dilation: int, **kwargs):
    """Initializes the layer.

    Args:
      temporal_dilation: dilation d >= 1 of the temporal kernel, which must
        be odd.
      **kwargs: `Conv3D` arguments, with 'same' padding, temporal stride 1 and
        no `dilation_rate`.
    """
    super().__init__(**kwargs)
    if (self.padding != 'same' or self.strides[0] != 1 or
        self.kernel_size[0] % 2 == 0 or temporal_dilation < 1):
      raise ValueError(
          'TemporallyDilatedConv3D needs padding "same", temporal stride 1, '
          'an odd temporal kernel and a dilation >= 1.')
    self.temporal_dilation = temporal_dilation

  def convolution_op(self, inputs, kernel):
    dilation = self.temporal_dilation
    if dilation == 1:
      return super().convolution_op(inputs, kernel)
    num_frames = tf.shape(inputs)[1]
    phase_length = (num_frames + dilation - 1) // dilation
    phases = []
    for phase in range(dilation):
      outputs = super().convolution_op(inputs[:, phase::dilation], kernel)
      pad = phase_length - tf.shape(outputs)[1]
      phases.append(tf.pad(outputs, [[0, 0], [0, pad], [0, 0], [0, 0],
                                     [0, 0]]))
    # [B, T / d, d, H', W', F]: frame t is phase t mod d, step t // d.
    interleaved = tf.stack(phases, axis=2)
    shape = tf.shape(interleaved)
    interleaved = tf.reshape(
        interleaved, tf.concat([[shape[0], phase_length * dilation],
                                shape[3:]], 0))
    return interleaved[:, :num_frames]

  def get_config(self):
    return {**super().get_config(), 'temporal_dilation': self.temporal_dilation}
