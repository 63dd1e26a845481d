"""Benchmark runs keyed by everything that defines them.

A run's definition is plain JSON data (settings, seeds, data generation
parameters, full experiment configs). Its key is a hash of that data, and
its folder holds the definition in `definition.json`. A folder is reused
only by the same definition: a rerun with another budget or data finds
another folder, and a folder whose recorded definition differs (or that
holds results but no definition) is refused rather than resumed.
"""
import hashlib
import json
import os
from typing import Any, Dict, List

import tensorflow as tf

DEFINITION_FILE = 'definition.json'
# Config fields that say where data lives, not what it is: the data is
# defined by its own generation parameters in the definition.
PATH_FIELDS = ('input_path',)
# Config fields added after runs were recorded, each with the value that
# keeps the earlier behaviour. At that value a definition leaves the field
# out, so adding a field does not make every earlier run stale; at any other
# value it is part of the definition. A field missing here only costs a
# rerun, never a wrong reuse. A field entered here after runs recorded it
# changes their keys: `run_records.rekey` renames their records.
ADDED_FIELDS = {
    # Checked bitwise when each was added.
    'test_clip_starts': 'even',      # TCLR's retrieval clips are 'tclr'
    'flow_photometric': 'none',      # the flow options act only with
    'flow_flip': 'mirror_image',     # read_flow
    'flow_crop_scale': 'keep',
    # Added between the learning curve (commit 5cd87f9) and the grid (commit
    # 4ec7c51). Checked bitwise on the curve's config: 3 steps of the toy
    # preset on the same toy records gave the same first batch, per-step
    # losses and metrics, checkpointed weights and optimizer slots, and test
    # features at 5cd87f9, at 63f3723 with every field below at this value,
    # and before and after the commit that added each field (named).
    'view_blur_solarize': 'symmetric',            # 3f243b9
    'crop_sampler': 'inception',                  # 0811a69
    'contrast_mean': 'frame',                     # cda9a41
    'truncate_resized_frames': False,             # cda9a41
    'read_flow': False,                           # 68f4ad0
    'projection_head': 'simclr',                  # 41f4a4e
    'projection_norm_momentum': None,             # 41f4a4e
    'l2_weight_decay': 0.0,                       # 41f4a4e
    'loss_over_replicas': 'mean',                 # de6d1fd (one device)
    'view_summary_videos': 3,                     # a8b6a75
    'stem_max_pool': True,                        # bcc50b1
    'stage_temporal_strides': [1, 1, 1, 1],       # bcc50b1
    'stage_temporal_dilations': [1, 1, 1, 1],     # bcc50b1
    'second_conv_temporal_kernel_size': 1,        # bcc50b1
}


class DefinitionMismatchError(ValueError):
  """A run folder belongs to another definition (or to an unknown one)."""


def defining_config(config: Any) -> Any:
  """`config` (nested dicts and lists) as it defines a run.

  Without the `PATH_FIELDS` entries, and without the `ADDED_FIELDS` entries
  that hold their earlier behaviour's value.
  """
  if isinstance(config, dict):
    return {k: defining_config(v) for k, v in config.items()
            if k not in PATH_FIELDS and not _at_earlier_behaviour(k, v)}
  if isinstance(config, (list, tuple)):
    return [defining_config(v) for v in config]
  return config


def _at_earlier_behaviour(field: str, value: Any) -> bool:
  """Whether `field` is an `ADDED_FIELDS` entry at its earlier value, as
  JSON (a tuple is its list; 0 is neither False nor 0.0)."""
  return field in ADDED_FIELDS and (
      json.dumps(value) == json.dumps(ADDED_FIELDS[field]))


def canonical_json(definition: Dict[str, Any]) -> str:
  """One text per definition: sorted keys, tuples as lists, no spaces."""
  return json.dumps(definition, sort_keys=True, separators=(',', ':'))


def definition_key(definition: Dict[str, Any]) -> str:
  """12 hex digits of the SHA-256 of the canonical definition."""
  return hashlib.sha256(canonical_json(definition).encode()).hexdigest()[:12]


def run_name(definition: Dict[str, Any]) -> str:
  """<setting>-seed<N>-<key>: names a run's folder and its record."""
  return (f"{definition['setting']['name']}-seed{definition['seed']}-"
          f'{definition_key(definition)}')


def differing_fields(recorded: Any, expected: Any,
                     prefix: str = '') -> List[str]:
  """Dotted paths of the leaves in which two definitions differ, sorted."""
  if isinstance(recorded, dict) and isinstance(expected, dict):
    return sorted(path for k in set(recorded) | set(expected)
                  for path in differing_fields(
                      recorded.get(k), expected.get(k), f'{prefix}{k}.'))
  return [] if recorded == expected else [prefix.rstrip('.') or '(all)']


def describe_differences(recorded: Any, expected: Any, limit: int = 6) -> str:
  """'a.b, c (and N more)': the first `limit` differing fields."""
  fields = differing_fields(recorded, expected)
  more = f' (and {len(fields) - limit} more)' if len(fields) > limit else ''
  return ', '.join(fields[:limit]) + more


def claim_run_dir(run_dir: str, definition: Dict[str, Any]) -> None:
  """Makes `run_dir` the home of `definition`, or refuses a foreign folder.

  Args:
    run_dir: the run's folder; created if missing.
    definition: the run's definition.

  Raises:
    DefinitionMismatchError: the folder records another definition, or holds
      files but no definition (nothing says what its checkpoints are).
  """
  path = os.path.join(run_dir, DEFINITION_FILE)
  expected = json.loads(canonical_json(definition))
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      recorded = json.load(f)
    if recorded != expected:
      raise DefinitionMismatchError(
          f'{run_dir} holds a run of another definition (differs in '
          f'{describe_differences(recorded, expected)}); remove it or use '
          'another work_dir.')
    return
  if tf.io.gfile.exists(run_dir) and tf.io.gfile.listdir(run_dir):
    raise DefinitionMismatchError(
        f'{run_dir} holds files but no {DEFINITION_FILE}, so its checkpoints '
        'may belong to another run; remove it or use another work_dir.')
  record_definition(run_dir, definition)


def record_definition(run_dir: str, definition: Dict[str, Any]) -> None:
  """Writes `run_dir`/definition.json (renamed into place, never partial)."""
  tf.io.gfile.makedirs(run_dir)
  path = os.path.join(run_dir, DEFINITION_FILE)
  with tf.io.gfile.GFile(path + '.partial', 'w') as f:
    json.dump(json.loads(canonical_json(definition)), f, indent=2,
              sort_keys=True)
  tf.io.gfile.rename(path + '.partial', path, overwrite=True)
