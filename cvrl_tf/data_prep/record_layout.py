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
    flow/method        bytes   'tvl1' or 'farneback' (only with flow)
  feature_lists:
    image/encoded      bytes   one JPEG per frame
    flow/encoded       bytes   only with flow: one JPEG (quality 100, 4:4:4)
                               per consecutive frame pair, N - 1 for N frames

Flow i is the motion from frame i to frame i + 1, in pixels of the stored
frames, computed after resizing. A flow image decoded as RGB holds x (right
positive) in R and y (down positive) in G, each clipped to +-FLOW_BOUND and
mapped to round((v + FLOW_BOUND) * 255 / (2 * FLOW_BOUND)), and
FLOW_FILL_VALUE in B. ViCC and CoCLR (`extract_ff.py`) write x and y with
OpenCV into channels 0 and 1 of a BGR image, so decoded as RGB their x is in
B and their R holds 128: their image is this one with the channels reversed.
"""

IMAGE_KEY = 'image/encoded'
LABEL_INDEX_KEY = 'clip/label/index'
LABEL_TEXT_KEY = 'clip/label/text'
VIDEO_ID_KEY = 'video/id'
FPS_KEY = 'video/fps'
SOURCE_FPS_KEY = 'video/source_fps'
NUM_FRAMES_KEY = 'video/num_frames'
FLOW_KEY = 'flow/encoded'
FLOW_METHOD_KEY = 'flow/method'
# ViCC's and CoCLR's `extract_ff.py`: bound=20, third channel 128.
FLOW_BOUND = 20.0
FLOW_FILL_VALUE = 128
