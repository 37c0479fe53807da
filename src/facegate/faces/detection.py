"""MTCNN face detection (Zhang et al. 2016) in NumPy and OpenCV over its three networks, run by LiteRT.

A port of mtcnn 1.0.0's single-image pipeline (MIT licence, (c) 2019-2024 Iván de Paz Centeno) with that
package's weights and settings: the same pyramid, area resizing, proposals, suppression and refinements, so it
finds the faces that package finds (tests/test_conversion.py compares them) without importing TensorFlow.
"""
import functools
from dataclasses import dataclass

import numpy as np

from ..networks.models import ONET_SIDE, RNET_SIDE

MIN_FACE_SIDE = 20
"""Smallest face searched for, in pixels (mtcnn's min_face_size)."""
PYRAMID_FACTOR = 0.709
CELL_SIDE = 12
"""PNet sees 12x12 windows with a stride of 2 pixels."""
CELL_STRIDE = 2
THRESHOLDS = (0.6, 0.7, 0.8)
"""Face scores a candidate must exceed after PNet, RNet and ONet."""
NMS_PNET_SCALE, NMS_PNET, NMS_RNET, NMS_ONET = 0.5, 0.7, 0.7, 0.7
NMS_BLOCK = 1024
"""Candidates compared at a time in suppression: memory stays O(n x NMS_BLOCK), not O(n^2)."""
KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
PNET_TILE_SIDES = (40, 80, 160)
"""PNet runs on tiles of these sides (one pixel less along an odd side of the image) where a pyramid level's
shape is new: LiteRT plans a network again for every new input shape, which for PNet takes 2-3x as long as
running it, and the levels of a folder of mixed sizes are new shapes at every image. The tiles are 36 shapes,
each planned once per process (runtime.Network keeps them). They overlap by PNet's window and so cost ~50% more
than the whole level, but every score and offset equals the whole level's, bit for bit
(tests/test_detection.py). A level shape that recurs (a camera's frames) runs whole on an interpreter of its own."""
PNET_TILE_ELEMENTS = 3 * sum((a - i) * (b - j) for a in PNET_TILE_SIDES for b in PNET_TILE_SIDES
                             for i in (0, 1) for j in (0, 1))
"""Input numbers of all the tile shapes (~40 MB of LiteRT buffers when all are kept)."""
PNET_KEPT_ELEMENTS = PNET_TILE_ELEMENTS + 3 * 600_000
"""PNet inputs kept planned (runtime.Network): the tiles and one recurring pyramid of up to 600,000 pixels (a
1024x768 camera's; ~120 MB more)."""
PNET_CALL_COST, PNET_PIXEL_COST = 40.0, 0.037
"""Microseconds per PNet call and per input pixel on a tile (measured), to choose the cheapest tiling."""


@dataclass
class Detection:
    """A face as mtcnn reports it: box (x, y, width, height) and keypoints in whole pixels, ONet's score."""

    box: tuple
    confidence: float
    keypoints: dict


