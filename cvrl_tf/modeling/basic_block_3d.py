"""The 3D basic residual block of R3D-18/34 (Model Garden has bottlenecks)."""
import tf_keras

from official.modeling import tf_utils
from official.vision.modeling.layers import nn_blocks_3d
from official.vision.modeling.layers import nn_layers

from cvrl_tf.modeling.dilated_conv_3d import TemporallyDilatedConv3D


@tf_keras.utils.register_keras_serializable(package='cvrl_tf')
class BasicBlock3D(tf_keras.layers.Layer):
  """Two 3x3 spatial convolutions, the first one also temporal.

  The first convolution has kernel [temporal_kernel_size, 3, 3] and does all
  the striding, the second is [second_temporal_kernel_size, 3, 3] (1 in
  CVRL's slow pathway, 3 in torchvision's `r3d_18`). This is the basic-block
  counterpart of `nn_blocks_3d.BottleneckBlock3D` and takes the same
  arguments, so the `ResNet3D` block-group code drives both.
  """

  def __init__(self,
               filters: int,
               temporal_kernel_size: int,
               temporal_strides: int,
               spatial_strides: int,
               stochastic_depth_drop_rate: float = 0.0,
               se_ratio=None,
               use_self_gating: bool = False,
               kernel_initializer='VarianceScaling',
               kernel_regularizer=None,
               bias_regularizer=None,
               activation: str = 'relu',
               use_sync_bn: bool = False,
               norm_momentum: float = 0.99,
               norm_epsilon: float = 0.001,
               temporal_dilation: int = 1,
               second_temporal_kernel_size: int = 1,
               **kwargs):
    """Initializes the block; see `BottleneckBlock3D` for the arguments.

    Args:
      filters: output channels of both convolutions.
      temporal_kernel_size: temporal extent of the first convolution.
      temporal_strides: temporal stride of the block.
      spatial_strides: spatial stride of the block.
      stochastic_depth_drop_rate: drop rate of the residual branch.
      se_ratio: squeeze-and-excitation ratio in (0, 1], or None.
      use_self_gating: whether to apply S3D-G self-gating.
      kernel_initializer: initializer of the convolution kernels.
      kernel_regularizer: regularizer of the convolution kernels.
      bias_regularizer: regularizer of the (SE) biases.
      activation: activation name.
      use_sync_bn: whether BatchNorm is synchronised across replicas.
      norm_momentum: BatchNorm moving-average momentum.
      norm_epsilon: BatchNorm epsilon.
      temporal_dilation: temporal dilation of the first convolution, whose
        temporal stride must then be 1 (TCLR's layer4, `model.py`
        `build_r3d_backbone`).
      second_temporal_kernel_size: temporal extent of the second
        convolution.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    super().__init__(**kwargs)
    self._config = dict(
        filters=filters,
        temporal_kernel_size=temporal_kernel_size,
        temporal_strides=temporal_strides,
        spatial_strides=spatial_strides,
        stochastic_depth_drop_rate=stochastic_depth_drop_rate,
        se_ratio=se_ratio,
        use_self_gating=use_self_gating,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        bias_regularizer=bias_regularizer,
        activation=activation,
        use_sync_bn=use_sync_bn,
        norm_momentum=norm_momentum,
        norm_epsilon=norm_epsilon,
        temporal_dilation=temporal_dilation,
        second_temporal_kernel_size=second_temporal_kernel_size)
    self._strides = [temporal_strides, spatial_strides, spatial_strides]
    self._activation_fn = tf_utils.get_activation(activation)

  def _conv(self, kernel_size, strides, temporal_dilation=1):
    c = self._config
    conv_args = dict(
        filters=c['filters'],
        kernel_size=kernel_size,
        strides=strides,
        padding='same',
        use_bias=False,
        kernel_initializer=tf_utils.clone_initializer(c['kernel_initializer']),
        kernel_regularizer=c['kernel_regularizer'],
        bias_regularizer=c['bias_regularizer'])
    if temporal_dilation > 1:
      return TemporallyDilatedConv3D(temporal_dilation, **conv_args)
    return tf_keras.layers.Conv3D(**conv_args)

  def _norm(self):
    c = self._config
    return tf_keras.layers.BatchNormalization(
        axis=-1,
        momentum=c['norm_momentum'],
        epsilon=c['norm_epsilon'],
        synchronized=c['use_sync_bn'])

  def build(self, input_shape):
    c = self._config
    in_filters = input_shape[-1]
    self._needs_projection = in_filters != c['filters']
    if self._needs_projection:
      self._shortcut_conv = self._conv(1, self._strides)
      self._norm0 = self._norm()
    else:
      # Same width but strided: subsample the identity like BottleneckBlock3D.
      self._shortcut_maxpool = tf_keras.layers.MaxPool3D(
          pool_size=1, strides=self._strides)

    self._conv1 = self._conv([c['temporal_kernel_size'], 3, 3], self._strides,
                             c['temporal_dilation'])
    self._norm1 = self._norm()
    self._conv2 = self._conv([c['second_temporal_kernel_size'], 3, 3], 1)
    self._norm2 = self._norm()

    self._squeeze_excitation = None
    if c['se_ratio'] and 0 < c['se_ratio'] <= 1:
      self._squeeze_excitation = nn_layers.SqueezeExcitation(
          in_filters=c['filters'],
          out_filters=c['filters'],
          se_ratio=c['se_ratio'],
          use_3d_input=True,
          kernel_initializer=tf_utils.clone_initializer(
              c['kernel_initializer']),
          kernel_regularizer=c['kernel_regularizer'],
          bias_regularizer=c['bias_regularizer'])
    self._self_gating = (
        nn_blocks_3d.SelfGating(filters=c['filters'])
        if c['use_self_gating'] else None)
    self._stochastic_depth = (
        nn_layers.StochasticDepth(c['stochastic_depth_drop_rate'])
        if c['stochastic_depth_drop_rate'] else None)
    super().build(input_shape)

  def call(self, inputs, training=None):
    """Maps [B, T, H, W, C_in] to [B, T/ts, H/ss, W/ss, filters]."""
    if self._needs_projection:
      shortcut = self._norm0(self._shortcut_conv(inputs))
    elif self._strides == [1, 1, 1]:
      shortcut = inputs
    else:
      shortcut = self._shortcut_maxpool(inputs)

    x = self._activation_fn(self._norm1(self._conv1(inputs)))
    x = self._norm2(self._conv2(x))

    if self._self_gating:
      x = self._self_gating(x)
    if self._squeeze_excitation:
      x = self._squeeze_excitation(x)
    if self._stochastic_depth:
      x = self._stochastic_depth(x, training=training)
    return self._activation_fn(x + shortcut)

  def get_config(self):
    return {**super().get_config(), **self._config}
