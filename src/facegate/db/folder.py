"""The enrollment database as a folder (the embedded default): a JSON index and an NPZ of unit embeddings.

    <db>/facegate.json        schema version, model, embedding size, threshold, one entry per embedding, the
                              cameras' liveness profiles (liveness/profiles.py), the retention setting
    <db>/vectors-<hash>.npz   'embeddings': float32 (entries, embedding size); named by its sha256
    <db>/thumbnails/<key>.jpg a small face crop of an enrolled photo, named by its embedding (base.thumbnail_key)

Once the database is encrypted (the index's `encryption`), the NPZ and the thumbnails are sealed (sealing/).

A commit writes the new NPZ under a new name, then atomically replaces the JSON that names it, so a crash at
any point leaves either the old or the new database. Writers serialise on <db>/.lock. The thumbnails of new rows
are written before the index; those of rows no longer in it are deleted after it.
"""
import contextlib
import hashlib
import io
import itertools
import json
import zipfile
from pathlib import Path
from dataclasses import asdict

import numpy as np

from ..errors import DatabaseError
from ..files import write_atomically
from ..sealing import check_key, load_keyring, opened, seal, sealed_if, sealed_with
from .base import SCHEMA_VERSION, STORES, Database, Store, thumbnail_key
from .records import profile_records, validated, validated_profiles
from .gallery import Gallery

FORMAT = "facegate-db"
INDEX_NAME = "facegate.json"
LOCK_NAME = ".lock"
MAX_INDEX_BYTES = 256 * 1024 * 1024
LOCK_TIMEOUT_S = 60
THUMBNAILS = "thumbnails"


class FolderStore(Store):
    """A database folder: read whole, committed atomically under a file lock."""

    kind = "folder"

    def load(self, path):
        if path.exists() and not path.is_dir():
            raise DatabaseError(f"{path}: not a database folder")
        index_file = path / INDEX_NAME
        if not index_file.exists():
            return Database(path)
        # A writer may replace the vectors between our two reads; the index read after it names the new ones.
        for _attempt in range(3):
            index = _read_index(index_file)
            try:
                return _from_index(path, index)
            except FileNotFoundError:
                continue
        raise DatabaseError(f"{path}: the vectors file named by {INDEX_NAME} is missing")

    @contextlib.contextmanager
    def transaction(self, path):
        from filelock import FileLock, Timeout

        if path.exists() and not path.is_dir():
            raise DatabaseError(f"{path}: not a database folder")
        path.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(path / LOCK_NAME), timeout=LOCK_TIMEOUT_S):
                database = self.load(path)
                yield database
                self._save_audited(database)
        except Timeout:
            raise DatabaseError(f"{path}: locked by another facegate process for {LOCK_TIMEOUT_S} s") from None

    def _save_audited(self, database):
        """Commit with the audit records of its changes: the records first (no change without its record), taken
        back should the commit fail (a failed command leaves the folder as it was)."""
        from ..audit.folder import FolderTrail

        trail = FolderTrail(database.path)
        mark = trail.append(database.actions, locked=True)
        try:
            self.save(database)
        except BaseException:
            trail.undo(mark)
            raise
        database.actions = []

    def change_stamp(self, path):
        try:
            stat = (path / INDEX_NAME).stat()
            return stat.st_mtime_ns, stat.st_size, stat.st_ino
        except FileNotFoundError:
            return None

    def encryption(self, path):
        index_file = path / INDEX_NAME
        return _read_index(index_file).get("encryption") if index_file.exists() else None

    def thumbnail(self, database, name):
        return next((jpeg for _, jpeg in self._thumbnails(database, name) if jpeg), None)

    def thumbnails(self, database, name):
        return list(self._thumbnails(database, name))

    def _thumbnails(self, database, name):
        """(Entry, JPEG or None) of `name`'s embeddings, each file read when it is asked for."""
        folder = database.path / THUMBNAILS
        for entry, vector in zip(database.entries, database.embeddings):
            if entry.name == name:
                path = folder / f"{thumbnail_key(vector)}.jpg"
                try:
                    data = path.read_bytes()
                except OSError:
                    yield entry, None
                    continue
                yield entry, opened(data, "thumbnail", path)

    def gallery(self, database):
        return Gallery(np.array(database.row_names, dtype=object), database.embeddings, database.model)

    def save(self, database):
        """New NPZ, then the JSON index naming it, then remove vectors no longer named."""
        database.path.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, embeddings=np.ascontiguousarray(database.embeddings, np.float32))
        encrypted = bool(database.encryption)
        data = sealed_if(encrypted, buffer.getvalue(), "embeddings")
        digest = hashlib.sha256(data).hexdigest()
        vectors_name = f"vectors-{digest[:16]}.npz"
        vectors_path = database.path / vectors_name
        already_there = vectors_path.exists()
        index = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "model": database.model,
            "embedding_size": int(database.embeddings.shape[1]) if database.model else None,
            "threshold": database.threshold,
            "vectors": {"file": vectors_name, "sha256": digest},
            "entries": [asdict(entry) for entry in database.entries],
            "liveness_profiles": profile_records(database.liveness_profiles),
            "retention": database.retention.to_record(),
            "encryption": database.encryption,
        }
        text = json.dumps(index, indent=1, ensure_ascii=False) + "\n"
        thumbnails = database.path / THUMBNAILS
        made_folder, written = not thumbnails.exists() and bool(database.new_thumbnails), []
        try:
            if made_folder:
                thumbnails.mkdir()
            for key, jpeg in database.new_thumbnails.items():
                if not (thumbnails / f"{key}.jpg").exists():
                    write_atomically(thumbnails / f"{key}.jpg", sealed_if(encrypted, jpeg, "thumbnail"))
                    written.append(thumbnails / f"{key}.jpg")
            if database.resealing:  # each file replaced whole: old or new, and both open while the key file has both
                _reseal_thumbnails(thumbnails, database.embeddings)
            if not already_there:
                write_atomically(vectors_path, data)
            write_atomically(database.path / INDEX_NAME, text.encode("utf-8"))
        except BaseException:  # the committed index does not name them: leave the folder as it was
            with contextlib.suppress(OSError):
                for path in written + ([] if already_there else [vectors_path]):
                    path.unlink(missing_ok=True)
                if made_folder:
                    thumbnails.rmdir()
            raise
        for stale in itertools.chain(database.path.glob("vectors-*.npz"), database.path.glob(".*.tmp")):
            if stale.name != vectors_name:  # superseded vectors, and leftovers of a writer that was killed
                stale.unlink(missing_ok=True)
        database.new_thumbnails, database.resealing = {}, False
        if thumbnails.is_dir():  # the faces of people removed go with them
            kept = {f"{thumbnail_key(vector)}.jpg" for vector in database.embeddings}
            for path in thumbnails.iterdir():
                if path.name not in kept:
                    path.unlink(missing_ok=True)


