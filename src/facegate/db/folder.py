"""The enrollment database: a folder with a JSON index and an NPZ of unit embeddings, committed atomically.

    <db>/facegate.json        schema version, model, embedding size, threshold, one entry per embedding
    <db>/vectors-<hash>.npz   'embeddings': float32 (entries, embedding size); named by its sha256

A commit writes the new NPZ under a new name, then atomically replaces the JSON that names it, so a crash at
any point leaves either the old or the new database. Writers serialise on <db>/.lock.
"""
import contextlib
import hashlib
import io
import itertools
import json
import unicodedata
import zipfile
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import DatabaseError, UnknownIdentityError
from ..files import write_atomically
from ..models import MODELS
from .location import default_path, is_server_url

FORMAT = "facegate-db"
SCHEMA_VERSION = 1
INDEX_NAME = "facegate.json"
LOCK_NAME = ".lock"
MAX_INDEX_BYTES = 256 * 1024 * 1024
MAX_NAME_LENGTH = 128
NORM_TOLERANCE = 1e-3
LOCK_TIMEOUT_S = 60


def check_name(name):
    """A person's name as stored: non-empty, at most 128 characters, no control characters or edge spaces."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise DatabaseError(f"invalid name {name!r}: it must be non-empty without leading or trailing spaces")
    if len(name) > MAX_NAME_LENGTH:
        raise DatabaseError(f"invalid name: longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise DatabaseError(f"invalid name {name!r}: it contains control characters")
    return name


def check_threshold(value):
    """A distance threshold: a finite number in (0, 2], the range of L2 distances between unit vectors."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise DatabaseError(f"invalid threshold {value!r}: not a number") from None
    if not (0.0 < value <= 2.0):
        raise DatabaseError(f"invalid threshold {value}: it must be in (0, 2]")
    return value


@dataclass(frozen=True)
class Entry:
    """One enrolled embedding: whose it is, the photo it came from, and when (UTC, ISO 8601)."""

    name: str
    source: str
    enrolled_at: str


class Database:
    """Enrolled people and their embeddings; rows of `embeddings` match `entries` one to one."""

    def __init__(self, path, model=None, threshold=None, entries=(), embeddings=None):
        self.path = Path(path)
        self.model = model
        self.threshold = threshold
        self.entries = list(entries)
        size = MODELS[model].embedding_size if model else 0
        self.embeddings = np.zeros((0, size), np.float32) if embeddings is None else embeddings

    @classmethod
    def load(cls, path=None):
        """The database at `path` (default location if None; a folder, or a postgresql:// URL); an empty one if
        nothing is there yet."""
        path = path if path is not None else default_path()
        if is_server_url(path):
            from .postgres import load

            return load(path)
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise DatabaseError(f"{path}: not a database folder")
        index_file = path / INDEX_NAME
        if not index_file.exists():
            return cls(path)
        # A writer may replace the vectors between our two reads; the index read after it names the new ones.
        for _attempt in range(3):
            index = _read_index(index_file)
            try:
                return _from_index(path, index)
            except FileNotFoundError:
                continue
        raise DatabaseError(f"{path}: the vectors file named by {INDEX_NAME} is missing")

    def __len__(self):
        return len(self.entries)

    def name_counts(self):
        """{name: how many embeddings}, without reading the embeddings where they live on a server."""
        counts = {}
        for entry in self.entries:
            counts[entry.name] = counts.get(entry.name, 0) + 1
        return counts

    @property
    def row_names(self):
        return [entry.name for entry in self.entries]

    def people(self):
        """Each enrolled name with its entries, in name order."""
        people = {}
        for entry in self.entries:
            people.setdefault(entry.name, []).append(entry)
        return dict(sorted(people.items()))

    def check_model(self, model_name):
        if self.model is not None and self.model != model_name:
            raise DatabaseError(
                f"{self.path}: this database holds {self.model} embeddings; it cannot be used with {model_name}"
            )

    def add(self, name, embeddings, sources, model_name):
        """Enroll `embeddings` (k, D) of `name`, one per source photo."""
        self._append(*self._new_rows(name, embeddings, sources, model_name), model_name)

    def _new_rows(self, name, embeddings, sources, model_name):
        """(entries, embeddings) to enroll for `name`, checked against the database's model."""
        check_name(name)
        self.check_model(model_name)
        embeddings = np.asarray(embeddings, np.float32).reshape(len(sources), -1)
        if embeddings.shape[1] != MODELS[model_name].embedding_size:
            raise DatabaseError(f"embeddings of size {embeddings.shape[1]} do not fit {model_name}")
        _check_vectors(embeddings, self.path)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return [Entry(name, str(source), now) for source in sources], embeddings

    def _append(self, entries, embeddings, model_name):
        """Add rows already checked (model included), adopting `model_name` if the database has none yet."""
        if self.model is None:
            self.model = model_name
            self.embeddings = np.zeros((0, embeddings.shape[1]), np.float32)
        self.entries.extend(entries)
        self.embeddings = np.concatenate([self.embeddings, embeddings])

    def remove(self, name):
        """Forget every embedding of `name`; returns how many there were."""
        keep = [i for i, entry in enumerate(self.entries) if entry.name != name]
        removed = len(self.entries) - len(keep)
        if not removed:
            raise UnknownIdentityError(name)
        self.entries = [self.entries[i] for i in keep]
        self.embeddings = self.embeddings[keep]
        return removed

    def rename(self, old, new):
        """Give every embedding of `old` the name `new`, which must not be enrolled yet."""
        check_name(new)
        if old not in self.row_names:
            raise UnknownIdentityError(old)
        if new in self.row_names:
            raise DatabaseError(f"{new!r} is already enrolled")
        self.entries = [replace(entry, name=new) if entry.name == old else entry for entry in self.entries]

    def absorb(self, other, replace=False):
        """Take `other`'s people (an imported database): in place of ours with `replace`, else beside them.

        Merging keeps our threshold unless we have none."""
        if replace:
            self.model, self.threshold = other.model, other.threshold
            self.entries, self.embeddings = list(other.entries), other.embeddings.copy()
            return
        if not other.entries:
            return
        self.check_model(other.model)
        self._append(other.entries, other.embeddings, other.model)
        if self.threshold is None:
            self.threshold = other.threshold

    def set_threshold(self, value):
        self.threshold = None if value is None else check_threshold(value)

    def save(self):
        """Commit atomically: new NPZ, then the JSON index naming it, then remove vectors no longer named."""
        self.path.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, embeddings=np.ascontiguousarray(self.embeddings, np.float32))
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        vectors_name = f"vectors-{digest[:16]}.npz"
        vectors_path = self.path / vectors_name
        already_there = vectors_path.exists()
        index = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "embedding_size": int(self.embeddings.shape[1]) if self.model else None,
            "threshold": self.threshold,
            "vectors": {"file": vectors_name, "sha256": digest},
            "entries": [asdict(entry) for entry in self.entries],
        }
        text = json.dumps(index, indent=1, ensure_ascii=False) + "\n"
        try:
            if not already_there:
                write_atomically(vectors_path, data)
            write_atomically(self.path / INDEX_NAME, text.encode("utf-8"))
        except BaseException:
            if not already_there:  # the committed index does not name it: leave the folder as it was
                with contextlib.suppress(OSError):
                    vectors_path.unlink()
            raise
        for stale in itertools.chain(self.path.glob("vectors-*.npz"), self.path.glob(".*.tmp")):
            if stale.name != vectors_name:  # superseded vectors, and leftovers of a writer that was killed
                stale.unlink(missing_ok=True)


