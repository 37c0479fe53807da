"""Enrollment: photos, video frames and clusters into the database, for `facegate enroll` and the service's
enrollment desk (POST /people/NAME). Every path commits through add_person."""
import os
from dataclasses import dataclass, field

import numpy as np

from .db import transaction
from .errors import FacegateError, ImageError, NoFaceError
from .faces.imaging import check_image
from .faces.pipeline import encode_images

CLUSTER_ENROLL_LIMIT = 20
"""At most this many faces of a cluster are enrolled, those nearest its centre."""


THUMBNAIL_SIDE = 96
"""The longer side of the face crop kept with each enrolled embedding (the console's thumbnails)."""


def add_person(location, name, embeddings, sources, model_name, thumbnails=None):
    """Enroll `embeddings` of `name` (one per source; `thumbnails`, a JPEG face crop or None for each) in one
    transaction; how many `name` has in all now."""
    with transaction(location) as current:
        current.add(name, embeddings, sources, model_name, thumbnails)
        return current.name_counts()[name]


@dataclass
class Enrollment:
    """The photos' outcome: embeddings to add with their source names and face thumbnails, refused photos
    (ImageError, each with its reason), and quality warnings (photo, reasons) about the accepted ones."""

    embeddings: list = field(default_factory=list)
    sources: list = field(default_factory=list)
    thumbnails: list = field(default_factory=list)
    enrolled: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def enroll_photos(paths, load_model, largest=False, names=None):
    """Encode `paths` for enrollment: each photo must show exactly one face (with `largest`, its main face).

    `load_model()` gives the model; it is called only when a photo passes the header check, so clearly unusable
    files are refused before any model loads. `names` gives each path the name it is recorded under (default:
    the file's name)."""
    outcome, files, labels = Enrollment(), [], {}
    for index, path in enumerate(paths):  # clearly unusable files are refused before the model runs
        label = names[index] if names else os.path.basename(str(path))
        try:
            check_image(path)
            files.append(path)
            labels[str(path)] = label
        except ImageError as exc:
            outcome.refused.append(exc)
    model = load_model() if files else None
    for result in encode_images(files, model, assess_quality=True) if files else []:
        problem = result.error
        bordered = not problem and not result.faces
        if bordered:
            result.faces = faces_with_border(result.path, model)
        if not problem and not result.faces:
            problem = NoFaceError(result.path).reason
        elif not problem and len(result.faces) > 1 and not largest:
            problem = f"{len(result.faces)} faces found; use --largest to enroll the main one"
        if problem:
            outcome.refused.append(ImageError(result.path, problem))
            continue
        outcome.embeddings.append(result.faces[0].embedding)
        outcome.sources.append(labels[result.path])
        outcome.enrolled.append(result.path)
        outcome.thumbnails.append(thumbnail_of(result.path, None if bordered else result.faces[0].box))
        problems = result.faces[0].problems + ([] if bordered else _attack_problem(result.path, result.faces[0]))
        if problems:
            outcome.warnings.append((result.path, problems))
    return outcome


def thumbnail_of(path, box):
    """A small JPEG of the face at `box` in the photo at `path` (thumbnail_jpeg); None if the photo cannot be read
    again."""
    from .faces.imaging import load_image

    try:
        return thumbnail_jpeg(load_image(path), box)
    except ImageError:
        return None


def thumbnail_jpeg(pixels, box):
    """A small JPEG of the face at `box` in an RGB array, with a margin (the whole picture when `box` is None: a
    tight crop)."""
    import io

    from PIL import Image

    if box is not None:
        x, y, width, height = (int(v) for v in box)
        margin = int(0.2 * max(width, height))
        crop = pixels[max(0, y - margin):max(0, y + height + margin), max(0, x - margin):max(0, x + width + margin)]
        pixels = crop if min(crop.shape[:2]) > 0 else pixels  # a box off the picture: the picture
    image = Image.fromarray(pixels)
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _attack_problem(path, face):
    """[why] when the liveness texture cue is sure the face is an attack (under its DENY level), else []: a photo
    of a printed or screen photo is a weak reference too. Faces too small for the cue are not judged (they are
    warned of as small). (The caller skips faces found only with a border: their boxes are in the padded
    picture.)"""
    from .faces.imaging import load_image
    from .liveness import ATTACK_BELOW, judge_still, judgeable

    if not judgeable(face):
        return []
    _, probability = judge_still(load_image(path), face)
    if probability >= ATTACK_BELOW:
        return []
    return [f"the liveness cue takes it for a print or a screen (live probability {probability:.2f}; a photo "
            f"unlike its training data can look so too: check the door camera with verify --liveness)"]


