"""The texture cue: colour local binary patterns of the face (Boulkenafet, Komulainen, Hadid 2015). A print or a
screen shows a face through paper grain, halftone dots, pixels and moiré, and with another colour gamut; the
histograms of uniform LBP codes in HSV and YCrCb see that. A logistic regression (parameters in texture.npz,
trained by scripts/train-liveness on the dev sets) turns them into the probability that the face is live. A grey
face (a camera's IR night mode) has no colour to read: its own regression on luminance LBP at two radii
(texture-grey.npz, fitted on grey copies of the same frames) judges it, never the colour one (whose chroma
weights alone made every grey face an attack)."""
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..faces.alignment import aligned_crop

CROP_SIDE = 64
CROP_CONTEXTS = (1.0, 2.0)
"""The face as FaceNet sees it, and with its surroundings (where a phone's or a paper's edge shows)."""
PARAMETERS = Path(__file__).with_name("texture.npz")
GREY_PARAMETERS = Path(__file__).with_name("texture-grey.npz")
"""The cue for grey faces (a camera's IR night mode): luminance only, fitted on grey copies of the same frames."""
GREY_TOLERANCE = 8.0
"""A picture is grey when its channels differ by less than this on average (|R-G| + |G-B|, of 255): an IR frame
through an MJPEG codec differs by 4 (its YCbCr rounding), colour scenes of the dev sets by 18-38."""


def _uniform_table():
    """LBP code (0..255) -> bin: the 58 codes with at most two 0/1 transitions around the circle, then the rest."""
    table = np.full(256, 58, np.uint8)
    uniform = [code for code in range(256)
               if sum(((code >> i) & 1) != ((code >> ((i + 1) % 8)) & 1) for i in range(8)) <= 2]
    table[uniform] = np.arange(len(uniform))
    return table


UNIFORM = _uniform_table()
BINS = 59
COLOUR_FEATURES = len(CROP_CONTEXTS) * 6 * BINS
"""Features of the colour cue (features()): 6 channels' histograms per crop."""
GREY_FEATURES = len(CROP_CONTEXTS) * 2 * BINS
"""Features of the grey cue (grey_features()): 2 radii's histograms per crop."""


def lbp_histogram(channel, radius=1):
    """Normalised histogram of the uniform LBP(8, radius) codes of one 2-D uint8 channel (59 bins); the 8
    neighbours on the square `radius` pixels away."""
    c, r = channel.astype(np.int16), radius
    h, w = c.shape
    centre = c[r:h - r, r:w - r]

    def at(dy, dx):
        return c[r + dy:h - r + dy, r + dx:w - r + dx]

    neighbours = (at(-r, -r), at(-r, 0), at(-r, r), at(0, r), at(r, r), at(r, 0), at(r, -r), at(0, -r))
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


def is_grey(picture):
    """Whether an RGB crop or frame has no colour to judge (GREY_TOLERANCE): an IR night frame, a monochrome
    camera. A frame is sampled (every 8th pixel each way)."""
    c = (picture if picture.size <= 3 * 128 * 128 else picture[::8, ::8]).astype(np.int16)
    return float(np.abs(c[..., 0] - c[..., 1]).mean() + np.abs(c[..., 1] - c[..., 2]).mean()) < GREY_TOLERANCE


def grey_crop_features(crop):
    """The grey cue's features of one aligned crop: LBP histograms of its luminance at radius 1 and 2."""
    import cv2

    luminance = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return np.sqrt(np.concatenate([lbp_histogram(luminance, radius) for radius in (1, 2)]))


def grey_features(face_crops):
    """One grey-cue feature vector from the crops of one face."""
    return np.concatenate([grey_crop_features(crop) for crop in face_crops])


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


def fit(vectors, labels, l2=1.0, iterations=50, prior=None):
    """A TextureModel fitted by Newton's method (L2-regularised logistic regression); labels 1 = live. With a
    `prior` TextureModel (a camera's profile fitted on its own frames) the features keep the prior's
    standardisation and the weights are pulled towards the prior's instead of towards zero: few frames of one
    camera move the cue only as far as they show it must go."""
    x = np.asarray(vectors, np.float64)
    y = np.asarray(labels, np.float64)
    mean, scale = (prior.mean, prior.scale) if prior is not None else (x.mean(0), x.std(0) + 1e-6)
    z = (x - mean) / scale
    z1 = np.hstack([z, np.ones((len(z), 1))])
    # classes weighted equally, so that the many attack frames do not make live the rare class
    sample = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * len(y)
    centre = np.zeros(z1.shape[1]) if prior is None else np.r_[prior.weights, prior.bias]
    w = centre.copy()
    penalty = np.full(z1.shape[1], float(l2))
    penalty[-1] = 0.0 if prior is None else 1e-3  # (a prior can saturate every frame: keep the bias solvable)
    def objective(w):
        margin = z1 @ w
        loss = np.logaddexp(0, margin) - y * margin
        return float(sample @ loss + 0.5 * (penalty * (w - centre) ** 2).sum())

    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z1 @ w, -50, 50)))
        gradient = z1.T @ (sample * (p - y)) + penalty * (w - centre)
        hessian = (z1 * (sample * p * (1 - p))[:, None]).T @ z1 + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        if prior is not None:  # from a prior's saturated start a full Newton step can overshoot: halve it until
            before, length = objective(w), 1.0  # the objective goes down
            while length > 1e-4 and objective(w - length * step) > before:
                length /= 2
            step = length * step
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return TextureModel(mean, scale, w[:-1], w[-1])


@lru_cache(maxsize=1)
def shipped():
    """The TextureModel shipped with facegate."""
    return TextureModel.load()


@lru_cache(maxsize=1)
def shipped_grey():
    """The grey faces' TextureModel shipped with facegate."""
    return TextureModel.load(GREY_PARAMETERS)


def live_probability_of_crops(face_crops, frame_is_grey, cue=None):
    """The live probability of one face's crops: by the grey cue when the whole frame and the face have no colour
    (a camera in IR mode), else the colour one. Never by the face alone: a black-and-white print held up in a
    colour scene must face the colour cue, not choose the weaker one. `cue`: a camera's (profiles.Cue; None: the
    shipped one)."""
    if frame_is_grey and is_grey(face_crops[0]):
        model = cue.grey if cue is not None else shipped_grey()
        return float(model.live_probability(grey_features(face_crops))[0])
    model = cue.colour if cue is not None else shipped()
    return float(model.live_probability(features(face_crops))[0])
