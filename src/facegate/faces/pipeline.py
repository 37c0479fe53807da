"""Faces in images: MTCNN detection, landmark alignment, standardisation, batched FaceNet embedding, L2 norm.

Both networks run as converted files under LiteRT (conversion.py, runtime.py): no TensorFlow at run time."""
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .alignment import aligned_crop
from ..errors import ImageError, MultipleFacesError, NoFaceError
from .imaging import load_image
from ..networks.models import DEFAULT_MODEL, model_spec
from .quality import quality_problems

MIN_CONFIDENCE = 0.95
"""Detections below this MTCNN confidence are not faces (as in the seed's `extract`)."""
DETECTION_MAX_SIDE = 1024
"""Larger images are downscaled for detection only; faces are cropped from the full-resolution image."""
DETECTION_RETRY_SIDE = 2048
"""Largest side of the twice-enlarged image of the second detection pass."""
MAIN_FACE_SIDE_RATIO = 0.8
"""Faces whose box side is at least this share of the largest's count as about as large as it; of those, the
one nearest the picture's centre is the main face (the camera is aimed at the person presenting; two faces
of one size otherwise swap places on a few pixels of box noise). See docs/accuracy.md."""
MIN_DETECTABLE_SIDE = 24
"""Images smaller than this on either side cannot hold a detectable face."""
EMBED_BATCH = 32


@dataclass
class Face:
    """One detected face: box (x, y, width, height) in image pixels, MTCNN confidence, unit embedding."""

    box: tuple
    confidence: float
    keypoints: dict = field(default_factory=dict)
    embedding: np.ndarray = None
    problems: list = field(default_factory=list)
    """Why the face is a weak enrollment reference (filled when quality is assessed)."""

    @property
    def area(self):
        return self.box[2] * self.box[3]

    def offset_from_centre(self, width, height):
        """Squared distance in pixels from the box's centre to the centre of a width x height picture."""
        x, y, w, h = self.box
        return (x + w / 2 - width / 2) ** 2 + (y + h / 2 - height / 2) ** 2


def main_face_first(faces, width, height):
    """The faces, largest first, with the main face moved to the front (see MAIN_FACE_SIDE_RATIO)."""
    faces = sorted(faces, key=lambda face: face.area, reverse=True)
    if len(faces) > 1:
        about_as_large = [face for face in faces if face.area >= MAIN_FACE_SIDE_RATIO ** 2 * faces[0].area]
        main = min(about_as_large, key=lambda face: face.offset_from_centre(width, height))
        faces.remove(main)
        faces.insert(0, main)
    return faces


