"""The enrollment database on PostgreSQL with pgvector: one database for every door of a site.

    facegate_meta        one row: schema_version, model, embedding_size, threshold, version (one more per commit)
    facegate_embeddings  one row per enrolled photo: name, source, enrolled_at, embedding (pgvector `vector`),
                         thumbnail (a small JPEG face crop; the column is added on first use to older databases)
    facegate_liveness_profiles  one row per camera with a liveness profile: name, profile (jsonb, as a folder's
                         index holds it; the table is made on first use in older databases)
    facegate_settings    the database's settings (retention), made on first use

`--db postgresql://USER:PASSWORD@HOST:PORT/DBNAME` (or FACEGATE_DB) selects it; every command works as on a
folder database. A commit is one SQL transaction under an advisory lock: it writes the changes (inserts the rows
enrolled, deletes the rows removed) and counts the version up, so concurrent writers serialise, a killed writer
leaves the old state, and enrolling one person costs the same in a gallery of ten people or a million. Rows read
back are validated (size, finite, unit length) exactly as a folder's are. The password never appears in a
message: the location is shown as postgresql://USER@HOST:PORT/DBNAME."""
import contextlib
from dataclasses import replace

import numpy as np

from ..errors import DatabaseError, UnknownIdentityError
from ..networks.models import MODELS
from .base import STORES, Database, Store
from .records import check_name, validated
from .connection import LOCK_KEY, connected, reading
from .location import PgLocation
from .pgsettings import read_profiles, read_retention, read_setting, write_profiles, write_setting
from .search import ServerGallery, hnsw_size, set_hnsw
from .gallery import Gallery
from .pgsealed import compact, has_sealed_column, make_sealed_columns, reseal_rows, sealed_vector, vector_of
from ..sealing import check_key, load_keyring, opened, sealed_if
from ..audit.table import append_in


class PostgresStore(Store):
    """A database on a PostgreSQL server: rows read when asked for, changes committed as they were made."""

    kind = "postgresql"

    def load(self, location):
        return load(location)

    def transaction(self, location):
        return transaction(location)

    def save(self, database):
        with connected(database.path) as connection:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            database.commit(connection)

    def change_stamp(self, location):
        return version(location)

    def gallery(self, database):
        if database.encryption:  # the server cannot compare sealed rows: they are opened and searched here
            return Gallery(np.array(database.row_names, dtype=object), database.embeddings, database.model)
        return ServerGallery(database.path, database.model)

    def encryption(self, location):
        with reading(location) as connection:
            return read_setting(connection, "encryption")

    def thumbnail(self, database, name):
        def read(connection):
            if not _has_thumbnails(connection):
                return None
            row = connection.execute("SELECT thumbnail FROM facegate_embeddings WHERE name = %s AND thumbnail IS "
                                     "NOT NULL ORDER BY id LIMIT 1", (name,)).fetchone()
            return opened(bytes(row[0]), "thumbnail", database.path) if row else None

        return database._query(read, kept=True)  # the console asks for one picture per person it shows

    def thumbnails(self, database, name):
        def read(connection):
            column = "thumbnail" if _has_thumbnails(connection) else "NULL::bytea"
            return connection.execute(f"SELECT name, source, enrolled_at, {column} FROM facegate_embeddings WHERE "
                                      "name = %s ORDER BY id", (name,)).fetchall()

        from .records import Entry

        return [(Entry(*row[:3]), None if row[3] is None else opened(bytes(row[3]), "thumbnail", database.path))
                for row in database._query(read)]

    def compact(self, location):
        compact(location)

    def search_index(self, location, kind=None):
        if kind == "hnsw" and self.encryption(location):
            raise DatabaseError(f"{location}: the embeddings are encrypted, so the server cannot index them; "
                                "identify opens them and searches in memory (docs/performance.md)")
        if kind is not None:
            set_hnsw(location, kind == "hnsw")
        with connected(location) as connection:
            return "hnsw" if hnsw_size(connection) is not None else "exact"