STORES[FolderStore.kind] = FolderStore()


def _reseal_thumbnails(folder, embeddings):
    """Seal every kept thumbnail again under the key file's current key."""
    current = load_keyring().current
    for key in {thumbnail_key(vector) for vector in embeddings}:
        path = folder / f"{key}.jpg"
        if path.exists() and sealed_with(data := path.read_bytes()) != current:
            write_atomically(path, seal(opened(data, "thumbnail", path), "thumbnail"))


def _read_index(index_file):
    try:
        size = index_file.stat().st_size
        if size > MAX_INDEX_BYTES:
            raise DatabaseError(f"{index_file}: index of {size:,} bytes is larger than any real database")
        index = json.loads(index_file.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatabaseError(f"{index_file}: damaged database index ({exc})") from None
    except OSError as exc:
        raise DatabaseError(f"{index_file}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise DatabaseError(f"{index_file}: not a facegate database index")
    if index.get("schema_version") != SCHEMA_VERSION:
        raise DatabaseError(
            f"{index_file}: schema version {index.get('schema_version')!r} is not supported (expected {SCHEMA_VERSION})"
        )
    return index


def _from_index(path, index):
    where = path / INDEX_NAME
    try:
        vectors_file, vectors_sha = index["vectors"]["file"], index["vectors"]["sha256"]
    except (KeyError, TypeError) as exc:
        raise DatabaseError(f"{where}: damaged database index (missing or malformed {exc})") from None
    if not isinstance(vectors_file, str) or Path(vectors_file).name != vectors_file:
        raise DatabaseError(f"{where}: invalid vectors file name {vectors_file!r}")
    encryption = index.get("encryption")
    if encryption is not None and not (isinstance(encryption, dict) and isinstance(encryption.get("key"), str)):
        raise DatabaseError(f"{where}: damaged database index (encryption {encryption!r})")
    check_key(encryption, path)
    embeddings = _read_vectors(path / vectors_file, vectors_sha)
    from ..retention import Retention

    database = Database(path, *validated(where, index, embeddings), validated_profiles(where, index))
    database.retention = Retention.from_record(index.get("retention", {}), where)
    database.encryption = encryption
    return database


def _read_vectors(vectors_path, expected_sha):
    data = vectors_path.read_bytes()  # FileNotFoundError is retried by Database.load
    if hashlib.sha256(data).hexdigest() != expected_sha:
        raise DatabaseError(f"{vectors_path}: damaged vectors file (sha256 does not match the index)")
    data = opened(data, "embeddings", vectors_path)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            embeddings = archive["embeddings"]
    except (ValueError, KeyError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DatabaseError(f"{vectors_path}: unreadable vectors file ({exc})") from None
    if embeddings.dtype != np.float32 or embeddings.ndim != 2:
        raise DatabaseError(f"{vectors_path}: expected a 2-d float32 array, found {embeddings.dtype} {embeddings.shape}")
    return embeddings
