"""What a stored database is made of and what it must be: an Entry per enrolled embedding, and the checks every
kind (folder.py, postgres.py) and an export read their names, thresholds, vectors, profiles and records through."""
import unicodedata
from dataclasses import dataclass

import numpy as np

from ..errors import DatabaseError
from ..networks.models import MODELS

MAX_NAME_LENGTH = 128
NORM_TOLERANCE = 1e-3


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


def check_vectors(embeddings, where):
    """Embeddings read or about to be written: finite unit vectors, else DatabaseError naming `where`."""
    if not np.isfinite(embeddings).all():
        raise DatabaseError(f"{where}: embeddings contain NaN or infinity")
    norms = np.linalg.norm(embeddings, axis=1)
    if len(norms) and not np.all(np.abs(norms - 1.0) <= NORM_TOLERANCE):
        raise DatabaseError(f"{where}: embeddings are not unit vectors")


@dataclass(frozen=True)
class Entry:
    """One enrolled embedding: whose it is, the photo it came from, and when (UTC, ISO 8601)."""

    name: str
    source: str
    enrolled_at: str


def validated_profiles(where, record):
    """{name: Profile} of a record's `liveness_profiles` ({name: stored profile}; none when absent)."""
    from ..liveness.profiles import Profile

    stored = record.get("liveness_profiles") or {}
    if not isinstance(stored, dict):
        raise DatabaseError(f"{where}: damaged database (liveness_profiles is not a mapping)")
    return {name: Profile.from_record(name, value, where) for name, value in stored.items()}


def profile_records(profiles):
    """{name: stored profile} of {name: Profile}, as a database or an export holds them."""
    return {name: profile.to_record() for name, profile in sorted(profiles.items())}


def validated(where, record, embeddings):
    """(model, threshold, entries, embeddings) of a record holding a model, embedding size, threshold and entries,
    and its (N, D) embeddings, after checking that each part is well-formed and that they fit together. `where`
    names the source in messages. Every kind reads its rows through this, as an export does."""
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
    check_vectors(embeddings, where)
    return model, threshold, entries, embeddings