STORES[PostgresStore.kind] = PostgresStore()


def load(location, rows=False):
    """The database at `location` as a PostgresDatabase: its model and threshold, and with `rows` every row,
    validated (otherwise they are read when first asked for)."""
    with connected(location) as connection:
        if rows:
            return _read(connection, PgLocation(location))
        return _opened(connection, PgLocation(location))


def version(location):
    """The commit counter of the database: it changes whenever the database does (how a service sees changes)."""
    with reading(location) as connection:
        return connection.execute("SELECT version FROM facegate_meta WHERE id = 1").fetchone()[0]


@contextlib.contextmanager
def transaction(location):
    """Lock the database (every writer takes the same advisory lock) and commit the block's changes in the same
    SQL transaction if it ends without an exception. Only what changed is written: enrolling one person into a
    gallery of a million rows inserts that person's rows."""
    location = PgLocation(location)
    with connected(location) as connection:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        database = _opened(connection, location)
        database._connection = connection
        try:
            yield database
            database.commit(connection)
        finally:
            database._connection = None


def _opened(connection, location):
    """The PostgresDatabase at `location` (rows not read yet); fails closed when it is encrypted and the key file
    does not hold its key."""
    model, threshold = connection.execute("SELECT model, threshold FROM facegate_meta WHERE id = 1").fetchone()
    database = PostgresDatabase(location, model, threshold)
    database.encryption = read_setting(connection, "encryption")
    check_key(database.encryption, location)
    return database


