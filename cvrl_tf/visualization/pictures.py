"""Renders clips as grids of frame strips: numpy / Pillow images and PNGs.

A grid has rows and columns of cells; a cell shows one clip [T, H, W, 3] as
a strip of its T frames left to right, `FRAME_GAP` pixels apart, inside a
`BORDER`-pixel frame (coloured to mark it, e.g. a correct or a wrong
neighbour), with an optional caption under it. Rows may have titles on the
left, columns titles on top. Frames are pasted pixel for pixel (no
resampling), so a frame of the picture is the clip's frame exactly;
`GridLayout.frame_box` says where each one is.
"""
import dataclasses
import io
import os
from typing import Optional, Sequence, Tuple

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont
import tensorflow as tf

FRAME_GAP = 2
BORDER = 3
PAD = 6
BACKGROUND = (255, 255, 255)
TEXT_COLOR = (0, 0, 0)
CORRECT_COLOR = (0, 160, 0)
WRONG_COLOR = (210, 0, 0)
QUERY_COLOR = (60, 60, 200)

Color = Tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class Cell:
  """One clip of a grid: uint8 [T, H, W, 3], caption and border colour."""
  clip: np.ndarray
  caption: str = ''
  border: Optional[Color] = None


@dataclasses.dataclass(frozen=True)
class GridLayout:
  """Where the cells and frames of a rendered grid are, in pixels."""
  num_frames: int
  frame_height: int
  frame_width: int
  left: int
  top: int
  cell_pitch_x: int
  cell_pitch_y: int

  def frame_box(self, row: int, column: int,
                frame: int) -> Tuple[int, int, int, int]:
    """(top, left, bottom, right) of one frame: image[top:bottom, left:right]."""
    top = self.top + row * self.cell_pitch_y + BORDER
    left = (self.left + column * self.cell_pitch_x + BORDER
            + frame * (self.frame_width + FRAME_GAP))
    return top, left, top + self.frame_height, left + self.frame_width


def to_uint8(images: tf.Tensor, zero_centered: bool) -> tf.Tensor:
  """Model inputs in [0, 1] ([-1, 1] if `zero_centered`), any float, to uint8.

  uint8 inputs (device augmentation's unfinished views) pass unchanged.
  """
  images = tf.convert_to_tensor(images)
  if images.dtype == tf.uint8:
    return images
  images = tf.cast(images, tf.float32)
  if zero_centered:
    images = (images + 1.0) * 0.5
  return tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0),
                 tf.uint8)


def _font() -> ImageFont.ImageFont:
  return ImageFont.load_default()


def _text_width(text: str, font) -> int:
  """Width in pixels of possibly multi-line `text`; 0 if empty."""
  if not text:
    return 0
  return ImageDraw.Draw(Image.new('RGB', (1, 1))).multiline_textbbox(
      (0, 0), text, font=font)[2]


def _lines_height(num_lines: int, font) -> int:
  """Height in pixels of `num_lines` lines, whatever their letters."""
  if not num_lines:
    return 0
  return ImageDraw.Draw(Image.new('RGB', (1, 1))).multiline_textbbox(
      (0, 0), '\n'.join(['Tg'] * num_lines), font=font)[3]


def _num_lines(text: str) -> int:
  return len(text.split('\n')) if text else 0


def render_grid(cells: Sequence[Sequence[Cell]],
                row_titles: Optional[Sequence[str]] = None,
                column_titles: Optional[Sequence[str]] = None
               ) -> Tuple[np.ndarray, GridLayout]:
  """Draws a grid of clips.

  Args:
    cells: rows of cells; all clips share one shape [T, H, W, 3], uint8.
    row_titles: one (multi-line) title per row, drawn on the left.
    column_titles: one title per column, drawn on top.

  Returns:
    (uint8 image [height, width, 3], its layout).
  """
  clips = [cell.clip for row in cells for cell in row]
  if not clips:
    raise ValueError('A grid needs at least one clip.')
  num_frames, height, width, _ = clips[0].shape
  if any(clip.shape != clips[0].shape or clip.dtype != np.uint8
         for clip in clips):
    raise ValueError('All clips of a grid must be uint8 of one shape.')
  font = _font()
  # Heights depend on the number of lines only, so that a layout can be
  # computed without the texts.
  caption_height = _lines_height(
      max(_num_lines(cell.caption) for row in cells for cell in row), font)
  caption_height += 2 if caption_height else 0
  title_width = max((_text_width(t, font) for t in row_titles or ()),
                    default=0)
  title_height = _lines_height(
      max((_num_lines(t) for t in column_titles or ()), default=0), font)
  cell_width = 2 * BORDER + num_frames * width + (num_frames - 1) * FRAME_GAP
  cell_height = 2 * BORDER + height + caption_height
  layout = GridLayout(
      num_frames=num_frames, frame_height=height, frame_width=width,
      left=PAD + (title_width + PAD if title_width else 0),
      top=PAD + (title_height + 2 if title_height else 0),
      cell_pitch_x=cell_width + PAD, cell_pitch_y=cell_height + PAD)
  num_columns = max(len(row) for row in cells)
  image = np.empty([layout.top + len(cells) * layout.cell_pitch_y,
                    layout.left + num_columns * layout.cell_pitch_x, 3],
                   np.uint8)
  image[:] = BACKGROUND
  for r, row in enumerate(cells):
    for c, cell in enumerate(row):
      top, left, _, _ = layout.frame_box(r, c, 0)
      if cell.border is not None:
        image[top - BORDER:top + height + BORDER,
              left - BORDER:left + cell_width - BORDER] = cell.border
      for t in range(num_frames):
        frame_top, frame_left, bottom, right = layout.frame_box(r, c, t)
        image[frame_top:bottom, frame_left:right] = cell.clip[t]
  picture = Image.fromarray(image)
  draw = ImageDraw.Draw(picture)
  for r, title in enumerate(row_titles or ()):
    draw.multiline_text((PAD, layout.top + r * layout.cell_pitch_y + BORDER),
                        title, fill=TEXT_COLOR, font=font)
  for c, title in enumerate(column_titles or ()):
    draw.text((layout.left + c * layout.cell_pitch_x + BORDER, PAD), title,
              fill=TEXT_COLOR, font=font)
  for r, row in enumerate(cells):
    for c, cell in enumerate(row):
      top, left, _, _ = layout.frame_box(r, c, 0)
      draw.multiline_text((left, top + height + BORDER + 1), cell.caption,
                          fill=TEXT_COLOR, font=font)
  return np.asarray(picture), layout


def view_pair_images(view_1: np.ndarray, view_2: np.ndarray) -> np.ndarray:
  """One picture per video of its two views as frame strips, one above the other.

  Args:
    view_1: uint8 [N, T, H, W, 3].
    view_2: uint8 [N, T, H, W, 3], the same videos' second views.

  Returns:
    uint8 [N, height, width, 3].
  """
  return np.stack([
      render_grid([[Cell(first)], [Cell(second)]],
                  row_titles=['view 1', 'view 2'])[0]
      for first, second in zip(view_1, view_2)])


def encode_png(image: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='PNG')
  return buffer.getvalue()


def write_png(path: str, image: np.ndarray) -> None:
  """Writes a uint8 [H, W, 3] image as a PNG on any tf.io.gfile path."""
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(encode_png(image))
