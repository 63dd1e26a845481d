"""Lists the labeled videos of a dataset from its folder tree or index files.

Every reader returns the videos, each with its label name, and the dataset's
own label map {label name: index}. Index files and folders are read through
`tf.io.gfile`, so they can be local or on `gs://`; the video paths listed
are where the files are, local or `gs://` (see `is_remote`).

Accepted layouts:
  * Folder per class: `VIDEO_DIR/<label>/**/<video>`. Labels are indexed in
    sorted folder order; hidden files are ignored.
  * `path,label` CSV: one video per row, an optional header row whose first
    cell is `path`, paths relative to the video root when one is given.
    Labels are names indexed in sorted order, or, when every label is an
    integer, indices used as they are.
  * Kinetics CSV, recognised by its header
    `label,youtube_id,time_start,time_end,split`: the video of a row is the
    file under the video root (at any depth, with any extension) named
    `<youtube_id>_<time_start:06d>_<time_end:06d>.<ext>` or
    `<youtube_id>.<ext>`, e.g. `ROOT/<label>/<id>_000010_000020.mp4`.
    Rows without a file are kept and reported as failed by the converter.
    Labels are indexed in sorted order; an empty label gives index -1.
  * UCF101 split list (`trainlist0N.txt` rows `Class/v_Class_gXX_cYY.avi N`
    or `testlist0N.txt` rows without the number) with `classInd.txt`
    (`N Class`, 1-based): files at `ROOT/Class/v_Class_gXX_cYY.avi`.
  * HMDB51 split folder with `<class>_test_split<N>.txt` files whose rows are
    `<video> <tag>`, tag 1 = train, 2 = test, 0 = unused: files at
    `ROOT/<class>/<video>`. Classes are indexed in sorted order.
"""

import collections
import csv
import dataclasses
import io
import json
import os
import re
from typing import (Dict, Iterable, Iterator, List, Optional, Sequence, Set,
                    Tuple)

import tensorflow as tf

LabelMap = Dict[str, int]

_KINETICS_COLUMNS = ('label', 'youtube_id', 'time_start', 'time_end')
_HMDB51_SUBSET_TAGS = {'train': '1', 'test': '2'}


class InputError(ValueError):
  """The inputs or settings given for a conversion are unusable."""


@dataclasses.dataclass(frozen=True)
class VideoEntry:
  """One video to convert.

  Attributes:
    path: Path of the video file, local or `gs://`.
    video_id: Identifier unique within the dataset, stored in its record.
    label_text: Label name; empty when the video is unlabeled.
    label_index: Label index; -1 until assigned, and for unlabeled videos.
  """
  path: str
  video_id: str
  label_text: str
  label_index: int = -1


def is_remote(path: str) -> bool:
  """True for a path of a file system other than the local one (`gs://`)."""
  return '://' in path


def _read_text(path: str) -> str:
  """The contents of a local or `gs://` text file; InputError if unreadable."""
  try:
    with tf.io.gfile.GFile(path) as f:
      return f.read()
  except (OSError, tf.errors.OpError) as e:
    message = e.message if isinstance(e, tf.errors.OpError) else e
    raise InputError(f'cannot read {path}: {message}') from e


def default_label_map(label_texts: Iterable[str]) -> LabelMap:
  """Indexes labels in sorted order, or uses integer labels as indices."""
  names = sorted(set(label_texts) - {''})
  if names and all(re.fullmatch(r'-?\d+', name) for name in names):
    return {name: int(name) for name in names}
  return {name: index for index, name in enumerate(names)}


def load_label_map(path: str) -> LabelMap:
  """Reads a JSON object {label name: integer index}."""
  text = _read_text(path)
  try:
    label_map = json.loads(text)
  except ValueError as e:
    raise InputError(f'cannot read label map {path}: {e}') from e
  if not isinstance(label_map, dict) or not all(
      isinstance(index, int) for index in label_map.values()):
    raise InputError(f'label map {path} is not a JSON object of integers')
  return label_map


def assign_label_indices(videos: Sequence[VideoEntry],
                         label_map: LabelMap) -> List[VideoEntry]:
  """Returns the videos with `label_index` set from `label_map`.

  Raises:
    InputError: A label is missing from the map.
  """
  missing = sorted({v.label_text for v in videos} - set(label_map) - {''})
  if missing:
    raise InputError(f'labels missing from the label map: {missing[:10]}')
  return [
      dataclasses.replace(v, label_index=label_map.get(v.label_text, -1))
      for v in videos
  ]


def _is_hidden(name: str) -> bool:
  return name.startswith('.')


def _list_folder(folder: str) -> Tuple[List[str], List[str]]:
  """The sorted (sub-folder, file) names of a local or `gs://` folder.

  Hidden names are left out. A GCS listing marks sub-folders with a
  trailing '/'; telling them apart this way, rather than by
  `tf.io.gfile.isdir` per name as `tf.io.gfile.walk` does, costs one request
  per folder instead of one or two per file (a Kinetics folder holds 240k).
  """
  folders, files = [], []
  for name in tf.io.gfile.listdir(folder):
    if name.endswith('/'):
      folders.append(name.rstrip('/'))
    elif not is_remote(folder) and os.path.isdir(os.path.join(folder, name)):
      folders.append(name)
    else:
      files.append(name)
  return ([name for name in sorted(folders) if not _is_hidden(name)],
          [name for name in sorted(files) if not _is_hidden(name)])


