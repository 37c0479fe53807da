"""Face alignment: a similarity transform that puts MTCNN's five landmarks where FaceNet expects them."""
import numpy as np
from PIL import Image

LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

TEMPLATE = np.array([[49.8, 64.2], [110.2, 64.2], [80.0, 90.4], [53.1, 113.4], [106.9, 113.4]]) / 160.0
"""Landmark positions in a unit square crop: the mean positions, made left-right symmetric, of MTCNN's
landmarks on 3,000 LFW faces within the face box plus a 10% margin on each side (the crop FaceNet saw)."""


def similarity_transform(source, target):
    """Scale, rotation and translation (M, t) that best map `source` points onto `target` (least squares)."""
    source, target = np.asarray(source, float), np.asarray(target, float)
    source_mean, target_mean = source.mean(0), target.mean(0)
    a, b = source - source_mean, target - target_mean
    variance = (a ** 2).sum()
    if variance < 1e-6:
        raise ValueError("degenerate landmarks")
    u, singular, vt = np.linalg.svd(b.T @ a)
    reflection = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ reflection @ vt
    scale = (singular * np.diag(reflection)).sum() / variance
    matrix = scale * rotation
    return matrix, target_mean - matrix @ source_mean


def aligned_crop(image, keypoints, size, context=1.0):
    """The face as a size x size RGB uint8 array, eyes level and landmarks on the template.

    `context` > 1 shrinks the template about its centre, so the crop shows that much more around the face."""
    source = np.array([keypoints[name] for name in LANDMARKS], float)
    template = (TEMPLATE - 0.5) / context + 0.5
    matrix, offset = similarity_transform(source, template * size)
    inverse = np.linalg.inv(matrix)
    inverse_offset = -inverse @ offset
    picture = Image.fromarray(image)
    # PIL's affine sampling does not filter: a face shrunk 4x or more is first box-filtered by half that factor, so
    # bilinear sampling is left at most about 2-4x (some aliasing remains; below 4x none is filtered out). The
    # texture cue was fitted on crops made this way: changing it changes what the cue sees.
    reduction = int(np.sqrt(abs(np.linalg.det(inverse))) // 2)
    if reduction >= 2:
        picture = picture.reduce(reduction)
        inverse, inverse_offset = inverse / reduction, inverse_offset / reduction
    coefficients = (inverse[0, 0], inverse[0, 1], inverse_offset[0], inverse[1, 0], inverse[1, 1], inverse_offset[1])
    return np.asarray(picture.transform((size, size), Image.AFFINE, coefficients, resample=Image.BILINEAR))
