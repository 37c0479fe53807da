"""Face quality from the detection alone: why a photo makes a poor enrollment reference, and which video frames
of a visit are the best evidence."""
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

MIN_FACE_SIDE = 40
"""Faces smaller than this (pixels, shorter box side) carry little detail once enlarged to 160 px."""
MAX_TILT_DEGREES = 30
MAX_TURN = 0.35
"""How far the nose may sit off the eyes' midpoint, as a share of the distance between the eyes."""
MIN_SHARPNESS = 10.0
"""Variance of the Laplacian of the face scaled to 160 px grey; below it the photo is blurred."""
GOOD_FACE_SIDE = 112
GOOD_SHARPNESS = 60.0
"""A face this large and this sharp scores full marks for its size and its sharpness (see Measures.score)."""


@dataclass(frozen=True)
class Measures:
    """What quality is judged on: box side (px), head tilt (degrees), turn (nose offset / eye distance), sharpness."""

    side: int
    tilt: float
    turn: float
    sharpness: float

    def problems(self):
        """Human-readable reasons this face is a weak reference; empty when it looks fine."""
        problems = []
        if self.side < MIN_FACE_SIDE:
            problems.append(f"small face ({self.side} px; {MIN_FACE_SIDE} px or more is better)")
        if self.tilt > MAX_TILT_DEGREES:
            problems.append(f"head tilted {self.tilt:.0f} degrees")
        if self.turn > MAX_TURN:
            problems.append("face turned sideways")
        if self.sharpness < MIN_SHARPNESS:
            problems.append("blurred")
        return problems

    def score(self):
        """0..1, higher for larger, sharper, more frontal faces: how video frames of one visit are ranked."""
        size = min(self.side / GOOD_FACE_SIDE, 1.0)
        sharp = min(self.sharpness / GOOD_SHARPNESS, 1.0)
        frontal = max(0.0, 1.0 - self.turn / (2 * MAX_TURN)) * max(0.0, 1.0 - self.tilt / (2 * MAX_TILT_DEGREES))
        return size * sharp * frontal


def measure(image, face):
    """The Measures of one detected face in its RGB image."""
    x, y, w, h = face.box
    tilt = turn = 0.0
    keypoints = face.keypoints
    if all(k in keypoints for k in ("left_eye", "right_eye", "nose")):
        (lx, ly), (rx, ry), (nx, _) = keypoints["left_eye"], keypoints["right_eye"], keypoints["nose"]
        tilt = abs(math.degrees(math.atan2(ry - ly, rx - lx)))
        eye_distance = math.hypot(rx - lx, ry - ly)
        turn = abs(nx - (lx + rx) / 2) / eye_distance if eye_distance > 0 else 1.0
    return Measures(min(w, h), tilt, turn, sharpness(image, face))


def quality_problems(image, face):
    """Human-readable reasons this face is a weak enrollment reference; empty when it looks fine."""
    return measure(image, face).problems()


def sharpness(image, face):
    """Variance of the 4-neighbour Laplacian over the face box, scaled to 160 px grey."""
    x, y, w, h = face.box
    grey = np.asarray(Image.fromarray(image[y:y + h, x:x + w]).convert("L").resize((160, 160)), np.float32)
    laplacian = (grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1])
    return float(laplacian.var())
