"""Runs the video to TFRecord conversion as an Apache Beam pipeline.

`converter.convert_videos` does everything around the shards as for the
local worker pool (validation, resume from the manifest, label map, report);
`write_shards` is the Beam engine it is given instead of the pool:

  (shard name, position, video) --Reshuffle--> batches of videos
    --DecodeBatch--> (shard name, record or error)   per-video subprocess
    --GroupByKey--> one temporary file per shard attempt
    --ToList--> finalise: rename one attempt per shard, delete the others,
                save the manifest

Same output as the local pool. The driver deals the videos into shards with
`converter.assign_shards` before the pipeline starts, so each shard holds the
same videos as with the pool, and shard sizes differ by at most one video
whatever order the runner processes them in. Each video is decoded by
`converter.decode_task(config)`, the pool's own function (frames, and flow
when asked), in a worker
process of `worker_pool` with the per-video timeout: a video that hangs or
crashes its decoder becomes a reported failure, never an exception that
would fail the bundle and make the runner retry it. Records come from
`converter.serialized_record`, so per video they hold the same context and
frames as the pool's. Within a shard, records are in the order they arrive.

Retries. A runner may run a bundle more than once and keep the output of one
attempt. Each attempt at writing a shard writes its own temporary file
(`records.temp_path`), never the shard itself; the single finalising step
renames exactly one attempt per shard into place and deletes every other
temporary file of the split, so a retried write leaves neither duplicates
nor partial records, and a retried finalisation finds its renames done.

Files. The sink is this module's own: `write_temp_shard` and
`finalise_shards` write shards, manifest, report and label map through
`tf.io.gfile`, TensorFlow's file system layer and its GCS client, rather
than a Beam file sink on `apache_beam.io.gcp.gcsio` (google-cloud-storage):
  * the same `records` functions then write them for both engines, with
    the temporary names and atomic renames the resume logic relies on;
  * TensorFlow's readers, the trainer's, use the same client and the same
    credentials;
  * Beam's GCS file system comes only with `apache-beam[gcp]`, which the
    `beam` extra does not install: without it Beam cannot open `gs://` at
    all, so the DirectRunner converts from and to `gs://` with the extra
    alone.
The driver lists the videos through the same client (`sources`). Videos
named by a `gs://` path are copied to a local temporary file through it too,
in the worker that decodes them, since PyAV reads local files only.
"""

import contextlib
import io
import os
import shutil
import tempfile
from typing import Any, Callable, Dict, Iterable, List, Sequence, Tuple

from absl import logging
import apache_beam as beam
from apache_beam.options import pipeline_options
from apache_beam.runners import runner as beam_runner
import tensorflow as tf

from cvrl_tf.data_prep import converter
from cvrl_tf.data_prep import records
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import worker_pool

# Videos decoded one after another by one worker process. Starting the
# process (Python, PyAV, NumPy, Pillow, OpenCV) costs about 0.3 CPU-s, small
# next to a batch; one slow video delays only its batch's results.
VIDEOS_PER_DECODING_PROCESS = 8

# (shard name, position in the shard, video)
_Task = Tuple[str, int, sources.VideoEntry]
# (shard name, (position, serialized record or None, failure or None))
_Outcome = Tuple[str, Tuple[int, Any, Any]]


@contextlib.contextmanager
def _local_copies(paths: Sequence[str]):
  """Copies remote videos (`gs://`) to local temporary files.

  Yields:
    (local paths, {index: error}): a path per video, the video's own if
    local; the error of each remote video that could not be copied.
  """
  if not any(sources.is_remote(path) for path in paths):
    yield list(paths), {}
    return
  directory = tempfile.mkdtemp(prefix='cvrl_videos_')
  try:
    local, errors = [], {}
    for index, path in enumerate(paths):
      if sources.is_remote(path):
        copy = os.path.join(directory, f'{index}_{os.path.basename(path)}')
        try:
          tf.io.gfile.copy(path, copy)
        except tf.errors.OpError as e:
          # Reported as the video's failure: decoding whatever the failed
          # copy left would report a misleading decoder error instead.
          errors[index] = ('cannot copy to a local file: ' +
                           worker_pool.describe_exception(e))
        path = copy
      local.append(path)
    yield local, errors
  finally:
    shutil.rmtree(directory, ignore_errors=True)


