"""The enrollment database's interface, what every kind shares, and the choice of kind.

A Database holds enrolled rows (an Entry and a unit embedding each) under one model and threshold; it is read and
committed by the store of its location's kind (folder.py, postgres.py), chosen once by store_of(location)."""
from dataclasses import asdict, replace
from datetime import datetime, timezone

import numpy as np

from ..errors import DatabaseError, UnknownIdentityError
from ..networks.models import MODELS
from .location import database_location
from .records import Entry, check_name, check_threshold, check_vectors

SCHEMA_VERSION = 1

STORES = {}
"""{location kind: its store}: filled by folder.py and postgres.py (see Store)."""


class Store:
    """How one kind of database is read and written. Each kind's module registers one in STORES."""

    kind = None

    def load(self, location):
        """The database at `location` as it is now (an empty one if nothing is there yet)."""
        raise NotImplementedError

    def transaction(self, location):
        """A with-block: lock, load fresh, yield the database, commit its changes if the block succeeds."""
        raise NotImplementedError

    def save(self, database):
        """Commit `database` to its location."""
        raise NotImplementedError

    def change_stamp(self, location):
        """A value that changes whenever the database does (what a running service or watch compares)."""
        raise NotImplementedError

    def gallery(self, database):
        """What decisions ask (matching): the enrolled rows, or a server that searches them."""
        raise NotImplementedError

    def thumbnail(self, database, name):
        """The JPEG face crop kept with one of `name`'s embeddings, or None (enrolled before thumbnails were kept,
        or from an import, which carries none)."""
        return None

    def thumbnails(self, database, name):
        """(Entry, JPEG bytes or None) of each of `name`'s enrolled embeddings."""
        return [(entry, None) for entry in database.entries if entry.name == name]

    def encryption(self, location):
        """The database's encryption record ({"key": id, "since": time}), or None when it is not encrypted."""
        return None

    def compact(self, location):
        """Make the storage forget the old versions of rows just sealed (a folder has none: files are replaced)."""

    def search_index(self, location, kind=None):
        """Set (kind 'exact' or 'hnsw') and say how identify searches: 'exact' or 'hnsw'."""
        raise DatabaseError(f"{location}: a folder database always searches exactly; indexes are for "
                            "PostgreSQL databases")


def store_of(location):
    """The store for `location` (a folder path, a postgresql:// URL or a location; None: the default) and the
    location as a FolderLocation or PgLocation."""
    location = database_location(location)
    return STORES[location.kind], location


def transaction(location=None):
    """Lock the database, load it fresh, and commit the block's changes if it ends without an exception."""
    store, location = store_of(location)
    return store.transaction(location)


def change_stamp(location):
    """What changes whenever the database at `location` does."""
    store, location = store_of(location)
    return store.change_stamp(location)


_ENCRYPTION = {}


def encryption_of(location):
    """Whether the database at `location` is encrypted (its record, or None), read again when it changes: what
    its access log and watch's snapshots ask before writing a face."""
    store, location = store_of(location)
    stamp = store.change_stamp(location)
    known = _ENCRYPTION.get(str(location))
    if known is None or known[0] != stamp:
        known = _ENCRYPTION[str(location)] = (stamp, store.encryption(location))
    return known[1]


