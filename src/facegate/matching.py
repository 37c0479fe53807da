"""Decisions: distances from a face to the enrolled embeddings, compared with the one shared threshold."""
import math
import threading
from dataclasses import dataclass

import numpy as np

from .db import Database, Gallery, change_stamp, check_threshold
from .errors import DatabaseError

__all__ = ["THRESHOLD", "Gallery", "LiveGallery", "Match", "resolve_threshold", "nearest", "nearest_people",
           "match_faces", "l2_distances", "distance_to_enrolled", "verify_encoding", "verify_main_face", "verify",
           "who_is_it"]

THRESHOLD = 0.7
"""L2 distance between unit embeddings below which two faces are the same person (the door opens)."""


def resolve_threshold(threshold=None, database=None):
    """The threshold in force: the one given, else the database's stored one, else THRESHOLD."""
    if threshold is not None:
        return check_threshold(threshold)
    stored = getattr(database, "threshold", None)
    return stored if stored is not None else THRESHOLD


class LiveGallery:
    """A database folder as last read, read again when its index changes on disk: enrolling or removing people
    with the command line takes effect in a running service or camera watch at its next request or frame."""

    def __init__(self, db_path, model_name, threshold=None):
        self.db_path, self.model_name, self.threshold = db_path, model_name, threshold
        self._lock = threading.Lock()
        self._stamp, self._current = None, None

    def current(self):
        """(database, gallery, threshold in force), read again when the database has changed (the index file's
        stat, or a server database's commit count)."""
        with self._lock:
            stamp = change_stamp(self.db_path)
            if self._current is None or stamp != self._stamp:
                database = Database.load(self.db_path)
                database.check_model(self.model_name)
                self._stamp = stamp
                self._current = (database, Gallery.of(database), resolve_threshold(self.threshold, database))
            return self._current


@dataclass(frozen=True)
class Match:
    """The nearest enrolled person to a face: identity is None when the distance is not below threshold."""

    identity: str
    distance: float
    threshold: float


def l2_distances(encoding, embeddings):
    """Exact L2 distances from one embedding (D,) to each row of (N, D)."""
    return np.linalg.norm(np.asarray(embeddings, np.float32) - np.asarray(encoding, np.float32), axis=1)


def nearest(encodings, gallery, threshold):
    """The nearest enrolled person to each of `encodings` (F, D), by one matrix product over the gallery."""
    encodings = np.atleast_2d(np.asarray(encodings, np.float32))
    matches = []
    for encoding, (name, row) in zip(encodings, gallery.nearest_rows(encodings)):
        distance = float(l2_distances(encoding, row[None])[0])
        matches.append(Match(name if distance < threshold else None, distance, threshold))
    return matches


def match_faces(result, gallery, limit):
    """The nearest enrolled person (a Match) for each face of an ImageFaces result."""
    if not result.faces:
        return []
    return nearest([face.embedding for face in result.faces], gallery, limit)


def nearest_people(encodings, gallery):
    """The nearest enrolled person to each of `encodings`, whatever the distance (rank 1 of an open-set search)."""
    return nearest(encodings, gallery, math.inf)


def distance_to_enrolled(encoding, enrolled):
    """A face's distance to a person: the smallest L2 distance to any of their enrolled embeddings (k, D)."""
    return float(np.min(l2_distances(encoding, enrolled)))


def verify_encoding(encoding, identity, gallery, threshold):
    """(dist, door_open) for one face embedding against exactly `identity` (no case folding)."""
    distance = distance_to_enrolled(encoding, gallery.embeddings_of(identity))
    return distance, bool(distance < check_threshold(threshold))  # NaN is never below


def verify_main_face(image_path, identity, gallery, model, threshold, require_single_face=False, pixels=None):
    """(dist, door_open, face_count, face): the image's main face against exactly `identity`.

    The main face is the largest, or the most central of faces about as large (faces.pipeline.main_face_first). An
    unknown name is refused before the image is looked at; with `require_single_face`, an image showing
    several faces raises MultipleFacesError instead of deciding on the main one. `pixels`: the image already
    decoded (faces.imaging.load_image)."""
    from .faces.pipeline import main_face

    gallery.check_model(model)
    gallery.embeddings_of(identity)
    face, face_count = main_face(image_path, model, require_single=require_single_face, pixels=pixels)
    return (*verify_encoding(face.embedding, identity, gallery, threshold), face_count, face)


def verify(image_path, identity, database, model, threshold=None, require_single_face=False):
    """Is the person in the image `identity`? Returns (dist, door_open), deciding on the main face.

    dist is the smallest distance to any enrolled photo of exactly `identity`. With `require_single_face`,
    an image showing several faces raises MultipleFacesError instead."""
    distance, door_open, *_ = verify_main_face(image_path, identity, Gallery.of(database), model,
                                              resolve_threshold(threshold, database), require_single_face)
    return distance, door_open


def who_is_it(image_path, database, model, threshold=None):
    """Who is the main face in the image? Returns (min_dist, identity); identity is None for a stranger."""
    from .faces.pipeline import img_to_encoding

    gallery = Gallery.of(database)
    gallery.check_model(model)
    if gallery.is_empty():
        raise DatabaseError("the database is empty: enroll someone first")
    match = nearest(img_to_encoding(image_path, model), gallery, resolve_threshold(threshold, database))[0]
    return match.distance, match.identity