class DecodeBatch(beam.DoFn):
  """Decodes a batch of videos into serialized records, in a subprocess.

  Each input is a list of `(shard name, position, video)`; each output is
  `(shard name, (position, serialized record, None))` or, for a video that
  failed, `(shard name, (position, None, {'path': ..., 'error': ...}))`.
  """

  def __init__(self, config: converter.ConversionConfig,
               decode: Callable[[str], Any]):
    super().__init__()
    self._config = config
    self._decode = decode

  def process(self, batch: List[_Task]) -> Iterable[_Outcome]:
    with _local_copies([video.path for _, _, video in batch]) as (
        paths, copy_errors):
      for index, error in copy_errors.items():
        yield _failure(batch[index], error)
      to_decode = [index for index in range(len(batch))
                   if index not in copy_errors]
      results = worker_pool.run_tasks(
          self._decode, [paths[index] for index in to_decode], 1,
          self._config.timeout_per_video)
      with contextlib.closing(results):
        for result in results:
          task = batch[to_decode[result.index]]
          if result.error is None:
            name, position, video = task
            yield name, (position, converter.serialized_record(
                video, result.value, self._config), None)
          else:
            yield _failure(task, result.error)


def _failure(task: _Task, error: str) -> _Outcome:
  name, position, video = task
  logging.warning('Skipping %s: %s', video.path, error)
  return name, (position, None, {'path': video.path, 'error': error})


def write_temp_shard(output_dir: str, name: str,
                     outcomes: Iterable[Tuple[int, Any, Any]]) -> dict:
  """Writes one attempt at a shard to a temporary file of its own.

  Returns:
    {'name', 'temp_path', 'converted', 'failed'}, failures in shard order.
  """
  temp_path = records.temp_path(os.path.join(output_dir, name))
  converted, failed = 0, []
  with tf.io.TFRecordWriter(temp_path) as writer:
    for position, serialized, failure in outcomes:
      if failure is None:
        writer.write(serialized)
        converted += 1
      else:
        failed.append((position, failure))
  return {'name': name, 'temp_path': temp_path, 'converted': converted,
          'failed': [failure for _, failure in sorted(failed,
                                                      key=lambda f: f[0])]}


def finalise_shards(attempts: Sequence[dict], shard_names: Sequence[str],
                    config: converter.ConversionConfig, run_fingerprint: str,
                    manifest: Dict[str, dict]) -> None:
  """Moves one attempt per shard into place and records it in the manifest.

  Shards without any video are written empty, as the local pool does. Other
  attempts' temporary files are deleted. Safe to run again after a partial
  run: a shard whose temporary file is gone was renamed already.
  """
  chosen = {}
  for attempt in sorted(attempts, key=lambda a: a['temp_path']):
    chosen.setdefault(attempt['name'], attempt)
  for name in shard_names:
    path = os.path.join(config.output_dir, name)
    attempt = chosen.get(name)
    if attempt is None:
      with records.AtomicRecordWriter(path) as writer:
        writer.commit()
      attempt = {'converted': 0, 'failed': []}
    elif tf.io.gfile.exists(attempt['temp_path']):
      tf.io.gfile.rename(attempt['temp_path'], path, overwrite=True)
    manifest[name] = {'size': tf.io.gfile.stat(path).length,
                      'converted': attempt['converted'],
                      'failed': attempt['failed']}
  removed = records.remove_temp_files(config.output_dir, config.split)
  if removed:
    logging.info('Deleted %d temporary files of retried work.', removed)
  converter.write_manifest(config, run_fingerprint, manifest)