def _files_under(folder: str, relative: str = '',
                 visited: Optional[Set[str]] = None
                 ) -> Iterator[Tuple[str, str]]:
  """(path, path relative to `folder`) of every non-hidden file under it.

  A local folder reached again through a symbolic link (a loop, or a link to
  a folder already listed) is listed once: its files are not converted twice
  under two ids, and a loop cannot recurse without end.
  """
  current = os.path.join(folder, relative) if relative else folder
  visited = set() if visited is None else visited
  if not is_remote(current):
    real = os.path.realpath(current)
    if real in visited:
      return
    visited.add(real)
  subfolders, files = _list_folder(current)
  for name in files:
    yield os.path.join(current, name), (
        f'{relative}/{name}' if relative else name)
  for name in subfolders:
    yield from _files_under(folder, f'{relative}/{name}' if relative else name,
                            visited)


def list_video_dir(video_dir: str) -> Tuple[List[VideoEntry], LabelMap]:
  """Lists `video_dir/<label>/**/<file>`; ids are paths relative to it."""
  video_dir = video_dir.rstrip('/')
  if not tf.io.gfile.isdir(video_dir):
    raise InputError(f'video directory not found: {video_dir}')
  labels, _ = _list_folder(video_dir)
  videos = []
  visited = set() if is_remote(video_dir) else {os.path.realpath(video_dir)}
  for label in labels:
    for path, video_id in _files_under(video_dir, label, visited):
      videos.append(VideoEntry(path, video_id, label))
  return videos, {label: index for index, label in enumerate(labels)}


def _read_csv_rows(csv_path: str) -> List[List[str]]:
  rows = csv.reader(io.StringIO(_read_text(csv_path), newline=''))
  return [row for row in rows if any(cell.strip() for cell in row)]


def _join_root(video_root: Optional[str], path: str) -> str:
  return os.path.join(video_root, path) if video_root else path


def read_csv(csv_path: str,
             video_root: Optional[str] = None
            ) -> Tuple[List[VideoEntry], LabelMap]:
  """Reads a `path,label` CSV, or a Kinetics CSV (detected by its header)."""
  rows = _read_csv_rows(csv_path)
  if not rows:
    raise InputError(f'{csv_path} lists no video')
  header = [cell.strip().lower() for cell in rows[0]]
  if set(_KINETICS_COLUMNS[1:]) <= set(header):
    if not video_root:
      raise InputError('a Kinetics CSV needs --video_root')
    return _read_kinetics_rows(header, rows[1:], video_root)
  if header[0] == 'path':
    rows = rows[1:]
  videos = []
  for line, row in enumerate(rows, start=1):
    if len(row) < 2:
      raise InputError(f'{csv_path}: row {line} is not "path,label": {row}')
    path, label = row[0].strip(), row[1].strip()
    videos.append(VideoEntry(_join_root(video_root, path), path, label))
  return videos, default_label_map(v.label_text for v in videos)


def _index_files_by_stem(video_root: str) -> Dict[str, str]:
  """Maps file names without extension to paths, for every file under root."""
  paths = {}
  if tf.io.gfile.isdir(video_root):
    for path, _ in _files_under(video_root.rstrip('/')):
      paths.setdefault(os.path.splitext(os.path.basename(path))[0], path)
  return paths


def _read_kinetics_rows(header: List[str], rows: List[List[str]],
                        video_root: str) -> Tuple[List[VideoEntry], LabelMap]:
  """Finds the files of Kinetics CSV rows; see the module docstring."""
  column = {name: header.index(name) for name in header}
  paths = _index_files_by_stem(video_root)
  videos = []
  for row in rows:
    youtube_id = row[column['youtube_id']].strip()
    start = int(float(row[column['time_start']]))
    end = int(float(row[column['time_end']]))
    label = row[column['label']].strip() if 'label' in column else ''
    video_id = f'{youtube_id}_{start:06d}_{end:06d}'
    path = paths.get(video_id) or paths.get(youtube_id) or os.path.join(
        video_root, label, video_id + '.mp4')
    videos.append(VideoEntry(path, video_id, label))
  return videos, default_label_map(v.label_text for v in videos)


def _read_lines(path: str) -> List[List[str]]:
  return [line.split() for line in _read_text(path).splitlines()
          if line.strip()]


