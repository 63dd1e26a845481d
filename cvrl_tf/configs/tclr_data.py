"""TCLR input configs: the clips of a video and their augmentation.

TCLR (Dave et al., "TCLR: Temporal Contrastive Learning for Video
Representation", CVIU 2022) builds, per training video, one sparse clip and
four dense clips, each in two augmentations. The values below are those of
the authors' code (github.com/DAVEISHAN/TCLR, `tclr_pretraining/`):
`parameters.py` (`num_frames = 16`, `sr_ratio = 4`) and
`dl_tclr.py` `ss_dataset_gen1.build_clip` / `.augmentation`.

`TclrDataConfig` is the pretraining `DataConfig` of a TCLR experiment
(`cvrl_tf.dataloaders.tclr_input.build_tclr_dataset`): CVRL's `DataConfig`
(record reading, checks, bad-record skipping, crop-window decoding) plus
`tclr_clips`. CVRL's configs are left as they are.
"""
import dataclasses
from typing import Tuple

from official.modeling import hyperparams

from cvrl_tf.configs import data

# `TclrClipsConfig.augmentation` choices.
CLIP_AUGMENTATIONS = ('tclr', 'cvrl')


@dataclasses.dataclass
class TclrAugmentation(hyperparams.Config):
  """TCLR's per-clip augmentation (`dl_tclr.py` `augmentation`).

  Every clip of every augmentation draws its own parameters (`build_clip`
  draws 10 sets: 2 augmentations x (1 sparse + 4 dense clips)); all frames
  of one clip share them. Probabilities are those of `random_array` there.

  Attributes:
    crop_scale_range: the crop is a square of side `scale x frame height`,
      scale uniform in this range (`cropping_factor1`), its corner uniform in
      [0, W - W x scale] x [0, H - H x scale] (`x0`, `y0`), resized
      bilinearly to the output size.
    contrast_prob: probability of contrast (applied either before hue, with
      probability `contrast_prob / 2`, or after brightness, as TCLR).
    contrast_range, hue_range, saturation_range, brightness_range: factor
      ranges (`contrast_factor1`, `hue_factor1`, `saturation_factor1`,
      `brightness_factor1`).
    hue_prob, saturation_prob, brightness_prob: their probabilities.
    grayscale_prob: probability of grayscale (`0.70 < r4 < 0.875`).
    gamma_prob: probability of gamma after grayscale (`r5 > 0.25`).
    gamma_range: gamma range (`gamma1`), gain 1.
    channel_drop_prob: probability of zeroing one random channel
      (`r4 >= 0.875`); exclusive with grayscale.
    flip_prob: horizontal flip probability.
    erase_prob: probability of random erasing (`r7 < 0.5`,
      `torchvision.transforms.functional.erase` with value 0).
    erase_size_range: [low, high) of the erased rectangle's height and
      width, each drawn separately, in pixels of the output frame
      (`randint(erase_size / 2, erase_size)` with `erase_size = 19` at
      112 x 112); its top-left corner is uniform over the output frame and
      the rectangle is clipped at the border.
    bgr_luma: weigh red and blue swapped in grayscale, contrast and
      saturation, as TCLR's code does by decoding BGR frames with OpenCV
      and passing them to PIL as RGB. Off by default: our frames are RGB
      and the paper describes standard colour operations.
  """
  crop_scale_range: Tuple[float, float] = (0.6, 1.0)
  contrast_prob: float = 0.25
  contrast_range: Tuple[float, float] = (0.75, 1.25)
  hue_prob: float = 0.3
  hue_range: Tuple[float, float] = (-0.1, 0.1)
  saturation_prob: float = 0.3
  saturation_range: Tuple[float, float] = (0.75, 1.25)
  brightness_prob: float = 0.3
  brightness_range: Tuple[float, float] = (0.75, 1.25)
  grayscale_prob: float = 0.175
  gamma_prob: float = 0.75
  gamma_range: Tuple[float, float] = (0.75, 1.25)
  channel_drop_prob: float = 0.125
  flip_prob: float = 0.5
  erase_prob: float = 0.5
  erase_size_range: Tuple[int, int] = (9, 19)
  bgr_luma: bool = False


