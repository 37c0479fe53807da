"""Searching the enrolled rows on a PostgreSQL server: the nearest row to a face (exact, or through an HNSW
index), and a claimed person's rows."""
import numpy as np

from ..errors import DatabaseError, UnknownIdentityError
from ..networks.models import MODELS
from .records import check_vectors
from .gallery import GalleryBase
from .location import PgLocation
from .connection import LOCK_KEY, connected, reading


class ServerGallery(GalleryBase):
    """The enrolled people as the server holds them: a claimed person's rows are read alone, and the nearest row
    to a face is found by the server (`<->`, exact: no index approximates it). Every row read is validated as a
    folder's; the distance that decides is computed here from the row, as for a folder database."""

    def __init__(self, location, model):
        self.location, self.model = PgLocation(location), model

    def is_empty(self):
        with reading(self.location) as connection:
            return connection.execute("SELECT NOT EXISTS (SELECT 1 FROM facegate_embeddings)").fetchone()[0]

    def embeddings_of(self, identity):
        """The (k, D) embeddings of exactly `identity`; UnknownIdentityError if none."""
        with reading(self.location) as connection:
            rows = connection.execute("SELECT embedding::real[] FROM facegate_embeddings WHERE name = %s ORDER BY id",
                                      (identity,)).fetchall()
        if not rows:
            raise UnknownIdentityError(identity)
        return self._checked([vector for (vector,) in rows])

    def nearest_rows(self, encodings):
        """[(name, embedding)] of the row nearest to each of `encodings` (F, D): the server's exact search, or its
        HNSW index where `facegate index hnsw` built one (approximate: see docs/performance.md for its recall)."""
        found = []
        with reading(self.location) as connection:
            size = hnsw_size(connection)
            if size:
                connection.execute(f"SET hnsw.ef_search = {HNSW_EF_SEARCH}")
                order = f"embedding::vector({size}) <-> %s::vector({size})"
            else:
                order = "embedding <-> %s::vector, id"
            for encoding in np.atleast_2d(encodings):
                literal = "[" + ",".join(repr(float(v)) for v in encoding) + "]"
                # the row is picked first and converted alone: converting in the ordered query converts every row
                row = connection.execute("SELECT name, embedding::real[] FROM (SELECT name, embedding FROM "
                                         f"facegate_embeddings ORDER BY {order} LIMIT 1) AS nearest",
                                         (literal,)).fetchone()
                if row is None:
                    raise DatabaseError("the database is empty: enroll someone first")
                found.append((row[0], self._checked([row[1]])[0]))
        return found

    def _checked(self, vectors):
        size = MODELS[self.model].embedding_size if self.model in MODELS else None
        embeddings = np.array(vectors, np.float32)
        if size is not None and embeddings.shape[1] != size:
            raise DatabaseError(f"{self.location}: a row of size {embeddings.shape[1]} where {self.model} has {size}")
        check_vectors(embeddings, self.location)
        return embeddings


HNSW_INDEX = "facegate_embeddings_hnsw"
HNSW_EF_SEARCH = 1000
"""Candidates an HNSW search keeps: pgvector's maximum (its default is 40). At a million rows only this reaches
recall@1 >= 99% against exact search, at a third of its time (bench/pgvector, docs/performance.md)."""
HNSW_BUILD_MEMORY = "2GB"
"""The server memory an index build may use (for that build only): a million rows' graph fits."""


def hnsw_size(connection):
    """The embedding size the HNSW index was built for, or None when searches are exact."""
    row = connection.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (HNSW_INDEX,)).fetchone()
    if row is None:
        return None
    return int(row[0].split("::vector(")[1].split(")")[0])


def set_hnsw(location, enabled):
    """Build (`enabled`) or drop the HNSW index of the embeddings; returns whether searches are now approximate."""
    with connected(location) as connection:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        if not enabled:
            connection.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
            return False
        size = connection.execute("SELECT embedding_size FROM facegate_meta WHERE id = 1").fetchone()[0]
        if size is None:
            raise DatabaseError(f"{PgLocation(location)}: nothing enrolled yet: enroll first, then build the index")
        # pgvector builds fast while the graph fits in maintenance_work_mem (about 1 kB a row here), slowly after
        connection.execute(f"SET LOCAL maintenance_work_mem = '{HNSW_BUILD_MEMORY}'")
        connection.execute(f"CREATE INDEX IF NOT EXISTS {HNSW_INDEX} ON facegate_embeddings "
                           f"USING hnsw ((embedding::vector({size})) vector_l2_ops)")
        return True
