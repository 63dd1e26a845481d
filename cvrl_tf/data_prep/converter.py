"""Converts labeled videos into sharded TFRecords, resumably.

Videos are sorted by id and video i goes to shard i % num_shards, so shards
mix labels and the assignment only depends on the inputs. Shards are produced
one after another: each is written in full under a temporary name, renamed
into place, then recorded in `SPLIT_manifest.json` with a fingerprint of the
inputs and settings. A rerun with the same fingerprint keeps the recorded
shards and produces only the missing ones; otherwise the split's shards are
deleted and rebuilt. Either way every video ends up in exactly one shard.

Videos are decoded, and their optical flow computed if asked, in worker
processes (see `worker_pool`), so a video that crashes or hangs the decoder
or the flow is recorded as failed and the run goes on.
Failures are listed in `SPLIT_report.json`:
`{"converted": N, "failed": [{"path": ..., "error": ...}, ...]}`.
"""

import contextlib
import dataclasses
import datetime
import functools
import hashlib
import json
import os
import time
from typing import Any, Callable, Dict, Iterator, List, Sequence

from absl import logging
import tensorflow as tf

from cvrl_tf.data_prep import optical_flow
from cvrl_tf.data_prep import records
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import video_decoding
from cvrl_tf.data_prep import worker_pool

# Changing the record layout must invalidate shards written before.
_FORMAT_VERSION = 1
_PROGRESS_INTERVAL_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class ConversionConfig:
  """Where and how to write the records of one split.

  Attributes:
    output_dir: Output folder, local or `gs://`.
    split: Prefix of the shard, report and manifest file names.
    num_shards: Number of TFRecord files.
    decode_options: Frame rate, size and JPEG quality of the stored frames.
    num_workers: Number of decoding processes.
    timeout_per_video: Seconds after which a video's decoding is abandoned.
  """
  output_dir: str
  split: str = 'train'
  num_shards: int = 16
  decode_options: video_decoding.DecodeOptions = (
      video_decoding.DecodeOptions())
  num_workers: int = os.cpu_count() or 1
  timeout_per_video: float = 300.0


@dataclasses.dataclass(frozen=True)
class ConversionReport:
  """Outcome of a conversion, over all shards of the split.

  Attributes:
    converted: Number of videos written.
    failed: {'path': ..., 'error': ...} for every video not written.
    report_path: Where the report was saved as JSON.
  """
  converted: int
  failed: List[Dict[str, str]]
  report_path: str


def assign_shards(videos: Sequence[sources.VideoEntry],
                  num_shards: int) -> List[List[sources.VideoEntry]]:
  """Deals videos round-robin into `num_shards` lists in a mixed order.

  Ids usually start with the class name, so id order would group each
  class in a run of records; readers then see long single-class stretches
  that a finite shuffle buffer cannot mix. Ordering by a hash of the id is
  deterministic and independent of the input order, and mixes the classes.
  """
  ordered = sorted(videos, key=lambda v: (
      hashlib.sha256(v.video_id.encode()).hexdigest(), v.video_id))
  return [ordered[index::num_shards] for index in range(num_shards)]


def fingerprint(videos: Sequence[sources.VideoEntry],
                config: ConversionConfig) -> str:
  """Hashes everything that determines the content of the shards."""
  decode_options = dataclasses.asdict(config.decode_options)
  if decode_options['flow'] is None:
    # Runs without flow keep the fingerprint they had before the option
    # existed, so they still resume.
    del decode_options['flow']
  settings = {
      'format_version': _FORMAT_VERSION,
      'split': config.split,
      'num_shards': config.num_shards,
      'decode_options': decode_options,
      'videos': sorted([v.video_id, v.path, v.label_index, v.label_text]
                       for v in videos),
  }
  return hashlib.sha256(
      json.dumps(settings, sort_keys=True).encode()).hexdigest()


def decode_task(config: ConversionConfig) -> Callable[[str], Any]:
  """The work done on one video file, whatever runs the conversion.

  Returns a picklable function of a local video path whose result
  `serialized_record` turns into the video's record.
  """
  return functools.partial(
      video_decoding.decode_video, options=config.decode_options)


