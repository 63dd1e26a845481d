"""TCLR's input pipeline: records -> sparse and dense clips -> batches.

The stages of `video_input.build_dataset` (record reading and checks,
bad-record skipping and reporting, per-video seeds, per-replica batching),
with TCLR's clip sampler as the parse stage (`TclrParser`):

  sample    `tclr_clip_sampling.sample_tclr_clip_indices`: one sparse clip
            and the dense clips tiling its span (TCLR: 16 frames at stride 4,
            and 4 x 16 frames at stride 1), mirror-padded;
  decode    only the crop window of each clip's frames;
  augment   each of the (1 + D) clips in each of the A augmentations with
            its own parameters: TCLR's augmentation
            (`tclr_augmentation.augment_clip`) or CVRL's temporally
            consistent one (`spatial_augmentation.augment_frames`), as
            `tclr_clips.augmentation` says.

Videos shorter than `tclr_clips.min_video_frames` are bad records: reported
with their file, video id and the running count, and dropped with
`skip_bad_records` (TCLR's `dl_tclr.py` drops them silently).

Batches (T, H, W from `feature_shape`, A augmentations, D dense clips):
  features['sparse_clips']  [B, A, T, H, W, 3]     augmentation a of the
                                                    sparse clip
  features['dense_clips']   [B, A, D, T, H, W, 3]  augmentation a of dense
                                                    clip c, c in temporal
                                                    order
  labels                    [B, 1] int32 class indices (-1: no label)
float in [0, 1] ([-1, 1] with `zero_centering_image`) cast to `dtype`; with
`skip_bad_records` also `skipped_records.SKIPPED_KEY` [B] and, with
`output_video_id`, 'video_id' [B].
"""
from typing import Optional, Tuple

import tensorflow as tf

from cvrl_tf.configs import tclr_data
from cvrl_tf.dataloaders import video_checks
from cvrl_tf.dataloaders import video_input
from cvrl_tf.dataloaders import video_parser
from cvrl_tf.ops import spatial_augmentation
from cvrl_tf.ops import tclr_augmentation
from cvrl_tf.ops import tclr_clip_sampling

Features = video_checks.Features


class TclrParser(video_parser.Parser):
  """Samples, decodes and augments a video's sparse and dense clips."""

  def __init__(self, params: tclr_data.TclrDataConfig):
    super().__init__(params)
    self._clips = params.tclr_clips
    tclr_data.validate_data(params)

  def takes_seed(self, is_training: bool) -> bool:
    del is_training  # Validation clips are random too, as TCLR's.
    return True

  def parse_fn(self, is_training: bool):
    del is_training
    return self.parse_clips

  def _augment(self, encoded: tf.Tensor, seed: tf.Tensor,
               augmentation: int) -> tf.Tensor:
    """One clip, string [T] -> float32 [T, H, W, 3] in [0, 1]."""
    if self._clips.augmentation == 'tclr':
      return tclr_augmentation.augment_clip(
          encoded, seed, self._output_size, self._clips.tclr_augmentation)
    return spatial_augmentation.augment_frames(
        encoded, seed, self._output_size, self._spatial,
        view=augmentation % 2)

  def parse_clips(self, decoded: Features,
                  seed: tf.Tensor) -> Tuple[Features, tf.Tensor]:
    """A video's clips: 'sparse_clips' [A, T, H, W, 3], 'dense_clips'
    [A, D, T, H, W, 3]; and its label [1]."""
    frames = decoded['frames']
    sample_seed, augment_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 2))
    sparse, dense = tclr_clip_sampling.sample_tclr_clip_indices(
        tf.shape(frames)[0], sample_seed, self._clips)
    clip_indices = tf.concat([sparse[tf.newaxis], dense], 0)  # [1 + D, T]
    num_augmentations = self._clips.augmentations_per_clip
    clip_seeds = tf.reshape(
        tf.random.experimental.stateless_split(
            augment_seed, num_augmentations * clip_indices.shape[0]),
        [num_augmentations, clip_indices.shape[0], 2])
    clip_spec = tf.TensorSpec([self._num_steps, *self._output_size, 3],
                              tf.float32)
    # One traced copy of the augmentation per augmentation index, mapped
    # over the clips: unrolled, the 10 clips would make a graph that takes
    # long to build.
    augmented = []
    for a in range(num_augmentations):
      augment = lambda args, a=a: self._augment(
          tf.gather(frames, args[0]), args[1], a)
      augmented.append(tf.map_fn(augment, (clip_indices, clip_seeds[a]),
                                 fn_output_signature=clip_spec))
    augmented = self._normalize(tf.stack(augmented))  # [A, 1 + D, T, ...]
    features, label = self._outputs(augmented[:, 0], decoded)
    features['sparse_clips'] = features.pop('image')
    features['dense_clips'] = augmented[:, 1:]
    return features, label


def _keep_batch(features: Features,
                label: tf.Tensor) -> Tuple[Features, tf.Tensor]:
  """Batches need no folding: the clips keep their own axes."""
  return features, label


def build_tclr_dataset(
    params: tclr_data.TclrDataConfig,
    input_context: Optional[tf.distribute.InputContext] = None
) -> tf.data.Dataset:
  """Batches of TCLR's clips, read like every other input.

  Args:
    params: the input config, with `tclr_clips`.
    input_context: distribution context, for per-replica batching and file
      sharding.

  Returns:
    Dataset of (features, labels) batches; see the module docstring.
  """
  return video_input.build_dataset(
      params, input_context, parser=TclrParser(params),
      postprocess_fn=_keep_batch,
      min_frames=params.tclr_clips.min_video_frames)
