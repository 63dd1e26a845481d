r"""Converts raw videos into sharded TFRecords of JPEG frames.

Writes one `tf.train.SequenceExample` per video in the layout read by Model
Garden's `video_input.Decoder` (see `cvrl_tf/data_prep/records.py`) to
`OUTPUT_DIR/SPLIT-xxxxx-of-yyyyy.tfrecord`, plus `label_map.json` and
`SPLIT_report.json` listing the videos that could not be converted. Rerunning
after an interruption keeps the finished shards; see
`cvrl_tf/data_prep/sources.py` for the accepted input layouts. Folders,
lists and the output folder can be local or `gs://`; videos on `gs://` need
`--engine=beam`.

Usage:
  python tools/make_tfrecords.py --video_dir=/data/videos \
      --output_dir=/data/records --split=train --num_shards=16
  python tools/make_tfrecords.py --csv=kinetics400/train.csv \
      --video_root=/data/kinetics400/train --output_dir=/data/k400 --fps=25
  python tools/make_tfrecords.py \
      --ucf101_split_file=/data/ucfTrainTestlist/trainlist01.txt \
      --video_root=/data/UCF-101 --output_dir=/data/ucf101 --split=train
  python tools/make_tfrecords.py --hmdb51_split_dir=/data/testTrainMulti \
      --hmdb51_subset=test --video_root=/data/hmdb51 \
      --output_dir=/data/hmdb51 --split=test
  python tools/make_tfrecords.py --video_dir=/data/videos \
      --output_dir=/data/records_flow --flow=tvl1

With `--engine=beam` (needs `pip install 'cvrl_tf[beam]'`) the same
conversion runs as an Apache Beam pipeline; everything after `--` is passed to
Beam's PipelineOptions untouched (a wrong runner or option value stops the
tool before any work):
  python tools/make_tfrecords.py --engine=beam --video_dir=/data/videos \
      --output_dir=/data/records -- --runner=DirectRunner \
      --direct_num_workers=2 --direct_running_mode=multi_processing

Exits with status 1 and a one-line message if the inputs are unusable or no
video could be converted.
"""
import functools
import os
import sys

from absl import app
from absl import flags

from cvrl_tf.data_prep import converter
from cvrl_tf.data_prep import optical_flow
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import video_decoding

_VIDEO_DIR = flags.DEFINE_string(
    'video_dir', None, 'Folder with one sub-folder of videos per class; '
    'classes are indexed in sorted folder order.')
_CSV = flags.DEFINE_string(
    'csv', None, 'CSV of "path,label" rows (header optional), or a Kinetics '
    'CSV "label,youtube_id,time_start,time_end,split".')
_UCF101_SPLIT_FILE = flags.DEFINE_string(
    'ucf101_split_file', None, 'UCF101 trainlist0N.txt or testlist0N.txt.')
_UCF101_CLASS_INDEX = flags.DEFINE_string(
    'ucf101_class_index', None,
    'UCF101 classInd.txt; defaults to the one next to --ucf101_split_file.')
_HMDB51_SPLIT_DIR = flags.DEFINE_string(
    'hmdb51_split_dir', None,
    'Folder of the HMDB51 <class>_test_split<N>.txt files.')
_HMDB51_SPLIT_NUMBER = flags.DEFINE_integer(
    'hmdb51_split_number', 1, 'HMDB51 split.', lower_bound=1, upper_bound=3)
_HMDB51_SUBSET = flags.DEFINE_enum('hmdb51_subset', 'train', ['train', 'test'],
                                   'HMDB51 videos to convert.')
_VIDEO_ROOT = flags.DEFINE_string(
    'video_root', None,
    'Root of the video files named by --csv or the split lists.')
_LABEL_MAP = flags.DEFINE_string(
    'label_map', None, 'JSON {label name: index} to use instead of the '
    "dataset's own label order.")
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None,
                                  'Output folder, local or gs://.')
_SPLIT = flags.DEFINE_string('split', 'train', 'Prefix of the output files.')
_NUM_SHARDS = flags.DEFINE_integer('num_shards', 16, 'Number of shards.',
                                   lower_bound=1, upper_bound=99999)
