"""A local copy of UCF-101 as TensorFlow Datasets' download of it, so that
`tfds build ucf101` prepares the dataset without downloading 7 GB again.

TFDS's ucf101 builder downloads two archives, named in its registered
checksums (`tfds.builder_cls('ucf101').url_infos`):

  UCF101_videos.zip    `UCF101/v_<Class>_g<GG>_c<CC>.avi`, one flat folder
  UCF101TrainTestSplits-RecognitionTask.zip
                       `ucfTrainTestlist/classInd.txt`, `trainlist0N.txt`,
                       `testlist0N.txt`

Its `DownloadManager` takes a URL as downloaded when
`<download_dir>/ucf101/<name>` and `<name>.INFO` exist, `<name>` being made
from the URL and its registered checksum (`resource.get_dl_fname`), and
then trusts the file without hashing it. `seed_download_cache` writes both
archives there from a local copy: the videos as the UCF101.rar of the
dataset's site unpacks them (`<Class>/v_*.avi`, or any folder tree) and its
split lists. TFDS then extracts them and encodes every video with ffmpeg as
it would after a download. The checksum is the user's word: the archives
are not the published bytes, only the same videos and lists.
"""
import dataclasses
import os
import zipfile
from typing import Dict, List, Sequence, Tuple

from etils import epath
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import resource

from cvrl_tf.data_prep import sources

DATASET = 'ucf101'
VIDEOS_FOLDER = 'UCF101'
SPLITS_FOLDER = 'ucfTrainTestlist'
CLASS_INDEX = 'classInd.txt'
VIDEO_EXTENSION = '.avi'
# {spelling in the split lists' (and UCF101.rar's) file names: in TFDS's
# archive}: the builder looks for the latter. The class is HandstandPushups.
LIST_SPELLINGS = {'HandStandPushups': 'HandstandPushups'}


@dataclasses.dataclass(frozen=True)
class CachedArchives:
  """Where `seed_download_cache` put the two archives, and what they hold."""
  videos_zip: str
  splits_zip: str
  num_videos: int
  split_lists: List[str]


def archive_name(video_name: str) -> str:
  """The name in TFDS's video archive of a video of the split lists."""
  for listed, archived in LIST_SPELLINGS.items():
    video_name = video_name.replace(listed, archived)
  return video_name


def split_lists(split_dir: str) -> List[str]:
  """The files of the split folder that TFDS's split archive holds."""
  if not os.path.isdir(split_dir):
    raise sources.InputError(f'split folder {split_dir} does not exist')
  names = sorted(name for name in os.listdir(split_dir)
                 if name == CLASS_INDEX or name.startswith(('trainlist',
                                                           'testlist')))
  if CLASS_INDEX not in names or len(names) < 3:
    raise sources.InputError(
        f'{split_dir} must hold {CLASS_INDEX} and trainlist0N.txt / '
        f'testlist0N.txt (found: {", ".join(names) or "nothing"})')
  return names


def listed_videos(split_dir: str) -> List[str]:
  """Archive names of every video the split lists of `split_dir` name."""
  names = set()
  for list_name in split_lists(split_dir):
    if list_name == CLASS_INDEX:
      continue
    videos, _ = sources.read_ucf101_split(
        os.path.join(split_dir, list_name), '')
    names.update(archive_name(os.path.basename(v.video_id)) for v in videos)
  return sorted(names)


def find_videos(video_dir: str) -> Dict[str, str]:
  """{archive name: path} of the .avi files at any depth of `video_dir`.

  Raises:
    InputError: two files would have the same name in the archive.
  """
  found = {}
  for root, _, files in os.walk(video_dir):
    for name in sorted(files):
      if not name.endswith(VIDEO_EXTENSION):
        continue
      path = os.path.join(root, name)
      key = archive_name(name)
      if key in found:
        raise sources.InputError(
            f'two videos named {key} in {video_dir}: {found[key]}, {path}')
      found[key] = path
  return found


@dataclasses.dataclass(frozen=True)
class Download:
  """One of the builder's registered downloads and where TFDS caches it."""
  url: str
  info: tfds.download.checksums.UrlInfo
  path: str


def registered_downloads(download_dir: str) -> Dict[str, Download]:
  """{'videos' | 'splits': Download} of TFDS's ucf101 in `download_dir`."""
  url_infos = tfds.builder_cls(DATASET).url_infos
  downloads = {}
  for url, info in url_infos.items():
    key = 'videos' if url.endswith('/UCF101_videos.zip') else 'splits'
    downloads[key] = Download(url, info, os.path.join(
        download_dir, DATASET, resource.get_dl_fname(url, info.checksum)))
  if set(downloads) != {'videos', 'splits'}:
    raise RuntimeError(f'unexpected URLs of TFDS ucf101: {sorted(url_infos)}')
  return downloads


def _write_zip(download: Download, members: Sequence[Tuple[str, str]]
              ) -> None:
  """A stored (uncompressed) zip of (archive name, local path) members.

  Written next to its path and renamed, and its `.INFO` file after it: TFDS
  never sees a partial archive as downloaded, and a rerun starts over.
  """
  partial = download.path + '.partial'
  with zipfile.ZipFile(partial, 'w', zipfile.ZIP_STORED) as archive:
    for name, local_path in members:
      archive.write(local_path, name)
  os.replace(partial, download.path)
  resource.write_info_file(url=download.url, path=epath.Path(download.path),
                           dataset_name=DATASET,
                           original_fname=os.path.basename(download.url),
                           url_info=download.info)


def seed_download_cache(video_dir: str, split_dir: str,
                        download_dir: str) -> CachedArchives:
  """Writes TFDS's two ucf101 downloads into `download_dir` from local files.

  Args:
    video_dir: the videos, `v_<Class>_g<GG>_c<CC>.avi` at any depth (e.g.
      `UCF-101/<Class>/` as UCF101.rar unpacks).
    split_dir: `classInd.txt`, `trainlist0N.txt` and `testlist0N.txt`
      (`ucfTrainTestlist/` of the split archive).
    download_dir: TFDS's download directory, as given to `tfds build
      --download_dir` (default `<data_dir>/downloads`).

  Returns:
    The archives written and what they hold.

  Raises:
    InputError: a video of the lists is not in `video_dir`, or the split
      folder lacks a list.
  """
  lists = split_lists(split_dir)
  videos = find_videos(video_dir)
  missing = [name for name in listed_videos(split_dir) if name not in videos]
  if missing:
    raise sources.InputError(
        f'{len(missing)} videos of the split lists are not in {video_dir}: '
        f'{", ".join(missing[:5])}{" ..." if len(missing) > 5 else ""}')
  downloads = registered_downloads(download_dir)
  os.makedirs(os.path.dirname(downloads['videos'].path), exist_ok=True)
  _write_zip(downloads['splits'], [(f'{SPLITS_FOLDER}/{name}',
                                os.path.join(split_dir, name))
                               for name in lists])
  _write_zip(downloads['videos'], [(f'{VIDEOS_FOLDER}/{name}', path)
                               for name, path in sorted(videos.items())])
  return CachedArchives(downloads['videos'].path, downloads['splits'].path,
                        len(videos), lists)