class Detector:
    """MTCNN over three runtime.Networks (callables taking a float32 batch (N, H, W, 3), returning the outputs)."""

    def __init__(self, pnet, rnet, onet):
        self.pnet, self.rnet, self.onet = pnet, rnet, onet

    def warm_up(self):
        """Run each network once on a blank input (LiteRT prepares its kernels on the first run)."""
        for network, side in ((self.pnet, CELL_SIDE), (self.rnet, RNET_SIDE), (self.onet, ONET_SIDE)):
            network(np.zeros((1, side, side, 3), np.float32))

    def detect(self, image):
        """The faces in an RGB uint8 array, highest score first."""
        height, width = image.shape[:2]
        normalized = normalized_pixels(image)
        boxes = self._proposals(normalized)
        if len(boxes):
            boxes = self._refined(normalized, boxes)
        if not len(boxes):
            return []
        return [_detection(row, width, height) for row in self._finished(normalized, boxes)]

    def _proposals(self, normalized):
        """PNet over the image pyramid: candidate squares [x1, y1, x2, y2, score]."""
        height, width = normalized.shape[:2]
        per_scale = []
        for scale in _pyramid(width, height):
            scaled = _area_resized(normalized, int(height * scale), int(width * scale))
            batch = scaled[None]
            if self.pnet.planned(batch.shape):
                offsets, scores = (output[0] for output in self.pnet(batch))
            else:
                offsets, scores = _pnet_maps(self.pnet, scaled)
            boxes = _windows(offsets, scores, THRESHOLDS[0])
            boxes[:, :4] /= scale
            per_scale.append(boxes[_kept(boxes, NMS_PNET_SCALE)])
        boxes = np.concatenate(per_scale) if per_scale else np.empty((0, 5))
        boxes = _by_score(boxes)
        return _squared(boxes[_kept(boxes, NMS_PNET)])

    def _refined(self, normalized, boxes):
        """RNet on 24x24 patches: rescored, regressed, suppressed squares."""
        offsets, scores = self.rnet(_patches(normalized, boxes, RNET_SIDE))
        boxes = _regressed(_rescored(boxes, scores), offsets)
        boxes = _by_score(boxes[boxes[:, 4] > THRESHOLDS[1]])
        return _squared(boxes[_kept(boxes, NMS_RNET)])

    def _finished(self, normalized, boxes):
        """ONet on 48x48 patches: final boxes, each followed by its five landmarks (x0..x4, y0..y4)."""
        offsets, points, scores = self.onet(_patches(normalized, boxes, ONET_SIDE))
        sides = np.stack([boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1], axis=1)
        landmarks = np.concatenate([
            sides[:, :1] * points[:, :5] + boxes[:, :1] - 1,
            sides[:, 1:] * points[:, 5:] + boxes[:, 1:2] - 1,
        ], axis=1)
        boxes = np.concatenate([_regressed(_rescored(boxes, scores), offsets), landmarks], axis=1)
        boxes = _by_score(boxes[boxes[:, 4] > THRESHOLDS[2]])
        return boxes[_kept(boxes, NMS_ONET, by_smaller_area=True)]


def normalized_pixels(image):
    """An RGB uint8 array as MTCNN's networks take it: (pixel - 127.5) / 128, exact in float32 (no float64 detour)."""
    normalized = image.astype(np.float32)
    normalized -= 127.5
    normalized /= 128
    return normalized


def _pyramid(width, height):
    count = round(-(np.log(min(width, height) / CELL_SIDE) / np.log(PYRAMID_FACTOR) + 1))
    return CELL_SIDE / MIN_FACE_SIDE * PYRAMID_FACTOR ** np.arange(count)


