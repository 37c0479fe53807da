"""Unknown visitors: the recent `unknown` decisions whose face crop the log kept, grouped into people by the
clustering `facegate cluster` does (Chinese whispers at the database's threshold), for the desk to name ("this is
Ana" enrolls the chosen crops, Frigate's train step). A crop that someone enrolled now matches is no longer shown."""
import io
import threading
from dataclasses import dataclass

import numpy as np

from ..clustering import ClusteredFace, cluster_faces
from ..enrollment import with_border
from ..matching import nearest

RECENT = 200
"""How many of the newest `unknown` decisions the page looks at."""
CACHED = 2000
"""Embeddings of crops kept in memory (each crop is embedded once)."""


@dataclass
class Visitor:
    """One unknown decision with a face crop: its record, the crop's key in the log, its embedding (None when no
    face is found in the crop again)."""

    key: str
    record: dict
    embedding: np.ndarray = None


class Visitors:
    """The unknown visitors page's data over the service's WarmState, embedding each crop once."""

    def __init__(self, state):
        self.state = state
        self._embeddings, self._lock = {}, threading.Lock()

    def groups(self, store):
        """(groups of Visitors, largest first; visitors seen once; how many crops now match someone enrolled)."""
        records, _ = store.newest(0, RECENT, decision="unknown")
        visitors = [Visitor(store.face_key(record), record) for record in records if store.face_key(record)]
        for visitor in visitors:
            visitor.embedding = self._embedding(store, visitor.key)
        seen = [visitor for visitor in visitors if visitor.embedding is not None]
        database, gallery, threshold = self.state.current()
        if seen and database.name_counts():
            matches = nearest(np.stack([visitor.embedding for visitor in seen]), gallery, threshold)
            unknown = [visitor for visitor, match in zip(seen, matches) if match.identity is None]
        else:
            unknown = seen
        faces = [ClusteredFace(visitor.key, [0, 0, 0, 0], visitor.embedding) for visitor in unknown]
        by_key = {visitor.key: visitor for visitor in unknown}
        groups = [[by_key[face.path] for face in cluster] for cluster in cluster_faces(faces, threshold)]
        alone = [by_key[face.path] for face in faces if face.cluster == -1]
        return groups, alone, len(seen) - len(unknown)

    def _embedding(self, store, key):
        with self._lock:
            if key in self._embeddings:
                return self._embeddings[key]
        crop = store.face(key)
        embedding = None if crop is None else self._embed(crop)
        with self._lock:
            if len(self._embeddings) >= CACHED:
                self._embeddings.pop(next(iter(self._embeddings)))
            self._embeddings[key] = embedding
        return embedding

    def _embed(self, crop):
        """The embedding of the largest face in a JPEG crop (padded with its edge pixels: a tight crop), or None."""
        from PIL import Image, UnidentifiedImageError

        try:
            pixels = np.asarray(Image.open(io.BytesIO(crop)).convert("RGB"))
        except (UnidentifiedImageError, OSError):
            return None
        with self.state.lock:
            faces = self.state.model.faces_in_arrays([with_border(pixels)])[0]
        return max(faces, key=lambda face: face.area).embedding if faces else None
