"""Following faces from frame to frame: each detection joins the track whose last box it overlaps most.

Boxes are paired by an optimal assignment on their overlap (IoU), or, for a face that moved further than its
box between two processed frames, on the distance between centres relative to the box size. A track that is
not seen for `max_missing` seconds has left; a face that comes back later starts a new track."""
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

MIN_IOU = 0.2
MAX_CENTRE_SHIFT = 0.6
"""A box whose centre moved less than this share of its side still continues the track (fast moves, low fps)."""
MAX_MISSING_SECONDS = 1.0
"""A face not detected for this long has left (a blink of the detector, a passing occlusion, does not end it)."""


@dataclass
class Track:
    """One face followed through the frames; `visit` holds the evidence the decision is made on."""

    id: int
    box: tuple
    first_time: float
    last_time: float
    frames: int = 1
    visit: object = field(default=None, repr=False)


def iou(a, b):
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    overlap = width * height
    union = aw * ah + bw * bh - overlap
    return overlap / union if union > 0 else 0.0


def _similarity(track_box, box):
    """How well a detection continues a track: IoU, or a smaller score for a near centre; 0 when neither."""
    overlap = iou(track_box, box)
    if overlap >= MIN_IOU:
        return 1.0 + overlap
    tx, ty, tw, th = track_box
    x, y, w, h = box
    side = max(tw, th, w, h)
    shift = np.hypot((tx + tw / 2) - (x + w / 2), (ty + th / 2) - (y + h / 2)) / side
    size_ratio = min(tw * th, w * h) / max(tw * th, w * h)
    if shift < MAX_CENTRE_SHIFT and size_ratio > 0.5:
        return 1.0 - shift
    return 0.0


class Tracker:
    """Assigns each frame's face boxes to tracks; `update` returns them with the tracks that have left."""

    def __init__(self, max_missing=MAX_MISSING_SECONDS):
        self.max_missing = max_missing
        self.active = []
        self._next_id = 1

    def update(self, boxes, time):
        """(the track of each box, in order; the tracks not seen for `max_missing` seconds, now ended)."""
        assigned = [None] * len(boxes)
        if self.active and boxes:
            scores = np.array([[_similarity(track.box, box) for box in boxes] for track in self.active])
            rows, columns = linear_sum_assignment(-scores)
            for row, column in zip(rows, columns):
                if scores[row, column] > 0:
                    track = self.active[row]
                    track.box, track.last_time = tuple(boxes[column]), time
                    track.frames += 1
                    assigned[column] = track
        for column, box in enumerate(boxes):
            if assigned[column] is None:
                track = Track(self._next_id, tuple(box), time, time)
                self._next_id += 1
                self.active.append(track)
                assigned[column] = track
        ended = [track for track in self.active if time - track.last_time > self.max_missing]
        self.active = [track for track in self.active if track not in ended]
        return assigned, ended

    def end_all(self):
        """Every active track, ended (the source has ended)."""
        ended, self.active = self.active, []
        return ended