def _pnet_maps(pnet, level):
    """PNet's offset and score maps of one pyramid level, computed tile by tile (see PNET_TILE_SIDES)."""
    height, width = level.shape[:2]
    rows, columns = _tiling(height, width)
    maps = None
    for top, tile_height, first_row, row_count in rows:
        for left, tile_width, first_column, column_count in columns:
            tile = _padded_window(level, top, left, tile_height, tile_width)
            outputs = pnet(tile[None])
            if maps is None:
                maps = [np.empty((_output_cells(height), _output_cells(width), out.shape[-1]), np.float32)
                        for out in outputs]
            for whole, part in zip(maps, outputs):
                whole[top // 2 + first_row:top // 2 + first_row + row_count,
                      left // 2 + first_column:left // 2 + first_column + column_count] = \
                    part[0, first_row:first_row + row_count, first_column:first_column + column_count]
    return maps


def _output_cells(side):
    """PNet's output cells along an input side: 3x3 convolution, 2x2 max pooling ("same"), two 3x3 convolutions."""
    return -(-(side - 2) // 2) - 4


@functools.lru_cache(maxsize=1024)
def _tiling(height, width):
    """The cheapest tiles of a height x width level: (tiles along its height, tiles along its width)."""
    return min(((_tiles(height, tile_height), _tiles(width, tile_width))
                for tile_height in PNET_TILE_SIDES for tile_width in PNET_TILE_SIDES), key=_tiling_cost)


def _tiles(side, tile_side):
    """Tiles along one side of a level: (start, length, first output cell used, output cells used).

    Output cell i sees input rows 2i..2i+11. A tile starts at an even row, so its cells fall on the level's;
    it gives the cells whose rows it holds whole. Along an odd side the pooling's padding makes the level's last
    cell see 11 rows: tiles are one row shorter (odd) and the last ends at the level's edge, so its last cell is
    padded alike. The last tile ends at the edge and may start before the level (zeros; cells there unused)."""
    length = tile_side - side % 2
    step_cells = length // 2 - 5
    tiles, cell, cells = [], 0, _output_cells(side)
    while cell < cells:
        start = 2 * cell
        if start + length >= side:
            start = side - length
            tiles.append((start, length, cell - start // 2, cells - cell))
            break
        tiles.append((start, length, 0, step_cells))
        cell += step_cells
    return tiles


def _tiling_cost(tiling):
    rows, columns = tiling
    return len(rows) * len(columns) * (PNET_CALL_COST + PNET_PIXEL_COST * rows[0][1] * columns[0][1])


def _padded_window(level, top, left, height, width):
    """level[top:top + height, left:left + width], zeros where that lies before the level's first row or column."""
    if top >= 0 and left >= 0:
        return level[top:top + height, left:left + width]
    window = np.zeros((height, width, level.shape[2]), level.dtype)
    window[max(0, -top):, max(0, -left):] = level[max(0, top):top + height, max(0, left):left + width]
    return window


def _area_resized(image, height, width):
    """The float32 image shrunk by averaging each output pixel's span of input pixels: TensorFlow's AREA method,
    with which mtcnn builds its pyramid, as OpenCV's INTER_AREA computes it (the two agree within 5e-7)."""
    import cv2

    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _windows(offsets, scores, threshold):
    """PNet's score map as boxes [x1, y1, x2, y2, score] in the scaled image, highest score first."""
    rows, cols = np.nonzero(scores[:, :, 1] > threshold)
    dx1, dy1, dx2, dy2 = offsets[rows, cols].T
    x1, y1 = cols * CELL_STRIDE + 1, rows * CELL_STRIDE + 1
    x2, y2 = cols * CELL_STRIDE + CELL_SIDE, rows * CELL_STRIDE + CELL_SIDE
    side_x, side_y = x2 - x1, y2 - y1
    boxes = np.stack([x1 + dx1 * side_x, y1 + dy1 * side_y, x2 + dx2 * side_x, y2 + dy2 * side_y,
                      scores[rows, cols, 1]], axis=1).astype(np.float64)
    return _by_score(boxes)


def _by_score(boxes):
    return boxes[np.argsort(boxes[:, 4])[::-1]]


def _kept(boxes, threshold, by_smaller_area=False):
    """Indices of the boxes (highest score first) that no higher-scored box overlaps by more than threshold.

    Overlap is intersection over union, or over the smaller box's area. As in mtcnn, a box overlapped by a
    higher-scored box is dropped even when that box is dropped itself."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    kept = np.ones(len(boxes), dtype=bool)
    for start in range(0, len(boxes), NMS_BLOCK):
        block = slice(start, start + NMS_BLOCK)
        earlier = slice(0, min(len(boxes), start + NMS_BLOCK))
        width = np.maximum(0, np.minimum(x2[earlier, None], x2[None, block])
                           - np.maximum(x1[earlier, None], x1[None, block]))
        height = np.maximum(0, np.minimum(y2[earlier, None], y2[None, block])
                            - np.maximum(y1[earlier, None], y1[None, block]))
        inter = width * height
        if by_smaller_area:
            overlap = inter / np.minimum(areas[earlier, None], areas[None, block])
        else:
            overlap = inter / (areas[earlier, None] + areas[None, block] - inter)
        rows = np.arange(earlier.stop)[:, None]
        columns = np.arange(start, start + overlap.shape[1])[None, :]
        kept[block] = ~np.any((overlap > threshold) & (rows < columns), axis=0)
    return np.nonzero(kept)[0]


def _squared(boxes):
    boxes = boxes.copy()
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    boxes[:, 0] += width * 0.5 - side * 0.5
    boxes[:, 1] += height * 0.5 - side * 0.5
    boxes[:, 2], boxes[:, 3] = boxes[:, 0] + side, boxes[:, 1] + side
    return boxes


def _rescored(boxes, scores):
    boxes = boxes.copy()
    boxes[:, 4] = scores[:, -1]
    return boxes


def _regressed(boxes, offsets):
    boxes = boxes.copy()
    width, height = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] += offsets * np.stack([width, height, width, height], axis=1)
    return boxes


def _patches(image, boxes, side):
    """Each box's region resized to side x side, bilinear, zero outside the image (tf.image.crop_and_resize
    with mtcnn's box normalisation: coordinates over the image's size, sampled over its size minus one).

    Sampled NMS_BLOCK boxes at a time: a photo can yield tens of thousands of PNet candidates, and the
    sampling's temporaries are several times the patches' size."""
    patches = np.empty((len(boxes), side, side, image.shape[2]), np.float32)
    for start in range(0, len(boxes), NMS_BLOCK):
        patches[start:start + NMS_BLOCK] = _patch_block(image, boxes[start:start + NMS_BLOCK], side)
    return patches


def _patch_block(image, boxes, side):
    height, width = image.shape[:2]
    normalized = (boxes[:, [1, 0, 3, 2]] / [height, width, height, width]).astype(np.float32)
    steps = np.arange(side, dtype=np.float32)
    y1, x1, y2, x2 = (normalized[:, i:i + 1] for i in range(4))
    ys = y1 * (height - 1) + steps * ((y2 - y1) * (height - 1) / (side - 1))
    xs = x1 * (width - 1) + steps * ((x2 - x1) * (width - 1) / (side - 1))
    top, left = np.floor(ys), np.floor(xs)
    y_weight, x_weight = (ys - top)[:, :, None, None], (xs - left)[:, None, :, None]
    top, left = top.astype(int), left.astype(int)
    bottom, right = np.ceil(ys).astype(int), np.ceil(xs).astype(int)
    pixels = image.reshape(height * width, -1)

    def at(rows, cols):
        offsets = np.clip(rows, 0, height - 1)[:, :, None] * width + np.clip(cols, 0, width - 1)[:, None, :]
        return np.take(pixels, offsets, axis=0)

    top_left = at(top, left)
    upper = top_left + (at(top, right) - top_left) * x_weight
    bottom_left = at(bottom, left)
    lower = bottom_left + (at(bottom, right) - bottom_left) * x_weight
    patches = upper + (lower - upper) * y_weight
    outside = ((ys < 0) | (ys > height - 1))[:, :, None] | ((xs < 0) | (xs > width - 1))[:, None, :]
    patches[outside] = 0
    return patches.astype(np.float32)


def _detection(row, width, height):
    """mtcnn's report of a face (a row of box, score, landmarks): box clipped to the image and rounded,
    keypoints rounded."""
    x1, x2 = np.clip(row[[0, 2]], 0, width - 1)
    y1, y2 = np.clip(row[[1, 3]], 0, height - 1)
    x, y, w, h = np.round([x1, y1, x2 - x1, y2 - y1]).astype(int)
    points = np.round(row[5:]).astype(int)
    keypoints = {name: (int(points[i]), int(points[i + 5])) for i, name in enumerate(KEYPOINT_NAMES)}
    return Detection((int(x), int(y), int(w), int(h)), float(row[4]), keypoints)