class FaceModel:
    """A detector and an embedding network, loaded once and shared by every library call (one call at a time)."""

    def __init__(self, spec, network, detector):
        self.spec = spec
        self.network = network
        """Callable: float32 views (N, S, S, 3) -> (embeddings (N, D),)."""
        self.detector = detector
        """A detection.Detector."""

    @property
    def name(self):
        return self.spec.name

    @property
    def embedding_size(self):
        return self.spec.embedding_size

    def detect(self, image, enlarge=True):
        """Faces in an RGB array, main face first, then by size (see main_face_first), without embeddings.

        Where no face reaches MIN_CONFIDENCE, detection runs once more on the image enlarged twice (up to
        DETECTION_RETRY_SIDE): small faces that MTCNN finds uncertain at their own size are found there. That
        second pass is most of an empty picture's cost; `enlarge=False` skips it."""
        height, width = image.shape[:2]
        if min(height, width) < MIN_DETECTABLE_SIDE:
            return []
        scale = min(1.0, DETECTION_MAX_SIDE / max(height, width))
        faces = self._detect_at(image, scale)
        if enlarge and not faces and max(height, width) * scale * 2 <= DETECTION_RETRY_SIDE:
            faces = self._detect_at(image, scale * 2)
        return main_face_first(faces, width, height)

    def _detect_at(self, image, scale):
        height, width = image.shape[:2]
        resized = image if scale == 1.0 else _resize(image, round(width * scale), round(height * scale))
        faces = []
        for found in self.detector.detect(resized):
            if not found.confidence >= MIN_CONFIDENCE:
                continue
            x, y, w, h = (v / scale for v in found.box)
            x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
            x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            keypoints = {k: (px / scale, py / scale) for k, (px, py) in found.keypoints.items()}
            faces.append(Face((x0, y0, x1 - x0, y1 - y0), found.confidence, keypoints))
        return faces

    def crop(self, image, face):
        """The face's views (see ModelSpec.views) at the network's input size, standardised: (V, S, S, 3).

        Falls back to the detection box plus its margin when the landmarks are degenerate."""
        size = self.spec.input_size
        try:
            views = [aligned_crop(image, face.keypoints, size, context) for context in self.spec.views]
        except (ValueError, KeyError, np.linalg.LinAlgError):
            x, y, w, h = face.box
            mx, my = self.spec.crop_margin * w, self.spec.crop_margin * h
            height, width = image.shape[:2]
            x0, y0 = max(0, int(round(x - mx))), max(0, int(round(y - my)))
            x1, y1 = min(width, int(round(x + w + mx))), min(height, int(round(y + h + my)))
            views = [_resize(image[y0:y1, x0:x1], size, size)] * len(self.spec.views)
        return np.stack([self._standardise(view.astype(np.float32)) for view in views])

    def _standardise(self, pixels):
        if self.spec.standardisation == "per_image":
            std = max(float(pixels.std()), 1.0 / np.sqrt(pixels.size))
            return (pixels - pixels.mean()) / std
        return (pixels - 127.5) / 127.5

    def embed(self, crops):
        """Unit embeddings (N, D) of N faces' views (N, V, S, S, 3), computed in batches.

        A face's embedding is the normalised sum of its views' embeddings (and their mirror images', with the
        model's `flip_average`)."""
        crops = np.asarray(crops, dtype=np.float32)
        if len(crops) == 0:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        count, per_face = crops.shape[:2]
        views = crops.reshape((-1,) + crops.shape[2:])
        if self.spec.flip_average:
            views = np.concatenate([views, views[:, :, ::-1]])
        parts = [self.network(views[start:start + EMBED_BATCH])[0] for start in range(0, len(views), EMBED_BATCH)]
        vectors = np.concatenate(parts).astype(np.float32).reshape(-1, count, per_face, self.embedding_size)
        vectors = vectors.sum(axis=(0, 2))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def warm_up(self):
        """Run both networks once (LiteRT prepares its kernels on first use), so the first real request is fast."""
        size = self.spec.input_size
        self.embed(np.zeros((1, len(self.spec.views), size, size, 3), np.float32))
        self.detector.warm_up()

    def faces_in_arrays(self, images, assess_quality=False):
        """Every face of every RGB array, embedded in shared batches: a list of face lists."""
        return self.embedded(*self.detected(images, assess_quality))

    def detected(self, images, assess_quality=False):
        """The faces of each RGB array, without embeddings, and every face's views: the input of embedded().

        Uses the detector only, so one thread can detect in some images while another embeds others' faces."""
        per_image = [self.detect(image) for image in images]
        if assess_quality:
            for image, faces in zip(images, per_image):
                for face in faces:
                    face.problems = quality_problems(image, face)
        crops = [self.crop(image, face) for image, faces in zip(images, per_image) for face in faces]
        return per_image, crops

    def embedded(self, per_image, crops):
        """The face lists of detected(), each face given its embedding (all crops embedded in shared batches)."""
        vectors = iter(self.embed(crops))
        for faces in per_image:
            for face in faces:
                face.embedding = next(vectors)
        return per_image


@dataclass
class ImageFaces:
    """The outcome for one image file: its faces, or the error that stopped it."""

    path: str
    faces: list
    error: str = None


