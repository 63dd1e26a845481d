"""The training input pipeline's views of a few videos, as one picture.

`augmented_views` takes the first batch of an experiment's own training
pipeline (`video_input.build_dataset` on `task.train_data`, only the batch
size changed) and, if the config augments on the device, finishes the
views as the pretraining train step does. `augmentation_grid` draws them:
a row per video and view, the clip's frames left to right. This is the
check of an augmentation config before a long run.
"""
from typing import List, Tuple

import numpy as np
import tensorflow as tf

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.dataloaders import video_input
from cvrl_tf.ops import device_augmentation
from cvrl_tf.visualization import pictures


def augmented_views(data_config: data_cfg.DataConfig, num_videos: int
                   ) -> Tuple[List[np.ndarray], List[str]]:
  """The views of the first `num_videos` videos of the training input.

  Args:
    data_config: a training input config (`is_training`); SSL configs give
      two views per video, supervised ones one clip.
    num_videos: videos to take (the batch size of the pipeline).

  Returns:
    (views, video_ids): one uint8 [N, T, H, W, 3] array per view, in view
    order, and the N video ids.
  """
  if not data_config.is_training:
    raise ValueError('augmented_views needs a training input config.')
  if num_videos < 1:
    raise ValueError(f'num_videos must be positive, got {num_videos}.')
  data_config = data_config.replace(global_batch_size=num_videos,
                                    output_video_id=True)
  features, _ = next(iter(video_input.build_dataset(data_config)))
  images = device_augmentation.model_views(features, data_config)
  images = pictures.to_uint8(images, data_config.zero_centering_image)
  num_views = 2 if data_config.is_ssl else 1
  views = [view.numpy() for view in tf.split(images, num_views, axis=0)]
  ids = [i.decode() for i in features['video_id'].numpy()]
  return views, ids


def augmentation_grid(views: List[np.ndarray],
                      video_ids: List[str]) -> np.ndarray:
  """A picture with a row per video and view: [H, W, 3] uint8.

  Row 2i + v shows view v + 1 of video i when there are two views.
  """
  cells, titles = [], []
  for i, video_id in enumerate(video_ids):
    for v, view in enumerate(views):
      cells.append([pictures.Cell(view[i])])
      titles.append(f'{video_id}\nview {v + 1}' if len(views) > 1
                    else video_id)
  return pictures.render_grid(cells, row_titles=titles)[0]


def write_augmentation_grid(data_config: data_cfg.DataConfig,
                            num_videos: int, output: str) -> np.ndarray:
  """Writes the picture of `augmented_views` to `output` (PNG); returns it."""
  image = augmentation_grid(*augmented_views(data_config, num_videos))
  pictures.write_png(output, image)
  return image