@dataclasses.dataclass
class TclrClipsConfig(hyperparams.Config):
  """The sparse and dense clips of a video (`dl_tclr.py` `build_clip`).

  Attributes:
    sparse_clip_frames: frames of the sparse clip (`params.num_frames`).
    sparse_clip_stride: its frame stride (`sr_sparse = 4`); it starts at a
      uniform frame in [0, n - frames x stride) (`np.random.randint(0,
      frame_count - 64)`) when the video has n > frames x stride frames,
      else at 0.
    num_dense_clips: dense clips per video; dense clip c starts at sparse
      frame c x frames / num_dense_clips (`frames_sparse[j*4]`), so together
      they tile the sparse clip's frames x stride span.
    dense_clip_stride: frame stride of a dense clip (`sr_dense =
      sr_sparse / 4`); a dense clip has `sparse_clip_frames` frames.
    min_video_frames: videos with fewer frames are dropped and reported as
      skipped records (`if frame_count <= 56: return None`). Videos shorter
      than the sparse span start at 0 and the frames past their end are
      mirror-padded (`clip + clip[::-1][1:missing + 1]`).
    augmentations_per_clip: augmentations of every clip (TCLR: 2, the
      `a_` clips being the second).
    augmentation: 'tclr' draws TCLR's augmentation independently per clip
      (`tclr_augmentation`); 'cvrl' applies CVRL's temporally consistent
      augmentation (`DataConfig.augmentation.spatial`) to every clip instead.
    tclr_augmentation: parameters of the 'tclr' augmentation.
  """
  sparse_clip_frames: int = 16
  sparse_clip_stride: int = 4
  num_dense_clips: int = 4
  dense_clip_stride: int = 1
  min_video_frames: int = 57
  augmentations_per_clip: int = 2
  augmentation: str = 'tclr'
  tclr_augmentation: TclrAugmentation = dataclasses.field(
      default_factory=TclrAugmentation)


def validate_clips(clips: TclrClipsConfig) -> None:
  """Raises ValueError unless the dense clips tile the sparse clip's span."""
  frames, dense = clips.sparse_clip_frames, clips.num_dense_clips
  if dense < 1 or frames % dense:
    raise ValueError(
        f'tclr_clips.sparse_clip_frames ({frames}) must be a multiple of '
        f'tclr_clips.num_dense_clips ({dense}).')
  if clips.sparse_clip_stride != dense * clips.dense_clip_stride:
    raise ValueError(
        f'tclr_clips.sparse_clip_stride ({clips.sparse_clip_stride}) must be '
        f'num_dense_clips x dense_clip_stride ({dense} x '
        f'{clips.dense_clip_stride}) for the dense clips to tile the sparse '
        'span.')
  if clips.min_video_frames < 1:
    raise ValueError('tclr_clips.min_video_frames must be at least 1.')
  if clips.augmentation not in CLIP_AUGMENTATIONS:
    raise ValueError(
        f'tclr_clips.augmentation must be one of {list(CLIP_AUGMENTATIONS)}, '
        f'got {clips.augmentation!r}.')
  if clips.augmentations_per_clip < 1:
    raise ValueError('tclr_clips.augmentations_per_clip must be at least 1.')


@dataclasses.dataclass
class TclrDataConfig(data.DataConfig):
  """Pretraining input of a TCLR experiment (`build_tclr_dataset`).

  Attributes:
    tclr_clips: how the sparse and dense clips are sampled and augmented.
    feature_shape: (T, H, W, 3) of every clip; T must equal
      `tclr_clips.sparse_clip_frames`. TCLR: 16 x 112 x 112
      (`params.reso_h`, `params.reso_w`).
    skip_bad_records: on by default, since videos shorter than
      `tclr_clips.min_video_frames` are dropped as bad records, as TCLR
      drops them (with a report here); without it the first one stops the
      input.
    one_hot: off: labels are [B, 1] class indices.
    The other `DataConfig` fields (files, `seed`, `min_image_size`, ...)
    mean what they mean for CVRL.
  """
  is_ssl: bool = True
  feature_shape: Tuple[int, int, int, int] = (16, 112, 112, 3)
  skip_bad_records: bool = True
  one_hot: bool = False
  tclr_clips: TclrClipsConfig = dataclasses.field(
      default_factory=TclrClipsConfig)


def validate_data(params: TclrDataConfig) -> None:
  """Raises ValueError unless `params` describes clips TCLR can sample."""
  validate_clips(params.tclr_clips)
  frames = params.feature_shape[0]
  if frames != params.tclr_clips.sparse_clip_frames:
    raise ValueError(
        f'feature_shape has {frames} frames but tclr_clips.sparse_clip_frames '
        f'is {params.tclr_clips.sparse_clip_frames}: they must be equal.')
