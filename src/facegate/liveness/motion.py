"""The geometric cue: a photo or a screen held up to the camera moves as one plane, its surroundings with it.

Between two frames of a track (at least MOTION_INTERVAL apart), corners inside the face are followed with
Lucas-Kanade optical flow and one homography is fitted to them; corners in a ring around the face are then
checked against that homography. When the face has moved and the ring moved the same way, the face and what
is around it are one flat object: the paper's margin, the phone's frame, the picture's background. A live head
moves against a wall that stays. A face that does not move says nothing (a fixed photo and a still person look
alike here: the texture cue decides)."""
from dataclasses import dataclass

import numpy as np

MOTION_INTERVAL = 0.3
"""Seconds between the two frames of a comparison: at a camera's 10-30 frames/s, motion needs time to show."""
MIN_FACE_MOTION = 0.02
"""The face must have moved this share of its box side (median corner displacement) for the pair to count ..."""
MIN_MOTION_PIXELS = 4.0
"""... and at least this many pixels: twice FIT_PIXELS, or a small face's sub-pixel jitter (a still person, a
codec's noise) would land every ring corner within the fit and read as one flat plane."""
FOLLOWING_SHARE = 0.9
"""A pair is flat when this share of the ring's corners lands where the face's homography puts them."""
FIT_PIXELS = 2.0
MIN_CORNERS = 8


@dataclass(frozen=True)
class Reference:
    """A track's earlier frame the next comparison is made against: grey pixels, the face box, the time."""

    grey: np.ndarray
    box: tuple
    time: float


def grey_of(image):
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


RING = 0.6
"""The ring reaches this share of the face box's side beyond each of its edges."""


def _region(shape, box):
    """(x0, y0, x1, y1): the part of the frame the cue looks at, the ring and a margin for the motion."""
    x, y, w, h = box
    reach = RING + 0.3
    height, width = shape
    return (max(0, int(x - reach * w)), max(0, int(y - reach * h)),
            min(width, int(x + w + reach * w)), min(height, int(y + h + reach * h)))


def _corners(grey, box, ring):
    """Corners to follow in the face (its inner part) or in the ring around it; `box` in `grey`'s pixels."""
    import cv2

    x, y, w, h = (int(v) for v in box)
    height, width = grey.shape
    mask = np.zeros_like(grey)
    if ring:
        mask[max(0, int(y - RING * h)):min(height, int(y + (1 + RING) * h)),
             max(0, int(x - RING * w)):min(width, int(x + (1 + RING) * w))] = 255
        mask[max(0, y - 4):y + h + 4, max(0, x - 4):x + w + 4] = 0
    else:
        mask[int(y + 0.15 * h):int(y + 0.9 * h), int(x + 0.15 * w):int(x + 0.85 * w)] = 255
    return cv2.goodFeaturesToTrack(grey, 60, 0.01, 4, mask=mask)


def _follow(before, after, corners):
    import cv2

    if corners is None or len(corners) < MIN_CORNERS:
        return None, None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(before, after, corners, None, winSize=(21, 21), maxLevel=3)
    found = status.ravel() == 1
    if found.sum() < MIN_CORNERS:
        return None, None
    return corners[found], moved[found]


def moves_flat(reference, grey):
    """True when the face moved since `reference` and its surroundings moved with it as one plane; False when
    it moved and they did not; None when it did not move or there is too little to follow. Only the region
    around the face is looked at (the cost does not grow with the frame)."""
    import cv2

    x0, y0, x1, y1 = _region(grey.shape, reference.box)
    before, after = reference.grey[y0:y1, x0:x1], grey[y0:y1, x0:x1]
    x, y, w, h = reference.box
    box = (x - x0, y - y0, w, h)
    face_before, face_after = _follow(before, after, _corners(before, box, False))
    if face_before is None:
        return None
    motion = float(np.median(np.linalg.norm((face_after - face_before).reshape(-1, 2), axis=1)))
    if motion < max(MIN_FACE_MOTION * w, MIN_MOTION_PIXELS):
        return None
    homography, _ = cv2.findHomography(face_before, face_after, cv2.RANSAC, FIT_PIXELS)
    ring_before, ring_after = _follow(before, after, _corners(before, box, True))
    if homography is None or ring_before is None:
        return None
    predicted = cv2.perspectiveTransform(ring_before, homography)
    misfit = np.linalg.norm((predicted - ring_after).reshape(-1, 2), axis=1)
    return bool(np.mean(misfit < FIT_PIXELS) >= FOLLOWING_SHARE)
