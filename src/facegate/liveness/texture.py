"""The texture cue: colour local binary patterns of the face (Boulkenafet, Komulainen, Hadid 2015). A print or a
screen shows a face through paper grain, halftone dots, pixels and moiré, and with another colour gamut; the
histograms of uniform LBP codes in HSV and YCrCb see that. A logistic regression (parameters in texture.npz,
trained by scripts/train-liveness on the dev sets) turns them into the probability that the face is live."""
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..faces.alignment import aligned_crop

CROP_SIDE = 64
CROP_CONTEXTS = (1.0, 2.0)
"""The face as FaceNet sees it, and with its surroundings (where a phone's or a paper's edge shows)."""
PARAMETERS = Path(__file__).with_name("texture.npz")


def _uniform_table():
    """LBP code (0..255) -> bin: the 58 codes with at most two 0/1 transitions around the circle, then the rest."""
    table = np.full(256, 58, np.uint8)
    uniform = [code for code in range(256)
               if sum(((code >> i) & 1) != ((code >> ((i + 1) % 8)) & 1) for i in range(8)) <= 2]
    table[uniform] = np.arange(len(uniform))
    return table


UNIFORM = _uniform_table()
BINS = 59


def lbp_histogram(channel):
    """Normalised histogram of the uniform LBP(8,1) codes of one 2-D uint8 channel (59 bins)."""
    c = channel.astype(np.int16)
    centre = c[1:-1, 1:-1]
    neighbours = (c[:-2, :-2], c[:-2, 1:-1], c[:-2, 2:], c[1:-1, 2:], c[2:, 2:], c[2:, 1:-1], c[2:, :-2], c[1:-1, :-2])
    code = np.zeros(centre.shape, np.uint8)
    for bit, neighbour in enumerate(neighbours):
        code |= (neighbour >= centre).astype(np.uint8) << bit
    histogram = np.bincount(UNIFORM[code].ravel(), minlength=BINS).astype(np.float32)
    return histogram / histogram.sum()


def crop_features(crop):
    """The feature vector of one aligned RGB crop: LBP histograms of H, S, V, Y, Cr, Cb, square-rooted."""
    import cv2

    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    ycrcb = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)
    channels = [hsv[..., i] for i in range(3)] + [ycrcb[..., i] for i in range(3)]
    return np.sqrt(np.concatenate([lbp_histogram(channel) for channel in channels]))


def crops(image, keypoints):
    """The aligned crops the texture cue looks at (one per CROP_CONTEXTS)."""
    return [aligned_crop(image, keypoints, CROP_SIDE, context) for context in CROP_CONTEXTS]


def features(face_crops):
    """One feature vector from the crops of one face."""
    return np.concatenate([crop_features(crop) for crop in face_crops])


class TextureModel:
    """A logistic regression on standardised features: live_probability(features) in 0..1."""

    def __init__(self, mean, scale, weights, bias):
        self.mean, self.scale = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
        self.weights, self.bias = np.asarray(weights, np.float64), float(bias)

    def live_probability(self, vectors):
        z = ((np.atleast_2d(vectors) - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def save(self, path):
        np.savez(path, mean=self.mean, scale=self.scale, weights=self.weights, bias=np.array(self.bias))

    @classmethod
    def load(cls, path=PARAMETERS):
        with np.load(path) as stored:
            return cls(stored["mean"], stored["scale"], stored["weights"], stored["bias"])


def fit(vectors, labels, l2=1.0, iterations=50):
    """A TextureModel fitted by Newton's method (L2-regularised logistic regression); labels 1 = live."""
    x = np.asarray(vectors, np.float64)
    y = np.asarray(labels, np.float64)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / scale
    z1 = np.hstack([z, np.ones((len(z), 1))])
    # classes weighted equally, so that the many attack frames do not make live the rare class
    sample = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * len(y)
    w = np.zeros(z1.shape[1])
    penalty = np.full(z1.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z1 @ w, -50, 50)))
        gradient = z1.T @ (sample * (p - y)) + penalty * w
        hessian = (z1 * (sample * p * (1 - p))[:, None]).T @ z1 + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return TextureModel(mean, scale, w[:-1], w[-1])


@lru_cache(maxsize=1)
def shipped():
    """The TextureModel shipped with facegate."""
    return TextureModel.load()
