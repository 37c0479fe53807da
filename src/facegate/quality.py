"""Enrollment photo quality: reasons a photo will make a poor reference, from the detection alone."""
import math

import numpy as np
from PIL import Image

MIN_FACE_SIDE = 40
"""Faces smaller than this (pixels, shorter box side) carry little detail once enlarged to 160 px."""
MAX_TILT_DEGREES = 30
MAX_TURN = 0.35
"""How far the nose may sit off the eyes' midpoint, as a share of the distance between the eyes."""
MIN_SHARPNESS = 10.0
"""Variance of the Laplacian of the face scaled to 160 px grey; below it the photo is blurred."""


def quality_problems(image, face):
    """Human-readable reasons this face is a weak enrollment reference; empty when it looks fine."""
    problems = []
    x, y, w, h = face.box
    if min(w, h) < MIN_FACE_SIDE:
        problems.append(f"small face ({w}x{h} px; {MIN_FACE_SIDE} px or more is better)")
    keypoints = face.keypoints
    if all(k in keypoints for k in ("left_eye", "right_eye", "nose")):
        (lx, ly), (rx, ry), (nx, _) = keypoints["left_eye"], keypoints["right_eye"], keypoints["nose"]
        tilt = abs(math.degrees(math.atan2(ry - ly, rx - lx)))
        if tilt > MAX_TILT_DEGREES:
            problems.append(f"head tilted {tilt:.0f} degrees")
        eye_distance = math.hypot(rx - lx, ry - ly)
        if eye_distance > 0 and abs(nx - (lx + rx) / 2) / eye_distance > MAX_TURN:
            problems.append("face turned sideways")
    if sharpness(image, face) < MIN_SHARPNESS:
        problems.append("blurred")
    return problems


def sharpness(image, face):
    """Variance of the 4-neighbour Laplacian over the face box, scaled to 160 px grey."""
    x, y, w, h = face.box
    grey = np.asarray(Image.fromarray(image[y:y + h, x:x + w]).convert("L").resize((160, 160)), np.float32)
    laplacian = (grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1])
    return float(laplacian.var())