class Database:
    """Enrolled people and their embeddings; rows of `embeddings` match `entries` one to one. Made directly, it
    holds its rows in memory (an export's contents, a new folder database); Database.load reads one."""

    def __init__(self, path, model=None, threshold=None, entries=(), embeddings=None, liveness_profiles=None):
        self.path = database_location(path)
        self.model = model
        self.threshold = threshold
        self.entries = list(entries)
        self.liveness_profiles = dict(liveness_profiles or {})
        """{camera name: liveness.profiles.Profile}: each camera's own liveness cue (liveness calibrate)."""
        self.actions = []
        """The audit entries of the changes made since the last commit (written by a transaction's commit)."""
        from ..retention import Retention

        self.retention = Retention()
        """How long the doors' faces, the access log and snapshots are kept (retention.py)."""
        size = MODELS[model].embedding_size if model else 0
        self.embeddings = np.zeros((0, size), np.float32) if embeddings is None else embeddings
        self.new_thumbnails = {}
        """{thumbnail_key(embedding): JPEG bytes} of the rows added since the last commit (written by it)."""
        self.encryption = None
        """{"key": id, "since": time} once the database is encrypted (sealing/), else None."""
        self.resealing = False
        """Whether the commit seals every stored embedding and thumbnail again, under the key file's current key."""

    @classmethod
    def load(cls, path=None):
        """The database at `path` (default location if None; a folder, or a postgresql:// URL); an empty one if
        nothing is there yet."""
        store, location = store_of(path)
        return store.load(location)

    def save(self):
        """Commit to the database's location (a folder: atomically)."""
        store_of(self.path)[0].save(self)

    def gallery(self):
        """What decisions ask (see matching.Gallery.of)."""
        return store_of(self.path)[0].gallery(self)

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

    def add(self, name, embeddings, sources, model_name, thumbnails=None):
        """Enroll `embeddings` (k, D) of `name`, one per source photo; `thumbnails`, a small JPEG face crop (or
        None) for each, are kept with them."""
        entries, embeddings = self._new_rows(name, embeddings, sources, model_name)
        self._keep_thumbnails(embeddings, thumbnails)
        self._append(entries, embeddings, model_name)
        self._note_enrolled(name, entries)

    def _note(self, action, target=None, **details):
        """Keep the audit entry of a change (audit.entry: who and when are taken now)."""
        from ..audit import entry

        self.actions.append(entry(action, target, **details))

    def _note_enrolled(self, name, entries):
        self._note("enroll", name, photos=len(entries), sources=[entry.source for entry in entries])

    def _note_absorbed(self, other, replace):
        self._note("import", None, source=str(other.path), people=len(other.name_counts()), photos=len(other),
                   replace=replace, liveness_profiles=sorted(other.liveness_profiles))

    def _keep_thumbnails(self, embeddings, thumbnails):
        for vector, jpeg in zip(embeddings, thumbnails or ()):
            if jpeg:
                self.new_thumbnails[thumbnail_key(vector)] = bytes(jpeg)

    def thumbnail(self, name):
        """A JPEG face crop of `name` (from one of their enrolled photos), or None."""
        return store_of(self.path)[0].thumbnail(self, name)

    def thumbnails(self, name):
        """(Entry, JPEG bytes or None) of each of `name`'s enrolled embeddings (a person's data on request)."""
        return store_of(self.path)[0].thumbnails(self, name)

    def _new_rows(self, name, embeddings, sources, model_name):
        """(entries, embeddings) to enroll for `name`, checked against the database's model."""
        check_name(name)
        self.check_model(model_name)
        embeddings = np.asarray(embeddings, np.float32).reshape(len(sources), -1)
        if embeddings.shape[1] != MODELS[model_name].embedding_size:
            raise DatabaseError(f"embeddings of size {embeddings.shape[1]} do not fit {model_name}")
        check_vectors(embeddings, self.path)
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
        self._note("remove", name, photos=removed)
        return removed

    def rename(self, old, new):
        """Give every embedding of `old` the name `new`, which must not be enrolled yet."""
        check_name(new)
        if old not in self.row_names:
            raise UnknownIdentityError(old)
        if new in self.row_names:
            raise DatabaseError(f"{new!r} is already enrolled")
        self.entries = [replace(entry, name=new) if entry.name == old else entry for entry in self.entries]
        self._note("rename", old, to=new)

    def absorb(self, other, replace=False):
        """Take `other`'s people (an imported database): in place of ours with `replace`, else beside them.

        Merging keeps our threshold unless we have none."""
        self._absorb_profiles(other, replace)
        self._note_absorbed(other, replace)
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
        before, self.threshold = self.threshold, None if value is None else check_threshold(value)
        self._note("threshold", None, before=before, after=self.threshold)

    def set_liveness_profile(self, profile):
        """Keep a camera's liveness Profile (in place of one of the same name)."""
        self.liveness_profiles = {**self.liveness_profiles, profile.name: profile}
        self._note("liveness calibrate", profile.name, fitted_at=profile.fitted_at,
                   cross_validated=profile.figures.get("cross_validated"))

    def remove_liveness_profile(self, name):
        if name not in self.liveness_profiles:
            raise DatabaseError(f"{self.path}: no liveness profile named {name!r}")
        self.liveness_profiles = {k: v for k, v in self.liveness_profiles.items() if k != name}
        self._note("liveness remove", name)

    def set_retention(self, retention):
        """Keep `retention` (a retention.Retention) as the database's setting."""
        self.retention = retention
        self._note("retention", None, **asdict(retention))

    def encrypt(self, key, action):
        """From this commit on, seal everything under the key file's key `key` (an id), the stored blobs
        included; `action` ("key init", "key rotate") is what the audit trail says."""
        self.encryption = {"key": key, "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.resealing = True
        self._note(action, None, key=key)

    def liveness_cue(self, camera=None):
        """The liveness Cue `camera` is judged by: its profile, else the `default` one, else the shipped cue."""
        from ..liveness.profiles import cue_for

        return cue_for(self.liveness_profiles, camera)

    def _absorb_profiles(self, other, replace):
        """An import's liveness profiles: in place of ours with `replace`, else those we do not have."""
        kept = {} if replace else self.liveness_profiles
        self.liveness_profiles = {**other.liveness_profiles, **kept}


def thumbnail_key(vector):
    """Which thumbnail goes with an embedding: the start of the sha256 of its float32 bytes."""
    import hashlib

    return hashlib.sha256(np.asarray(vector, np.float32).tobytes()).hexdigest()[:24]
