"""Decisions: distances from a face to the enrolled embeddings, compared with the one shared threshold."""
import math
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .db import INDEX_NAME, Database, check_threshold, is_server_url
from .errors import DatabaseError, UnknownIdentityError

THRESHOLD = 0.7
"""L2 distance between unit embeddings below which two faces are the same person (the door opens)."""


def resolve_threshold(threshold=None, database=None):
    """The threshold in force: the one given, else the database's stored one, else THRESHOLD."""
    if threshold is not None:
        return check_threshold(threshold)
    stored = getattr(database, "threshold", None)
    return stored if stored is not None else THRESHOLD


@dataclass(frozen=True)
class Gallery:
    """Enrolled embeddings as one matrix, with the name of each row."""

    names: np.ndarray
    embeddings: np.ndarray
    model: str = None

    @classmethod
    def of(cls, database):
        """From a Database, or from a notebook-style dict {name: embedding (D,) or (k, D)}."""
        if is_server_url(getattr(database, "path", "")):
            from .db.postgres import ServerGallery

            return ServerGallery(database.path, database.model)
        if isinstance(database, Database):
            return cls(np.array(database.row_names, dtype=object), database.embeddings, database.model)
        names, rows = [], []
        for name, vectors in database.items():
            vectors = np.atleast_2d(np.asarray(vectors, np.float32))
            names.extend([name] * len(vectors))
            rows.append(vectors)
        embeddings = np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)
        return cls(np.array(names, dtype=object), embeddings)

    @cached_property
    def _rows_by_name(self):
        rows = {}
        for row, name in enumerate(self.names):
            rows.setdefault(name, []).append(row)
        return rows

    def embeddings_of(self, identity):
        """The (k, D) embeddings of exactly `identity` (no case folding); UnknownIdentityError if none."""
        rows = self._rows_by_name.get(identity)
        if not rows:
            raise UnknownIdentityError(identity)
        return self.embeddings[rows]

    def is_empty(self):
        return len(self.names) == 0

    def check_model(self, model):
        if self.model is not None and model is not None and self.model != model.name:
            raise DatabaseError(f"the database holds {self.model} embeddings; this model is {model.name}")


class LiveGallery:
    """A database folder as last read, read again when its index changes on disk: enrolling or removing people
    with the command line takes effect in a running service or camera watch at its next request or frame."""

    def __init__(self, db_path, model_name, threshold=None):
        self.db_path, self.model_name, self.threshold = db_path, model_name, threshold
        self.index = None if is_server_url(db_path) else Path(db_path) / INDEX_NAME
        self._lock = threading.Lock()
        self._stamp, self._current = None, None

    def _stamp_now(self):
        """What changes whenever the database does: the index file's stat, or a server database's commit count."""
        if is_server_url(self.db_path):
            from .db.postgres import version

            return version(self.db_path)
        try:
            stat = self.index.stat()
            return stat.st_mtime_ns, stat.st_size, stat.st_ino
        except FileNotFoundError:
            return None

    def current(self):
        """(database, gallery, threshold in force), read again when the database has changed."""
        with self._lock:
            stamp = self._stamp_now()
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
    if hasattr(gallery, "nearest_rows"):  # a server finds each nearest row; the decision is taken here alike
        matches = []
        for encoding, (name, row) in zip(encodings, gallery.nearest_rows(encodings)):
            distance = float(l2_distances(encoding, row[None])[0])
            matches.append(Match(name if distance < threshold else None, distance, threshold))
        return matches
    if gallery.is_empty():
        raise DatabaseError("the database is empty: enroll someone first")
    if encodings.shape[1] != gallery.embeddings.shape[1]:
        raise DatabaseError(
            f"embeddings of size {encodings.shape[1]} cannot be compared with enrolled ones of size "
            f"{gallery.embeddings.shape[1]}"
        )
    # For unit vectors |a - b|^2 = 2 - 2 a.b, so the nearest row is the largest dot product.
    best_rows = np.argmax(encodings @ gallery.embeddings.T, axis=1)
    matches = []
    for encoding, row in zip(encodings, best_rows):
        distance = float(l2_distances(encoding, gallery.embeddings[row:row + 1])[0])
        name = gallery.names[row] if distance < threshold else None
        matches.append(Match(name, distance, threshold))
    return matches


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


def verify_main_face(image_path, identity, gallery, model, threshold, require_single_face=False):
    """(dist, door_open, face_count, face): the image's main face against exactly `identity`.

    The main face is the largest, or the most central of faces about as large (encoder.main_face_first). An
    unknown name is refused before the image is looked at; with `require_single_face`, an image showing
    several faces raises MultipleFacesError instead of deciding on the main one."""
    from .encoder import main_face

    gallery.check_model(model)
    gallery.embeddings_of(identity)
    face, face_count = main_face(image_path, model, require_single=require_single_face)
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
    from .encoder import img_to_encoding

    gallery = Gallery.of(database)
    gallery.check_model(model)
    if gallery.is_empty():
        raise DatabaseError("the database is empty: enroll someone first")
    match = nearest(img_to_encoding(image_path, model), gallery, resolve_threshold(threshold, database))[0]
    return match.distance, match.identity
