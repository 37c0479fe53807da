"""Connections to a PostgreSQL server holding facegate's tables, with the schema in place and errors in one line
(the password never shown): what the database (postgres.py), its search (search.py) and the access log's table
(accesslog/table.py) open."""
import contextlib
import threading
import urllib.parse

from ..errors import DatabaseError
from .base import SCHEMA_VERSION
from .location import PgLocation

LOCK_KEY = 0x66616365676174  # 'facegat': the advisory lock every facegate writer of a database takes
CONNECT_TIMEOUT_S = 10


SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS facegate_meta (
    id int PRIMARY KEY CHECK (id = 1),
    schema_version int NOT NULL,
    model text,
    embedding_size int,
    threshold double precision,
    version bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS facegate_embeddings (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    source text NOT NULL,
    enrolled_at text NOT NULL,
    embedding vector NOT NULL,
    thumbnail bytea
);
CREATE INDEX IF NOT EXISTS facegate_embeddings_name ON facegate_embeddings (name);
CREATE TABLE IF NOT EXISTS facegate_access_log (
    id bigserial PRIMARY KEY,
    time timestamptz NOT NULL,
    door text, command text, claim text, identity text, distance double precision, threshold double precision,
    decision text, picture_sha256 text, extra jsonb, face bytea
);
CREATE INDEX IF NOT EXISTS facegate_access_log_time ON facegate_access_log (time);
"""


@contextlib.contextmanager
def connected(location):
    """A psycopg connection (committed when the block succeeds, rolled back otherwise), schema in place."""
    try:
        import psycopg
    except ImportError:
        raise DatabaseError("PostgreSQL databases need psycopg: pip install 'facegate[postgres]'") from None
    location = PgLocation(location)
    try:
        connection = psycopg.connect(location.url, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise DatabaseError(f"{location}: cannot connect to PostgreSQL on {location.host} "
                            f"({_reason(exc, location)})") from None
    try:
        with connection:
            _ensure_schema(connection, location)
            yield connection
    except psycopg.Error as exc:
        raise DatabaseError(f"{location}: PostgreSQL error ({_reason(exc, location)})") from None
    finally:
        connection.close()


def _reason(exc, location):
    """The server's first line, with the password taken out should it appear."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    password = urllib.parse.urlsplit(location.url).password
    return text.replace(password, "***") if password else text


def _ensure_schema(connection, location):
    exists = connection.execute("SELECT to_regclass('facegate_meta') IS NOT NULL").fetchone()[0]
    if not exists:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        connection.execute(SCHEMA)
        connection.execute("INSERT INTO facegate_meta (id, schema_version) VALUES (1, %s) ON CONFLICT DO NOTHING",
                           (SCHEMA_VERSION,))
    found = connection.execute("SELECT schema_version FROM facegate_meta WHERE id = 1").fetchone()
    if found is None or found[0] != SCHEMA_VERSION:
        raise DatabaseError(f"{location}: schema version {found and found[0]!r} is not supported (expected "
                            f"{SCHEMA_VERSION}); a newer facegate wrote it")


_READERS, _READERS_LOCK = {}, threading.Lock()


@contextlib.contextmanager
def reading(location):
    """A kept connection for reads (autocommit), one per database and process, used by one thread at a time: a
    camera asks the server several times a frame, and a new connection each time would cost more than the
    question. A connection that broke is opened again on the next read."""
    import psycopg

    location = PgLocation(location)
    with _READERS_LOCK:
        entry = _READERS.setdefault(location.url, [None, threading.Lock()])
    with entry[1]:
        if entry[0] is None or entry[0].closed or entry[0].broken:
            with connected(location):  # the schema is checked once per connection, with the usual errors
                pass
            try:
                entry[0] = psycopg.connect(location.url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
            except psycopg.Error as exc:
                raise DatabaseError(f"{location}: cannot connect to PostgreSQL on {location.host} "
                                    f"({_reason(exc, location)})") from None
        try:
            yield entry[0]
        except psycopg.Error as exc:
            entry[0].close()
            raise DatabaseError(f"{location}: PostgreSQL error ({_reason(exc, location)})") from None