def _tasks(shards: Dict[str, List[sources.VideoEntry]]) -> List[_Task]:
  return [(name, position, video) for name, shard in shards.items()
          for position, video in enumerate(shard)]


def build_pipeline(pipeline: beam.Pipeline,
                   shards: Dict[str, List[sources.VideoEntry]],
                   config: converter.ConversionConfig, run_fingerprint: str,
                   manifest: Dict[str, dict]) -> None:
  """Adds the conversion of `shards` to `pipeline`."""
  output_dir = config.output_dir
  attempts = (
      pipeline
      | 'Videos' >> beam.Create(_tasks(shards))
      # Spreads the videos over the workers instead of fusing all decoding
      # with the step that listed them.
      | 'Spread' >> beam.Reshuffle()
      # A fixed size: BatchElements would otherwise start at one video per
      # batch, i.e. one process start per video.
      | 'Batch' >> beam.BatchElements(
          min_batch_size=VIDEOS_PER_DECODING_PROCESS,
          max_batch_size=VIDEOS_PER_DECODING_PROCESS)
      | 'Decode' >> beam.ParDo(
          DecodeBatch(config, converter.decode_task(config)))
      | 'ByShard' >> beam.GroupByKey()
      | 'WriteShard' >> beam.MapTuple(
          lambda name, outcomes: write_temp_shard(output_dir, name, outcomes)))
  _ = (
      attempts
      | 'AllShards' >> beam.combiners.ToList()
      | 'Finalise' >> beam.Map(finalise_shards, list(shards), config,
                               run_fingerprint, dict(manifest)))


def parse_pipeline_options(
    args: Sequence[str]) -> pipeline_options.PipelineOptions:
  """Beam's PipelineOptions of command-line `args`, checked before any work.

  Options unknown to Beam's parser are left to Beam, which discards them
  with a warning: portable runners (Flink, Spark) accept options of their
  job service that this parser does not know.

  Raises:
    InputError: An option has an invalid value or the runner is unknown.
  """
  options = pipeline_options.PipelineOptions(list(args))
  usage = io.StringIO()
  try:
    # argparse prints its usage and the error, then exits.
    with contextlib.redirect_stderr(usage):
      options.get_all_options()
  except SystemExit as e:
    error = usage.getvalue().strip().splitlines()[-1:] or [str(e)]
    raise sources.InputError(
        'Beam pipeline option: ' + error[0].split(' error: ', 1)[-1]) from e
  runner = options.view_as(pipeline_options.StandardOptions).runner
  if runner:
    try:
      beam_runner.create_runner(runner)
    except (ValueError, ImportError) as e:
      raise sources.InputError(
          'Beam runner: ' + ' '.join(str(e).split())) from e
  return options


def write_shards(shards: Dict[str, List[sources.VideoEntry]],
                 config: converter.ConversionConfig, run_fingerprint: str,
                 manifest: Dict[str, dict],
                 pipeline_args: Sequence[str] = ()) -> None:
  """A `converter.ShardWriter` running a Beam pipeline to completion.

  Args:
    shards: {shard name: videos in shard order} to write.
    config: Output and decoding settings; `num_workers` is not used, the
      runner's options set the parallelism.
    run_fingerprint: Fingerprint of the run, saved in the manifest.
    manifest: The finished shards; updated with the written ones.
    pipeline_args: Command-line options of Beam's `PipelineOptions`, e.g.
      `--runner=DirectRunner --direct_num_workers=2`.

  Raises:
    InputError: The pipeline options are unusable.
  """
  if not shards:
    return
  options = parse_pipeline_options(pipeline_args)
  try:
    pipeline = beam.Pipeline(options=options)
  except ValueError as e:  # the runner's own checks, e.g. Dataflow's
    raise sources.InputError(
        'Beam pipeline options: ' + ' '.join(str(e).split())) from e
  with pipeline:
    build_pipeline(pipeline, shards, config, run_fingerprint, manifest)
  saved = records.read_json(
      os.path.join(config.output_dir, records.manifest_name(config.split)))
  manifest.update(saved['shards'])
