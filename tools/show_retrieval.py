"""Draws validation videos and the training videos nearest to them.

  python tools/show_retrieval.py --experiment=cvrl_knn_eval \
    --config_file=cvrl_tf/configs/experiments/cvrl_knn_eval_ucf101_split1.yaml \
    --checkpoint_path=gs://bucket/pretrain --output=retrieval.png \
    --num_queries=8 --k=5

or, instead of the experiment's data, two splits of a dataset built by
`tfds build` (queries from --tfds_split, the gallery from
--tfds_gallery_split):

    --tfds_name=ucf101/ucf101_1 --tfds_split=test --tfds_data_dir=/data/tfds

A row per query: its clip, then its k nearest training videos (cosine
similarity of encoder features, as the kNN evaluation measures it), each
with its label and similarity, framed green when its label is the query's
and red when not; see `cvrl_tf.visualization.retrieval_pictures`.
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags

from cvrl_tf import common_flags
from cvrl_tf import registry_imports  # pylint: disable=unused-import
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.visualization import retrieval_pictures

_CHECKPOINT_FLAGS = common_flags.define_checkpoint_flags()
_OUTPUT = flags.DEFINE_string('output', 'retrieval.png',
                              'The PNG file to write, local or gs://.')
_NUM_QUERIES = flags.DEFINE_integer(
    'num_queries', 8, 'Queries: the first validation videos.', lower_bound=1)
_K = flags.DEFINE_integer('k', 5, 'Neighbours per query.', lower_bound=1)
_TFDS = common_flags.define_tfds_flags(
    "the experiment's data", 'The split of the queries, e.g. test.')
_TFDS_GALLERY_SPLIT = flags.DEFINE_string(
    'tfds_gallery_split', 'train', 'With --tfds_name: the split searched.')
_FRAMES_PER_CLIP = flags.DEFINE_integer(
    'frames_per_clip', 4, 'Frames shown of each clip.', lower_bound=1)


def main(argv):
  del argv
  try:
    params = _CHECKPOINT_FLAGS.experiment_params()
    if _TFDS.name.value:
      params = retrieval_pictures.read_tfds(
          params, _TFDS.name.value, _TFDS.split.value,
          _TFDS_GALLERY_SPLIT.value, _TFDS.data_dir.value)
    # The gallery and the queries.
    config_validation.validate(params, 'train_and_eval')
    examples = retrieval_pictures.write_retrieval_grid(
        params,
        _CHECKPOINT_FLAGS.checkpoint_path.value, _OUTPUT.value,
        _NUM_QUERIES.value, _K.value, _FRAMES_PER_CLIP.value)
  except common_flags.CHECKPOINT_TOOL_ERRORS + (ValueError,) as e:
    sys.exit(f'error: {e}')
  print(f'Wrote {_OUTPUT.value}: {len(examples.query_ids)} queries, '
        f'{examples.correct.mean():.0%} of their neighbours of their class')


if __name__ == '__main__':
  app.run(main)