class PostgresDatabase(Database):
    """A Database whose rows live in PostgreSQL. Its model and threshold are read at once; its rows, or only the
    count of rows per name, when something asks (a decision asks the server instead: see ServerGallery). Changes
    (add, remove, rename, absorb) are kept as a list and written as such by the commit."""

    def __init__(self, path, model=None, threshold=None, entries=None, embeddings=None):
        self.path, self.model, self.threshold = PgLocation(path), model, threshold
        self._rows = None if entries is None else (list(entries), embeddings)
        self._counts = None  # {name: rows}, what remove, rename and counts need without the vectors
        self._changes = []  # not yet committed, in order
        self._rewrite = False  # rows were set wholesale: the commit writes them all
        self._connection = None  # the transaction's, while in one
        self.actions = []  # audit entries of the changes (see Database.actions)
        self._profiles = None  # {name: Profile}, read when first asked for, with the changes applied
        self._profile_changes = []  # (name, Profile or None: removed), not yet committed
        self._retention, self._retention_changed = None, False  # read when first asked for
        self.encryption, self.resealing = None, False  # as Database's: read with the database, set by encrypt()

    @property
    def retention(self):
        if self._retention is None:
            self._retention = self._query(lambda connection: read_retention(connection, self.path), kept=True)
        return self._retention

    @retention.setter
    def retention(self, value):
        self._retention, self._retention_changed = value, True

    @property
    def liveness_profiles(self):
        if self._profiles is None:
            self._profiles = self._query(lambda connection: read_profiles(connection, self.path), kept=True)
        return dict(self._profiles)

    @liveness_profiles.setter
    def liveness_profiles(self, value):
        current = self.liveness_profiles
        self._profile_changes += [(name, None) for name in current.keys() - value.keys()]
        self._profile_changes += [(name, profile) for name, profile in value.items()
                                  if current.get(name) is not profile]
        self._profiles = dict(value)

    def _query(self, read, kept=False):
        """read(connection): in the open transaction, else on a connection of its own (or the process's kept
        reading connection when `kept`: for small reads asked often)."""
        if self._connection is not None:
            return read(self._connection)
        with (reading if kept else connected)(self.path) as connection:
            return read(connection)

    def _loaded(self):
        if self._rows is None:
            committed = self._query(lambda connection: _read(connection, self.path))
            rows = (committed.entries, committed.embeddings)
            for change in self._changes:
                rows = _rows_after(rows, change)
            self._rows = rows
        return self._rows

    @property
    def entries(self):
        return self._loaded()[0]

    @entries.setter
    def entries(self, value):
        self._set_rows(list(value), self._loaded()[1])

    @property
    def embeddings(self):
        return self._loaded()[1]

    @embeddings.setter
    def embeddings(self, value):
        self._set_rows(self._loaded()[0], value)

    def _set_rows(self, entries, embeddings):
        self._rows, self._counts, self._changes, self._rewrite = (entries, embeddings), None, [], True

    def name_counts(self):
        if self._counts is None:
            if self._rows is not None:
                self._counts = super().name_counts()
            else:
                self._counts = dict(self._query(lambda connection: connection.execute(
                    "SELECT name, count(*) FROM facegate_embeddings GROUP BY name ORDER BY name").fetchall()))
                for change in self._changes:
                    _count_after(self._counts, change)
        return dict(self._counts)

    def __len__(self):
        return sum(self.name_counts().values())

    def _change(self, change):
        self._changes.append(change)
        if self._rows is not None:
            self._rows = _rows_after(self._rows, change)
        if self._counts is not None:
            _count_after(self._counts, change)

    def add(self, name, embeddings, sources, model_name, thumbnails=None):
        entries, embeddings = self._new_rows(name, embeddings, sources, model_name)
        self.model = self.model or model_name
        self._change(("add", entries, embeddings, list(thumbnails or [None] * len(entries))))
        self._note_enrolled(name, entries)

    def remove(self, name):
        removed = self.name_counts().get(name, 0)
        if not removed:
            raise UnknownIdentityError(name)
        self._change(("remove", name))
        self._note("remove", name, photos=removed)
        return removed

    def rename(self, old, new):
        check_name(new)
        counts = self.name_counts()
        if old not in counts:
            raise UnknownIdentityError(old)
        if new in counts:
            raise DatabaseError(f"{new!r} is already enrolled")
        self._change(("rename", old, new))
        self._note("rename", old, to=new)

    def absorb(self, other, replace=False):
        self._absorb_profiles(other, replace)
        self._note_absorbed(other, replace)
        if replace:
            self.model, self.threshold = other.model, other.threshold
            self._change(("clear",))
        elif not other.entries:
            return
        else:
            self.check_model(other.model)
            self.model = self.model or other.model
            self.threshold = other.threshold if self.threshold is None else self.threshold
        if other.entries:
            self._change(("add", list(other.entries), np.asarray(other.embeddings, np.float32)))

    def commit(self, connection):
        """Write the changes (or every row, after a wholesale replacement) and count the version up."""
        size = MODELS[self.model].embedding_size if self.model else None
        connection.execute("UPDATE facegate_meta SET model = %s, embedding_size = %s, threshold = %s, "
                           "version = version + 1 WHERE id = 1", (self.model, size, self.threshold))
        if self.resealing:  # encrypt(): the encryption record is new
            make_sealed_columns(connection)
            write_setting(connection, "encryption", self.encryption)
        changes = [("clear",), ("add", *self._rows)] if self._rewrite else self._changes
        for change in changes:
            _write_change(connection, change, bool(self.encryption))
        if self.resealing:
            reseal_rows(connection, self.path)
        if self._profile_changes:
            write_profiles(connection, self._profile_changes)
        if self._retention_changed:
            write_setting(connection, "retention", self._retention.to_record())
            self._retention_changed = False
        append_in(connection, self.actions)  # the audit record, in the same SQL transaction as the change
        self._changes, self._rewrite, self._profile_changes, self.actions = [], False, [], []
        self.resealing = False