_FPS = flags.DEFINE_float(
    'fps', None, 'Resample videos to this frame rate; default: keep the '
    'source rate.', lower_bound=1e-3)
_MIN_RESIZE = flags.DEFINE_integer(
    'min_resize', 256, 'Short side of the stored frames in pixels, aspect '
    'ratio kept; 0 keeps the source size.', lower_bound=0)
_JPEG_QUALITY = flags.DEFINE_integer('jpeg_quality', 90, 'JPEG quality.',
                                     lower_bound=1, upper_bound=100)
_FLOW = flags.DEFINE_enum(
    'flow', 'none', ['none', *optical_flow.FLOW_METHODS],
    'Also store optical flow between consecutive stored frames under '
    'flow/encoded: tvl1 (TV-L1, as ViCC and CoCLR; needs OpenCV contrib) or '
    'farneback (much cheaper). Computed on the resized frames.')
_NUM_WORKERS = flags.DEFINE_integer(
    'num_workers', os.cpu_count() or 1,
    'Decoding processes of --engine=local; Beam runners take theirs from '
    'the pipeline options.', lower_bound=1)
_TIMEOUT_PER_VIDEO = flags.DEFINE_float(
    'timeout_per_video', 300.0,
    'Seconds after which a video is abandoned as failed.', lower_bound=1e-3)

_ENGINE = flags.DEFINE_enum(
    'engine', 'local', ['local', 'beam'],
    'local: a pool of --num_workers processes on this machine. beam: an '
    'Apache Beam pipeline, configured by the options after `--`.')

flags.mark_flag_as_required('output_dir')


def _shard_writer(pipeline_args):
  """The converter's engine; exits with a message if it is unavailable."""
  if _ENGINE.value == 'local':
    if pipeline_args:
      sys.exit(f'error: unexpected arguments: {pipeline_args}')
    return converter.write_shards_locally
  try:
    # Apache Beam is an optional extra, only imported when asked for.
    from cvrl_tf.data_prep import beam_pipeline  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    sys.exit(f"error: --engine=beam needs Apache Beam (pip install "
             f"'cvrl_tf[beam]'): {e}")
  try:
    beam_pipeline.parse_pipeline_options(pipeline_args)
  except sources.InputError as e:
    sys.exit(f'error: {e}')
  return functools.partial(beam_pipeline.write_shards,
                           pipeline_args=pipeline_args)


def main(argv):
  write_shards = _shard_writer(argv[1:])
  try:
    videos, label_map = sources.load_videos(
        video_dir=_VIDEO_DIR.value,
        csv_path=_CSV.value,
        ucf101_split_file=_UCF101_SPLIT_FILE.value,
        hmdb51_split_dir=_HMDB51_SPLIT_DIR.value,
        video_root=_VIDEO_ROOT.value,
        ucf101_class_index=_UCF101_CLASS_INDEX.value,
        hmdb51_split_number=_HMDB51_SPLIT_NUMBER.value,
        hmdb51_subset=_HMDB51_SUBSET.value,
        label_map_path=_LABEL_MAP.value)
    config = converter.ConversionConfig(
        output_dir=_OUTPUT_DIR.value,
        split=_SPLIT.value,
        num_shards=_NUM_SHARDS.value,
        decode_options=video_decoding.DecodeOptions(
            fps=_FPS.value,
            min_resize=_MIN_RESIZE.value,
            jpeg_quality=_JPEG_QUALITY.value,
            flow=None if _FLOW.value == 'none' else _FLOW.value),
        num_workers=_NUM_WORKERS.value,
        timeout_per_video=_TIMEOUT_PER_VIDEO.value)
    report = converter.convert_videos(videos, label_map, config,
                                      write_shards)
  except sources.InputError as e:
    sys.exit(f'error: {e}')
  if not report.converted:
    sys.exit(f'error: no video converted, {len(report.failed)} '
             f'failed; see {report.report_path}')


if __name__ == '__main__':
  app.run(main)
