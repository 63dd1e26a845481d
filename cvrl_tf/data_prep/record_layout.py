"""The record of one converted video: what the converter writes and the
input pipeline reads.

One `tf.train.SequenceExample` per video, in the DMVR / Model Garden layout
that `official.vision.dataloaders.video_input.Decoder` parses:

  context:
    clip/label/index   int64   label index (-1 when unlabeled)
    clip/label/text    bytes   label name
    video/id           bytes   video identifier
    video/fps          float   frame rate of the stored frames
    video/source_fps   float   frame rate of the source video
    video/num_frames   int64   number of stored frames
  feature_lists:
    image/encoded      bytes   one JPEG per frame
"""

IMAGE_KEY = 'image/encoded'
LABEL_INDEX_KEY = 'clip/label/index'
LABEL_TEXT_KEY = 'clip/label/text'
VIDEO_ID_KEY = 'video/id'
FPS_KEY = 'video/fps'
SOURCE_FPS_KEY = 'video/source_fps'
NUM_FRAMES_KEY = 'video/num_frames'