def _read(connection, location):
    """Every row of the database, validated as a folder's are, as a PostgresDatabase."""
    model, size, threshold = connection.execute(
        "SELECT model, embedding_size, threshold FROM facegate_meta WHERE id = 1").fetchone()
    sealed = "sealed" if has_sealed_column(connection) else "NULL::bytea"
    rows = connection.execute(f"SELECT name, source, enrolled_at, embedding::real[], {sealed} FROM "
                              "facegate_embeddings ORDER BY id").fetchall()
    keyring = load_keyring() if any(row[4] is not None for row in rows) else None
    rows = [(*row[:3], vector_of(row[3], row[4], location, keyring)) for row in rows]
    record = {"model": model, "embedding_size": size, "threshold": threshold,
              "entries": [{"name": name, "source": source, "enrolled_at": at} for name, source, at, _ in rows]}
    sizes = {len(row[3]) for row in rows}
    if sizes and sizes != {size}:
        raise DatabaseError(f"{location}: embeddings of size {', '.join(map(str, sorted(sizes)))} in "
                            f"facegate_embeddings, where facegate_meta says {size}")
    embeddings = np.array([row[3] for row in rows], np.float32).reshape(len(rows), size or 0)
    database = PostgresDatabase(location, *validated(location, record, embeddings))
    database.encryption = read_setting(connection, "encryption")
    return database


def _rows_after(rows, change):
    """(entries, embeddings) after one change."""
    entries, embeddings = rows
    kind, *arguments = change
    if kind == "clear":
        return [], embeddings[:0]
    if kind == "add":
        added, vectors = arguments[:2]
        if not len(entries):
            return list(added), np.asarray(vectors, np.float32)
        return entries + list(added), np.concatenate([embeddings, vectors])
    if kind == "remove":
        keep = [i for i, entry in enumerate(entries) if entry.name != arguments[0]]
        return [entries[i] for i in keep], embeddings[keep]
    old, new = arguments
    return [replace(entry, name=new) if entry.name == old else entry for entry in entries], embeddings


def _count_after(counts, change):
    """Update {name: rows} in place for one change."""
    kind, *arguments = change
    if kind == "clear":
        counts.clear()
    elif kind == "add":
        for entry in arguments[0]:
            counts[entry.name] = counts.get(entry.name, 0) + 1
    elif kind == "remove":
        counts.pop(arguments[0], None)
    else:
        counts[arguments[1]] = counts.pop(arguments[0])


def _write_change(connection, change, encrypted=False):
    kind, *arguments = change
    if kind == "clear":
        connection.execute("DELETE FROM facegate_embeddings")
    elif kind == "remove":
        connection.execute("DELETE FROM facegate_embeddings WHERE name = %s", arguments)
    elif kind == "rename":
        connection.execute("UPDATE facegate_embeddings SET name = %s WHERE name = %s", arguments[::-1])
    else:
        entries, vectors, *rest = arguments
        thumbnails = rest[0] if rest else [None] * len(entries)
        columns = "name, source, enrolled_at, " + ("sealed" if encrypted else "embedding")
        with_thumbnails = any(thumbnails)
        if with_thumbnails:
            _add_thumbnail_column(connection)
            columns += ", thumbnail"
        with connection.cursor().copy(f"COPY facegate_embeddings ({columns}) FROM STDIN") as copy:
            for entry, vector, thumbnail in zip(entries, vectors, thumbnails):
                value = sealed_vector(vector) if encrypted else "[" + ",".join(map(repr, vector.tolist())) + "]"
                row = (entry.name, entry.source, entry.enrolled_at, value)
                thumbnail = sealed_if(encrypted and thumbnail, thumbnail, "thumbnail")
                copy.write_row(row + (thumbnail,) if with_thumbnails else row)


def _has_thumbnails(connection):
    return connection.execute("SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = "
                              "'facegate_embeddings' AND column_name = 'thumbnail' AND table_schema = "
                              "current_schema())").fetchone()[0]


def _add_thumbnail_column(connection):
    """Databases made before thumbnails were kept get the column when the first one is written (under the
    writers' advisory lock, which the commit holds)."""
    if not _has_thumbnails(connection):
        connection.execute("ALTER TABLE facegate_embeddings ADD COLUMN IF NOT EXISTS thumbnail bytea")
