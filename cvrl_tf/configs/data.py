"""Input configs: Model Garden's video `DataConfig` plus CVRL augmentation."""
import dataclasses
from typing import Optional, Tuple

from official.modeling import hyperparams
from official.vision.configs import video_classification


@dataclasses.dataclass
class TemporalAugmentation(hyperparams.Config):
  """Temporal augmentation (CVRL sec. 3.3).

  Attributes:
    enabled: sample the two views at different start times; when False both
      views come from the same clip (Table 4, "SA" only).
    interval_power: the gap t between the two clips' starts is drawn with
      density P(t) proportional to (1 - t / max_gap) ** interval_power, so
      nearby clips are likelier; 1.0 is the paper's linearly decreasing
      distribution and 0.0 is uniform.
  """
  enabled: bool = True
  interval_power: float = 1.0


# `SpatialAugmentation.crop_sampler` choices.
CROP_SAMPLERS = ('inception', 'sample_distorted_bounding_box')
# `SpatialAugmentation.contrast_mean` choices.
CONTRAST_MEANS = ('frame', 'clip')
# `DataConfig.test_clip_starts` choices.
TEST_CLIP_STARTS = ('even', 'tclr')


@dataclasses.dataclass
class SpatialAugmentation(hyperparams.Config):
  """Spatial augmentation of each view (CVRL sec. 3.4).

  Attributes:
    enabled: when False a view is only resized and centre-cropped.
    temporally_consistent: draw the random parameters once per clip (the
      paper's method); when False every frame gets fresh parameters.
    crop_area_range: RandomResizedCrop area fraction.
    crop_aspect_ratio_range: RandomResizedCrop aspect ratio (width / height).
    crop_sampler: how a crop window is drawn within those ranges:
      'inception': area uniform and aspect ratio log-uniform, as
        torchvision's RandomResizedCrop (10 attempts, then a centred crop);
      'sample_distorted_bounding_box': `tf.image`'s sampler, which Model
        Garden's `preprocess_ops_3d.random_crop_resize` uses in the
        authors' release: aspect ratio uniform, crop height uniform, so
        small areas are likelier (100 attempts, then the whole frame).
    flip: random horizontal flip with probability 0.5.
    color_jitter_prob: probability of colour jitter.
    color_jitter_strength: SimCLR strength s: brightness, contrast and
      saturation 0.8 s, hue 0.2 s.
    contrast_mean: what contrast scales values around:
      'frame': each frame's per-channel mean, as `tf.image.adjust_contrast`
        does per image, so a frame's result does not depend on the other
        frames of its clip;
      'clip': the whole clip's per-channel mean, as the authors' release
        (Model Garden `video_ssl_preprocess_ops.random_color_jitter_3d`
        jitters the clip reshaped into one tall image).
      The factor is drawn once per clip either way; the two differ only
      where frames differ in mean colour.
    truncate_resized_frames: cast the resized crops of training clips to
      integers by truncation, as the release does (Model Garden
      `preprocess_ops_3d.random_crop_resize`: `tf.cast` of the float resize
      to uint8), which lowers them by 0.5/255 on average. When False the
      host path keeps the float resize and device augmentation rounds it to
      uint8.
    grayscale_prob: probability of converting to grayscale.
    blur_prob: probability of Gaussian blur (sigma in [0.1, 2.0], kernel a
      tenth of the crop size) of either view under 'symmetric'
      `view_blur_solarize`.
    view_blur_solarize: how blur and solarization (x -> 1 - x where
      x >= 0.5) differ between the two views of a video:
      'symmetric': both views are blurred with `blur_prob` and never
        solarized (SimCLR's; the paper lists RandomResizedCrop,
        RandomFlip, ColorJitter and GaussianBlur, sec. 3.4, without
        probabilities or solarization).
      'asymmetric': the authors' release (Model Garden
        `official/projects/video_ssl/dataloaders/video_ssl_input.py`, after
        BYOL): view 1 is always blurred; view 2 is blurred with p=0.1 and
        solarized with p=0.2, after the blur. `blur_prob` is unused.
      Views are told apart by position: view 1 is the first of the pair
      (rows :B of a [2B, ...] batch).
  """
  enabled: bool = True
  temporally_consistent: bool = True
  crop_area_range: Tuple[float, float] = (0.3, 1.0)
  crop_aspect_ratio_range: Tuple[float, float] = (0.5, 2.0)
  crop_sampler: str = 'inception'
  flip: bool = True
  color_jitter_prob: float = 0.8
  color_jitter_strength: float = 1.0
  contrast_mean: str = 'frame'
  truncate_resized_frames: bool = False
  grayscale_prob: float = 0.2
  blur_prob: float = 0.5
  view_blur_solarize: str = 'symmetric'


# (blur, solarization) probabilities of view 1 and view 2 under each
# `SpatialAugmentation.view_blur_solarize`; None is `blur_prob`.
VIEW_BLUR_SOLARIZE = {
    'symmetric': ((None, 0.0), (None, 0.0)),
    # Model Garden video_ssl_input.py: `random_blur(image_1, ..., 1.0)`,
    # `random_blur(image_2, ..., 0.1)`, `random_solarization(image_2)`
    # (p=0.2 by default in video_ssl_preprocess_ops.py).
    'asymmetric': ((1.0, 0.0), (0.1, 0.2)),
}