def serialized_record(video: sources.VideoEntry, decoded: Any,
                      config: ConversionConfig) -> bytes:
  """The record of a video from the result of `decode_task(config)`."""
  return records.make_sequence_example(
      video, decoded, config.decode_options.flow).SerializeToString()


def _validate(videos: Sequence[sources.VideoEntry],
              config: ConversionConfig) -> None:
  if not videos:
    raise sources.InputError('no video to convert')
  if config.num_shards < 1:
    raise sources.InputError(f'num_shards must be >= 1: {config.num_shards}')
  if not config.split or '/' in config.split:
    raise sources.InputError(f'invalid split name: {config.split!r}')
  sources.check_unique_ids(videos)
  if config.decode_options.flow is not None:
    problem = optical_flow.method_unavailable(config.decode_options.flow)
    if problem:
      raise sources.InputError(problem)


def _prepare_output(config: ConversionConfig,
                    run_fingerprint: str) -> Dict[str, dict]:
  """Cleans the output folder and returns the shards a previous run finished.

  Temporary files of killed runs are deleted, as are shard files that the
  manifest does not vouch for: shards of another shard count or fingerprint,
  and a shard renamed into place just before its run was killed.

  Returns:
    The manifest entries {shard name: {'size', 'converted', 'failed'}} of the
    shards kept.
  """
  output_dir, split = config.output_dir, config.split
  tf.io.gfile.makedirs(output_dir)
  removed = records.remove_temp_files(output_dir, split)
  if removed:
    logging.info('Removed %d temporary files of an interrupted run.', removed)
  manifest_path = os.path.join(output_dir, records.manifest_name(split))
  manifest = records.read_json(manifest_path) or {}
  kept = {}
  if manifest.get('fingerprint') == run_fingerprint:
    for name, entry in manifest.get('shards', {}).items():
      path = os.path.join(output_dir, name)
      if (tf.io.gfile.exists(path) and
          tf.io.gfile.stat(path).length == entry['size']):
        kept[name] = entry
  elif manifest:
    logging.info('Inputs or settings changed since the last run of %s: '
                 'rebuilding all shards.', split)
  for path in tf.io.gfile.glob(
      os.path.join(output_dir, records.shard_pattern(split))):
    if os.path.basename(path) not in kept:
      tf.io.gfile.remove(path)
  write_manifest(config, run_fingerprint, kept)
  return kept


class _Progress:
  """Logs videos done / total, rate and ETA at most every few seconds."""

  def __init__(self, total: int, split: str):
    self._total = total
    self._split = split
    self._done = 0
    self._failed = 0
    self._start = time.monotonic()
    self._last_log = self._start

  def update(self, failed: bool) -> None:
    self._done += 1
    self._failed += int(failed)
    now = time.monotonic()
    if now - self._last_log >= _PROGRESS_INTERVAL_SECONDS or (
        self._done == self._total):
      self._last_log = now
      rate = self._done / max(now - self._start, 1e-9)
      eta = (self._total - self._done) / rate
      logging.info('%s: %d/%d videos (%d failed), %.1f videos/s, ETA %s',
                   self._split, self._done, self._total, self._failed, rate,
                   datetime.timedelta(seconds=round(eta)))


def _in_input_order(
    results: Iterator[worker_pool.TaskResult]
) -> Iterator[worker_pool.TaskResult]:
  """Reorders results that complete out of order back into input order."""
  waiting = {}
  next_index = 0
  for result in results:
    waiting[result.index] = result
    while next_index in waiting:
      yield waiting.pop(next_index)
      next_index += 1


# Writes the given {shard name: videos} and records each finished shard in
# the manifest {shard name: {'size', 'converted', 'failed'}} and its file.
ShardWriter = Callable[
    [Dict[str, List[sources.VideoEntry]], ConversionConfig, str,
     Dict[str, dict]], None]