def read_ucf101_split(split_file: str, video_root: str,
                      class_index_file: Optional[str] = None
                     ) -> Tuple[List[VideoEntry], LabelMap]:
  """Reads a UCF101 `trainlist0N.txt` / `testlist0N.txt` file.

  Args:
    split_file: The split list.
    video_root: Folder holding the `<Class>/<video>.avi` files.
    class_index_file: `classInd.txt`; defaults to the one next to
      `split_file`.

  Returns:
    The videos, with ids `<Class>/<video>.avi`, and the classInd label map
    shifted to 0-based indices.
  """
  if class_index_file is None:
    class_index_file = os.path.join(os.path.dirname(split_file), 'classInd.txt')
  label_map = {name: int(index) - 1
               for index, name in _read_lines(class_index_file)}
  videos = []
  for fields in _read_lines(split_file):
    relative_path = fields[0]
    label = relative_path.split('/')[0]
    videos.append(VideoEntry(os.path.join(video_root, relative_path),
                             relative_path, label))
  return videos, label_map


def read_hmdb51_split(split_dir: str, video_root: str, split_number: int = 1,
                      subset: str = 'train'
                     ) -> Tuple[List[VideoEntry], LabelMap]:
  """Reads the HMDB51 `<class>_test_split<N>.txt` files of one split.

  Args:
    split_dir: Folder holding the split files.
    video_root: Folder holding the `<class>/<video>.avi` files.
    split_number: Which of the three official splits.
    subset: 'train' or 'test'.

  Returns:
    The videos of the subset, with ids `<class>/<video>.avi`, and the label
    map of the classes in sorted order.
  """
  if subset not in _HMDB51_SUBSET_TAGS:
    raise InputError(f'HMDB51 subset must be train or test, not {subset!r}')
  suffix = f'_test_split{split_number}.txt'
  try:
    names = sorted(n for n in tf.io.gfile.listdir(split_dir)
                   if n.endswith(suffix))
  except tf.errors.OpError as e:
    raise InputError(f'cannot list {split_dir}: {e.message}') from e
  if not names:
    raise InputError(f'no *{suffix} file in {split_dir}')
  videos = []
  for name in names:
    label = name[:-len(suffix)]
    for video, tag in _read_lines(os.path.join(split_dir, name)):
      if tag == _HMDB51_SUBSET_TAGS[subset]:
        video_id = f'{label}/{video}'
        videos.append(VideoEntry(os.path.join(video_root, label, video),
                                 video_id, label))
  labels = [name[:-len(suffix)] for name in names]
  return videos, {label: index for index, label in enumerate(labels)}


def check_unique_ids(videos: Sequence[VideoEntry]) -> None:
  """Raises InputError if two videos share an id."""
  counts = collections.Counter(v.video_id for v in videos)
  duplicates = sorted(video_id for video_id, n in counts.items() if n > 1)
  if duplicates:
    raise InputError(f'videos listed more than once: {duplicates[:10]}')


def load_videos(video_dir: Optional[str] = None,
                csv_path: Optional[str] = None,
                ucf101_split_file: Optional[str] = None,
                hmdb51_split_dir: Optional[str] = None,
                video_root: Optional[str] = None,
                ucf101_class_index: Optional[str] = None,
                hmdb51_split_number: int = 1,
                hmdb51_subset: str = 'train',
                label_map_path: Optional[str] = None
               ) -> Tuple[List[VideoEntry], LabelMap]:
  """Lists and labels the videos of exactly one of the accepted sources.

  Args:
    video_dir: Folder-per-class tree.
    csv_path: `path,label` or Kinetics CSV.
    ucf101_split_file: UCF101 train or test list.
    hmdb51_split_dir: Folder of HMDB51 split files.
    video_root: Root of the video files named by a CSV or split list.
    ucf101_class_index: UCF101 `classInd.txt`, if not next to the list.
    hmdb51_split_number: HMDB51 split, 1 to 3.
    hmdb51_subset: HMDB51 'train' or 'test' videos.
    label_map_path: JSON {label name: index} used instead of the source's own
      label map.

  Returns:
    The videos with label indices, and the label map used.

  Raises:
    InputError: Not exactly one source given, a needed video root is missing,
      no video is listed, labels are missing from the label map or video ids
      are repeated.
  """
  given = [name for name, value in [('video_dir', video_dir), (
      'csv', csv_path), ('ucf101_split_file', ucf101_split_file), (
          'hmdb51_split_dir', hmdb51_split_dir)] if value]
  if len(given) != 1:
    raise InputError('give exactly one of --video_dir, --csv, '
                     f'--ucf101_split_file, --hmdb51_split_dir (got {given})')
  if (ucf101_split_file or hmdb51_split_dir) and not video_root:
    raise InputError(f'--{given[0]} needs --video_root')
  if video_dir:
    videos, label_map = list_video_dir(video_dir)
  elif csv_path:
    videos, label_map = read_csv(csv_path, video_root)
  elif ucf101_split_file:
    videos, label_map = read_ucf101_split(ucf101_split_file, video_root,
                                          ucf101_class_index)
  else:
    videos, label_map = read_hmdb51_split(hmdb51_split_dir, video_root,
                                          hmdb51_split_number, hmdb51_subset)
  if not videos:
    raise InputError(f'no video found in --{given[0]}')
  if label_map_path:
    label_map = load_label_map(label_map_path)
  check_unique_ids(videos)
  return assign_label_indices(videos, label_map), label_map