def view_blur_solarize_probs(spatial: SpatialAugmentation,
                             view: int) -> Tuple[float, float]:
  """(blur, solarization) probabilities of view `view` (0 or 1)."""
  blur, solarize = VIEW_BLUR_SOLARIZE[spatial.view_blur_solarize][view]
  return (spatial.blur_prob if blur is None else blur), solarize


@dataclasses.dataclass
class Augmentation(hyperparams.Config):
  """CVRL augmentation of SSL training views.

  Attributes:
    temporal: how the two views are placed in time.
    spatial: how each view is cropped, flipped and photometrically distorted.
    device_augmentation: the input pipeline only samples, decodes the crop
      window, flips and resizes, and outputs uint8 views; colour jitter,
      grayscale and blur run in the pretraining `train_step` on the batched
      [2B, T, H, W, 3] views, with the per-clip parameters the host drew
      from the same seeds (passed in `features['photometric_params']`), so
      the augmentation's distribution and, for a fixed `seed`, its values
      are those of the host path up to the rounding of the resized frames
      to uint8 (at most 0.5/255; none with
      `spatial.truncate_resized_frames`, where both paths truncate). It moves more than half of the host CPU
      cost per video to the accelerator and sends it a quarter of the
      bytes. Requires `spatial.temporally_consistent`. `dtype` applies to
      the augmented views.
  """
  temporal: TemporalAugmentation = dataclasses.field(
      default_factory=TemporalAugmentation)
  spatial: SpatialAugmentation = dataclasses.field(
      default_factory=SpatialAugmentation)
  device_augmentation: bool = False


# Named choices of the flow options of `DataConfig`; the first of each is
# ViCC's (the default).
FLOW_PHOTOMETRIC = ('none', 'like_rgb')
FLOW_FLIPS = ('mirror_image', 'negate_x')
FLOW_CROP_SCALES = ('keep', 'rescale')


@dataclasses.dataclass
class DataConfig(video_classification.DataConfig):
  """Video input config; field names follow Model Garden's video DataConfig.

  Attributes:
    is_ssl: produce two augmented views per video ([2B, T, H, W, 3] batches)
      instead of one labelled clip.
    augmentation: CVRL augmentation settings used when `is_ssl` (and, with
      `spatial.enabled`, for supervised training clips).
    seed: makes sampling and augmentation deterministic when set.
    skip_bad_records: drop bad records (corrupt TFRecord data, records
      that do not parse, videos without frames or with a frame that is not a
      JPEG or fails to decode, labels outside [0, num_classes)) instead of
      stopping at the first; each is logged to stderr with its file, the problem and the
      running count (`cvrl_tf.dataloaders.record_checks`). Training input
      with 1000 bad records in a row and no good video between them stops
      with an error.
    output_video_id: also output `features['video_id']` (string, '' when a
      record has no `video/id`), e.g. to aggregate predictions per video.
    read_flow: also read the optical flow stored by `tools/make_tfrecords.py
      --flow` and output it as `features['flow']`, laid out as
      `features['image']` (see `cvrl_tf.dataloaders.video_parser`).
      TFRecords only.
    test_clip_starts: where the `num_test_clips` test clips start:
      'even': evenly over [0, length - span], the first and last clips
        touching the video's ends (Model Garden's linspace sampling);
      'tclr': TCLR's retrieval clips (`nn_retrieval/dl_ret.py`), evenly
        over [0, length - stride x frames - 10], truncated, mirror-padded
        past the last frame (`temporal_sampling.tclr_retrieval_starts`).
    flow_photometric: what colour jitter, grayscale, blur and solarization
      do to the flow of a view (with `read_flow`):
      'none': nothing; they touch the RGB only.
      'like_rgb': the flow gets them with the parameters drawn for the RGB
        of the same view, as in ViCC's code (its transform runs on the RGB
        and flow images of a view together and draws each parameter once
        per view: `main_cross.py` `get_transform` with CoCLR's
        `utils/augmentation.py` `ColorJitter`, `RandomGray`,
        `GaussianBlur`).
    flow_flip: what a horizontal flip does to flow values:
      'mirror_image': the flow image is mirrored as a picture and x keeps
        its sign (ViCC: `RandomHorizontalFlip` on flow images), so motion to
        the left in the mirrored frames reads as motion to the right;
      'negate_x': also x -> -x (stored v -> 255 - v), the flow of the
        mirrored frames.
    flow_crop_scale: what the resize of a crop (and of evaluation frames)
      does to flow values:
      'keep': values unchanged (ViCC: `RandomSizedCrop` resizes flow
        images as pictures), so they stay in pixels of the stored frames;
      'rescale': x and y are multiplied by the resize factor along their
        axis, clipped to the stored range (+-20 px), so they are in pixels
        of the output.
  """
  is_ssl: bool = False
  augmentation: Augmentation = dataclasses.field(default_factory=Augmentation)
  seed: Optional[int] = None
  skip_bad_records: bool = False
  output_video_id: bool = False
  read_flow: bool = False
  flow_photometric: str = 'none'
  flow_flip: str = 'mirror_image'
  flow_crop_scale: str = 'keep'
  shuffle_buffer_size: int = 64
  min_image_size: int = 256
  test_clip_starts: str = 'even'
