"""TensorBoard pictures of the views pretraining trains on.

The train step keeps the two views of the first few videos of its batch in
a variable (`KeptViews.keep`: a slice and a copy, in the views' own dtype,
as not every accelerator has uint8 variables; no summary op runs in the
step). At the end of a train loop, the trainer
writes the kept views, those of the loop's last batch, as images, one per
video with view 1 above view 2 as frame strips (`pictures.view_pair_images`),
when orbit records summaries, i.e. every `trainer.summary_interval` steps.
"""
import tensorflow as tf

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.visualization import pictures

SUMMARY_NAME = 'augmented_views'


class KeptViews:
  """The views of the first videos of the latest training batch.

  A replica keeps those of its own batch, in a variable of its own; the
  summary shows the first replica's.
  """

  def __init__(self, num_videos: int, data_config: data_cfg.DataConfig):
    """Creates the variable; create it under the training strategy's scope.

    Args:
      num_videos: videos to keep, at most the per-replica batch size.
      data_config: the SSL training input config.
    """
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    self.num_videos = min(num_videos,
                          data_config.global_batch_size // num_replicas)
    self._zero_centered = data_config.zero_centering_image
    self._views = tf.Variable(
        tf.zeros([2, self.num_videos, *data_config.feature_shape],
                 tf.dtypes.as_dtype(data_config.dtype)),
        trainable=False, name='kept_views',
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  def keep(self, images: tf.Tensor) -> None:
    """Keeps views of a replica's [2B, T, H, W, 3] batch (rows B: view 2)."""
    half = tf.shape(images)[0] // 2
    views = tf.stack([images[:self.num_videos],
                      images[half:half + self.num_videos]])
    self._views.assign(tf.cast(views, self._views.dtype))

  def views(self) -> tf.Tensor:
    """uint8 [2, N, T, H, W, 3]: view 1 and view 2 of N videos."""
    return pictures.to_uint8(tf.convert_to_tensor(self._views),
                             self._zero_centered)

  def write_summary(self, step: tf.Variable) -> None:
    """Writes the kept views as images at `step` if summaries are recorded.

    Call it eagerly, under a default summary writer (orbit's, whose
    `summary_interval` decides whether summaries are recorded).
    """
    if not tf.summary.should_record_summaries():
      return
    views = self.views().numpy()
    tf.summary.image(SUMMARY_NAME, pictures.view_pair_images(*views),
                     step=step, max_outputs=self.num_videos)
