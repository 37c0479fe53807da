"""An encrypted PostgreSQL database's rows (postgres.py): each embedding sealed in facegate_embeddings.sealed
(bytea, with `embedding` NULL) and each thumbnail sealed in place.

The server can no longer compare embeddings: identify reads every row, opens it and searches in memory (the
decrypted gallery is kept until the database changes, matching.LiveGallery), and the HNSW index is dropped."""
import numpy as np

from ..errors import DatabaseError
from ..sealing import load_keyring, opened, seal, sealed_with
from .connection import CONNECT_TIMEOUT_S
from .search import HNSW_INDEX

SEALED_COLUMNS = """
ALTER TABLE facegate_embeddings ALTER COLUMN embedding DROP NOT NULL;
ALTER TABLE facegate_embeddings ADD COLUMN IF NOT EXISTS sealed bytea;
ALTER TABLE facegate_embeddings ADD COLUMN IF NOT EXISTS thumbnail bytea;
"""


def make_sealed_columns(connection):
    """The columns sealed rows need (under the writers' lock, which the commit holds); the HNSW index goes."""
    connection.execute(SEALED_COLUMNS)
    connection.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")


def has_sealed_column(connection):
    return connection.execute("SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = "
                              "'facegate_embeddings' AND column_name = 'sealed' AND table_schema = "
                              "current_schema())").fetchone()[0]


def sealed_vector(vector):
    return seal(np.asarray(vector, "<f4").tobytes(), "embedding")


def vector_of(embedding, sealed, where, keyring=None):
    """A row's embedding: its `embedding` column (plain), else its opened `sealed` one (with `keyring`, read once
    for many rows, else the key file's)."""
    if sealed is None:
        return embedding
    return np.frombuffer(opened(sealed, "embedding", where, keyring), "<f4")


def reseal_rows(connection, where):
    """Seal every row's embedding and thumbnail under the key file's current key (those not yet so)."""
    current = load_keyring().current
    rows = connection.execute("SELECT id, embedding::real[], sealed, thumbnail FROM facegate_embeddings").fetchall()
    updates = []
    for ident, embedding, sealed, thumbnail in rows:
        if sealed_with(sealed) == current and (thumbnail is None or sealed_with(thumbnail) == current):
            continue
        picture = None if thumbnail is None else seal(opened(thumbnail, "thumbnail", where), "thumbnail")
        updates.append((sealed_vector(vector_of(embedding, sealed, where)), picture, ident))
    with connection.cursor() as cursor:
        cursor.executemany("UPDATE facegate_embeddings SET sealed = %s, embedding = NULL, thumbnail = %s "
                           "WHERE id = %s", updates)
    return len(updates)


def compact(location):
    """VACUUM FULL the tables holding faces: the plain versions of rows just sealed stay in the table's files
    until it is rewritten. (The server's write-ahead log keeps them until it is recycled: README, "Encryption at
    rest".)"""
    import psycopg

    from .connection import _reason

    try:
        with psycopg.connect(location.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as connection:
            connection.execute("VACUUM FULL facegate_embeddings, facegate_access_log")
    except psycopg.Error as exc:
        raise DatabaseError(f"{location}: PostgreSQL error ({_reason(exc, location)})") from None