BORDER = 0.25
"""The border added on each side (a share of the photo's size) when a photo shows no face: badge and ID photos
are often cropped to the face, with no forehead or chin, and MTCNN finds nothing there (docs/accuracy.md)."""


def faces_with_border(path, model):
    """The faces of the photo at `path` padded with a border of its own edge pixels, quality assessed: a second
    look at a tight crop. Boxes are in the padded picture (enrollment needs only the embedding)."""
    from .faces.imaging import load_image

    return model.faces_in_arrays([with_border(load_image(path))], assess_quality=True)[0]


def with_border(pixels):
    """An RGB array padded with BORDER of its own edge pixels on each side (a tight crop, made findable)."""
    height, width = pixels.shape[:2]
    pad_y, pad_x = int(height * BORDER), int(width * BORDER)
    return np.pad(pixels, ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), mode="edge")


def video_frames_for_enrollment(frames, model, seconds, count):
    """The best `count` frames of the person in view over `seconds` of `frames`, for enrolling from video:
    [(embedding, score, box, time, thumbnail JPEG)], good frames in different poses. Only frames showing one face
    of good quality count; the faces are followed, and the longest-seen face is the person (a passer-by or a scene
    cut is another track, never mixed in)."""
    from .faces.quality import measure
    from .watch.tracking import Tracker
    from .watch.visits import MIN_EVIDENCE_SIDE

    tracker, candidates, first_time = Tracker(), {}, None
    for frame in frames:
        first_time = frame.time if first_time is None else first_time
        if frame.time - first_time > seconds:
            break
        faces = model.detect(frame.image)
        tracks, _ = tracker.update([face.box for face in faces], frame.time)
        if len(faces) != 1 or min(faces[0].box[2:]) < MIN_EVIDENCE_SIDE:
            continue
        measures = measure(frame.image, faces[0])
        if measures.problems():
            continue
        embedding = model.embed([model.crop(frame.image, faces[0])])[0]
        candidates.setdefault(tracks[0].id, []).append((embedding, measures.score(), faces[0].box, frame.time,
                                                        thumbnail_jpeg(frame.image, faces[0].box)))
    if not candidates:
        return []
    return _diverse(max(candidates.values(), key=len), count)


def _diverse(candidates, count):
    """Greedy farthest-point choice among the better half of the candidates: different poses, good quality."""
    if not candidates:
        return []
    ranked = sorted(candidates, key=lambda c: -c[1])[:max(count, len(candidates) // 2)]
    chosen = [ranked[0]]
    while len(chosen) < min(count, len(ranked)):
        chosen_vectors = np.stack([c[0] for c in chosen])
        gaps = [float(np.min(np.linalg.norm(chosen_vectors - c[0], axis=1))) for c in ranked]
        chosen.append(ranked[int(np.argmax(gaps))])
    return chosen


def cluster_for_enrollment(clusters, number, source):
    """The faces of cluster `number` to enroll (those nearest its centre, at most CLUSTER_ENROLL_LIMIT) and their
    source names (path#box)."""
    if number >= len(clusters):
        raise FacegateError(f"{source}: there is no cluster {number} ({len(clusters)} cluster(s), numbered from 0)")
    chosen = clusters[number][:CLUSTER_ENROLL_LIMIT]
    return chosen, [f"{face.path}#{','.join(map(str, face.box))}" for face in chosen]
