"""What decisions ask of the enrolled people (matching.py): the rows of a person, and the row nearest a face.

Gallery holds the rows in memory (a folder database, a notebook's dict); search.ServerGallery asks a PostgreSQL
server the same questions. Both answer with rows; the distances that decide are computed in matching.py alike."""
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import DatabaseError, UnknownIdentityError
from .base import Database


class GalleryBase:
    """The questions a decision asks. `model` is the name of the model the rows were made with (None: unknown)."""

    model = None

    def is_empty(self):
        raise NotImplementedError

    def embeddings_of(self, identity):
        """The (k, D) embeddings of exactly `identity` (no case folding); UnknownIdentityError if none."""
        raise NotImplementedError

    def nearest_rows(self, encodings):
        """[(name, embedding (D,))] of the row nearest to each of `encodings` (F, D); DatabaseError when empty."""
        raise NotImplementedError

    def check_model(self, model):
        if self.model is not None and model is not None and self.model != model.name:
            raise DatabaseError(f"the database holds {self.model} embeddings; this model is {model.name}")


@dataclass(frozen=True)
class Gallery(GalleryBase):
    """Enrolled embeddings as one matrix, with the name of each row."""

    names: np.ndarray
    embeddings: np.ndarray
    model: str = None

    @classmethod
    def of(cls, database):
        """What `database` answers decisions with: a Database's own gallery, or one made from a notebook-style
        dict {name: embedding (D,) or (k, D)}."""
        if isinstance(database, Database):
            return database.gallery()
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
        rows = self._rows_by_name.get(identity)
        if not rows:
            raise UnknownIdentityError(identity)
        return self.embeddings[rows]

    def is_empty(self):
        return len(self.names) == 0

    def nearest_rows(self, encodings):
        if self.is_empty():
            raise DatabaseError("the database is empty: enroll someone first")
        if encodings.shape[1] != self.embeddings.shape[1]:
            raise DatabaseError(
                f"embeddings of size {encodings.shape[1]} cannot be compared with enrolled ones of size "
                f"{self.embeddings.shape[1]}"
            )
        # For unit vectors |a - b|^2 = 2 - 2 a.b, so the nearest row is the largest dot product.
        best_rows = np.argmax(encodings @ self.embeddings.T, axis=1)
        return [(self.names[row], self.embeddings[row]) for row in best_rows]