SCAN_CHUNK = 8
SCAN_CHUNK_PIXELS = 48_000_000
"""A chunk also ends once its decoded images hold this many pixels: a folder of 100-megapixel photos holds
two or three of them in memory at a time, not sixteen."""


def _decode(path):
    try:
        return ImageFaces(str(path), []), load_image(path)
    except ImageError as exc:
        return ImageFaces(str(path), [], exc.reason), None


def iter_encoded(image_paths, model, chunk=SCAN_CHUNK, assess_quality=False):
    """Decode, detect and embed images chunk by chunk: a thread decodes the next chunk and finds its faces while
    the caller's thread embeds the faces of the last (the two halves of the work keep both cores busy: the
    detector's NumPy steps run on one core, and the stages' networks are separate interpreters).

    Yields one ImageFaces per path, in order; a bad file yields an entry with `error`, not an exception.
    Memory holds two chunks at most (`chunk` images or SCAN_CHUNK_PIXELS each; of the one being embedded only
    its face crops), whatever the number of paths."""
    from concurrent.futures import ThreadPoolExecutor

    paths = iter(image_paths)

    def next_chunk():
        """(ImageFaces of each path, those of the decoded images, what model.detected found in these images)."""
        decoded, pixels = [], 0
        for path in paths:
            decoded.append(_decode(path))
            image = decoded[-1][1]
            pixels += 0 if image is None else image.shape[0] * image.shape[1]
            if len(decoded) >= chunk or pixels >= SCAN_CHUNK_PIXELS:
                break
        usable = [(result, image) for result, image in decoded if image is not None]
        found = model.detected([image for _, image in usable], assess_quality)
        return [result for result, _ in decoded], [result for result, _ in usable], found

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="facegate-detect") as pool:
        pending = pool.submit(next_chunk)
        while True:
            results, usable, found = pending.result()
            if not results:
                return
            pending = pool.submit(next_chunk)
            for result, faces in zip(usable, model.embedded(*found)):
                result.faces = faces
            yield from results


def encode_images(image_paths, model, assess_quality=False):
    """Faces of many images in one call (see iter_encoded): a list of ImageFaces."""
    return list(iter_encoded(image_paths, model, assess_quality=assess_quality))


def main_face(image_path, model, require_single=False, pixels=None):
    """The main face of the image (see main_face_first), embedded, and how many faces the image shows.
    `pixels`: the image already decoded (load_image), so that it is not decoded again.

    NoFaceError when there is none; MultipleFacesError for several when `require_single`."""
    faces = model.faces_in_arrays([load_image(image_path) if pixels is None else pixels])[0]
    if not faces:
        raise NoFaceError(image_path)
    if require_single and len(faces) > 1:
        raise MultipleFacesError(image_path, len(faces))
    return faces[0], len(faces)


def img_to_encoding(image_path, model, require_single=False):
    """The unit embedding of the main face in the image: the largest, or the most central of faces about as
    large (the notebook's contract, with a stable choice between two people of one size)."""
    return main_face(image_path, model, require_single)[0].embedding


def load_model(name=DEFAULT_MODEL, weights=None, threads=None):
    """The detector and embedding network `name`, as converted files from the cache (made on first use), each
    network running on `threads` threads (default: every core)."""
    from ..networks.conversion import detector_network_paths, embedding_network_path
    from .detection import PNET_KEPT_ELEMENTS, Detector
    from ..networks.runtime import Network

    spec = model_spec(name)
    network = Network(embedding_network_path(spec, weights), threads)
    pnet, rnet, onet = detector_network_paths()
    detector = Detector(Network(pnet, threads, kept_elements=PNET_KEPT_ELEMENTS), Network(rnet, threads),
                        Network(onet, threads))
    return FaceModel(spec, network, detector)


def _resize(pixels, width, height):
    return np.asarray(Image.fromarray(pixels).resize((max(1, width), max(1, height)), Image.BILINEAR))