@contextlib.contextmanager
def transaction(path=None):
    """Lock the database, load it fresh, and save it if the block ends without an exception."""
    from filelock import FileLock, Timeout

    path = path if path is not None else default_path()
    if is_server_url(path):
        from .postgres import transaction as server_transaction

        with server_transaction(path) as database:
            yield database
        return
    database = Database.load(path)
    database.path.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(database.path / LOCK_NAME), timeout=LOCK_TIMEOUT_S):
            database = Database.load(database.path)
            yield database
            database.save()
    except Timeout:
        raise DatabaseError(f"{database.path}: locked by another facegate process for {LOCK_TIMEOUT_S} s") from None


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
    embeddings = _read_vectors(path / vectors_file, vectors_sha)
    return _validated(path, where, index, embeddings)


def _validated(path, where, record, embeddings):
    """A Database from a record's model, embedding size, threshold and entries, and its (N, D) embeddings,
    after checking that each part is well-formed and that they fit together. `where` names the source."""
    try:
        model = record["model"]
        threshold = record["threshold"]
        entries = [Entry(**{k: e[k] for k in ("name", "source", "enrolled_at")}) for e in record["entries"]]
    except (KeyError, TypeError) as exc:
        raise DatabaseError(f"{where}: damaged database (missing or malformed {exc})") from None
    if model is not None and (not isinstance(model, str) or model not in MODELS):
        raise DatabaseError(f"{where}: unknown model {model!r}")
    if model is None and entries:
        raise DatabaseError(f"{where}: entries without a model")
    expected_size = MODELS[model].embedding_size if model else None
    if record.get("embedding_size") != expected_size:
        raise DatabaseError(f"{where}: embedding size {record.get('embedding_size')!r} does not fit {model}")
    if threshold is not None:
        try:
            threshold = check_threshold(threshold)
        except DatabaseError as exc:
            raise DatabaseError(f"{where}: {exc}") from None
    for entry in entries:
        if not all(isinstance(v, str) for v in (entry.name, entry.source, entry.enrolled_at)):
            raise DatabaseError(f"{where}: damaged entry {entry}")
        try:
            check_name(entry.name)
        except DatabaseError as exc:
            raise DatabaseError(f"{where}: {exc}") from None
    if embeddings.shape != (len(entries), expected_size or embeddings.shape[1]) or (
        model is None and embeddings.size
    ):
        raise DatabaseError(
            f"{where}: {embeddings.shape[0]}x{embeddings.shape[1]} embeddings "
            f"do not match {len(entries)} entries of size {expected_size}"
        )
    _check_vectors(embeddings, where)
    return Database(path, model, threshold, entries, embeddings)


def _read_vectors(vectors_path, expected_sha):
    data = vectors_path.read_bytes()  # FileNotFoundError is retried by Database.load
    if hashlib.sha256(data).hexdigest() != expected_sha:
        raise DatabaseError(f"{vectors_path}: damaged vectors file (sha256 does not match the index)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            embeddings = archive["embeddings"]
    except (ValueError, KeyError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DatabaseError(f"{vectors_path}: unreadable vectors file ({exc})") from None
    if embeddings.dtype != np.float32 or embeddings.ndim != 2:
        raise DatabaseError(f"{vectors_path}: expected a 2-d float32 array, found {embeddings.dtype} {embeddings.shape}")
    return embeddings


def _check_vectors(embeddings, where):
    if not np.isfinite(embeddings).all():
        raise DatabaseError(f"{where}: embeddings contain NaN or infinity")
    norms = np.linalg.norm(embeddings, axis=1)
    if len(norms) and not np.all(np.abs(norms - 1.0) <= NORM_TOLERANCE):
        raise DatabaseError(f"{where}: embeddings are not unit vectors")