def write_shards_locally(shards: Dict[str, List[sources.VideoEntry]],
                         config: ConversionConfig, run_fingerprint: str,
                         manifest: Dict[str, dict]) -> None:
  """Decodes and writes the given shards with a pool of worker processes.

  Raises:
    InputError: A video is not on a local file system. PyAV reads local
      files only, and the workers stay free of TensorFlow, whose GCS client
      a copy would need; the Beam engine copies each batch of videos to
      where it decodes them.
  """
  videos = [video for shard in shards.values() for video in shard]
  remote = [video.path for video in videos if sources.is_remote(video.path)]
  if remote:
    raise sources.InputError(
        f'{len(remote)} videos are not on a local disk (e.g. {remote[0]}): '
        'the local engine decodes local files; use --engine=beam')
  decode = decode_task(config)
  progress = _Progress(len(videos), config.split)
  run = worker_pool.run_tasks(decode, [video.path for video in videos],
                              config.num_workers, config.timeout_per_video)
  with contextlib.closing(run):
    results = _in_input_order(run)
    for name, shard in shards.items():
      failed = []
      with records.AtomicRecordWriter(
          os.path.join(config.output_dir, name)) as writer:
        for video in shard:
          result = next(results)
          if result.error is None:
            writer.write(serialized_record(video, result.value, config))
          else:
            logging.warning('Skipping %s: %s', video.path, result.error)
            failed.append({'path': video.path, 'error': result.error})
          progress.update(failed=result.error is not None)
        size = writer.commit()
      manifest[name] = {
          'size': size,
          'converted': len(shard) - len(failed),
          'failed': failed
      }
      write_manifest(config, run_fingerprint, manifest)


def write_manifest(config: ConversionConfig, run_fingerprint: str,
                   manifest: Dict[str, dict]) -> None:
  """Saves the list of finished shards of a split."""
  records.write_json(
      os.path.join(config.output_dir, records.manifest_name(config.split)),
      {'fingerprint': run_fingerprint, 'shards': manifest})


def convert_videos(
    videos: Sequence[sources.VideoEntry],
    label_map: sources.LabelMap,
    config: ConversionConfig,
    write_shards: ShardWriter = write_shards_locally) -> ConversionReport:
  """Converts videos into the shards of one split, resuming a killed run.

  Writes, in `config.output_dir`: the shards `SPLIT-xxxxx-of-yyyyy.tfrecord`,
  `label_map.json`, `SPLIT_manifest.json` and `SPLIT_report.json`.

  Args:
    videos: Videos with label indices, with unique ids.
    label_map: The {label name: index} map the indices come from.
    config: Output and decoding settings.
    write_shards: What decodes and writes the missing shards: the local
      worker pool, or another engine such as `beam_pipeline`.

  Returns:
    The report over all shards of the split, including kept ones.

  Raises:
    InputError: No video, repeated ids or invalid settings.
  """
  _validate(videos, config)
  run_fingerprint = fingerprint(videos, config)
  manifest = _prepare_output(config, run_fingerprint)
  records.write_json(
      os.path.join(config.output_dir, records.LABEL_MAP_NAME), label_map)
  shards = {
      records.shard_name(config.split, index, config.num_shards): shard
      for index, shard in enumerate(assign_shards(videos, config.num_shards))
  }
  missing = {name: shard for name, shard in shards.items()
             if name not in manifest}
  logging.info(
      'Converting %d videos into %d of %d %s shards in %s (%d shards kept '
      'from an earlier run).', sum(map(len, missing.values())), len(missing),
      config.num_shards, config.split, config.output_dir,
      config.num_shards - len(missing))
  write_shards(missing, config, run_fingerprint, manifest)

  converted = sum(manifest[name]['converted'] for name in shards)
  failed = [entry for name in shards for entry in manifest[name]['failed']]
  report_path = os.path.join(config.output_dir,
                             records.report_name(config.split))
  records.write_json(report_path, {'converted': converted, 'failed': failed})
  logging.info('%s: %d videos converted, %d failed (listed in %s).',
               config.split, converted, len(failed), report_path)
  return ConversionReport(converted, failed, report_path)
