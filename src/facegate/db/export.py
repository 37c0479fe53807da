"""Export (backup) and import of a database of either kind: one portable file, a JSON header line naming the
format, its version and the sha256 of the body, then the body, a JSON document with the same fields as a folder
database's index (the cameras' liveness profiles included) and the embeddings as base64 of little-endian float32.

The body is sealed (sealing/, AES-256-GCM) when the database is encrypted, with the key file's key, or with a
passphrase (scrypt); the header then says which (`sealed`: {"key": id} or {"passphrase": salt and cost})."""
import hashlib
import json
from dataclasses import asdict
from pathlib import Path


from ..errors import DatabaseError, SealError, WrongKeyError
from ..sealing import load_keyring, opened, passphrase_keyring, seal
from ..files import vectors_from_text, vectors_to_text, write_atomically
from .base import Database
from .records import profile_records, validated, validated_profiles
from .folder import MAX_INDEX_BYTES

EXPORT_FORMAT = "facegate-export"
EXPORT_VERSION = 1


def export_database(database, target, passphrase=None):
    """Write `database` to the file `target` (atomically) as a portable, hash-checked export: sealed with
    `passphrase` if given, else with the key file's key if the database is encrypted, else plain."""
    body = {
        "model": database.model,
        "embedding_size": int(database.embeddings.shape[1]) if database.model else None,
        "threshold": database.threshold,
        "entries": [asdict(entry) for entry in database.entries],
        "embeddings": vectors_to_text(database.embeddings),
        "liveness_profiles": profile_records(database.liveness_profiles),
    }
    body_bytes = json.dumps(body, ensure_ascii=False).encode("utf-8")
    header = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION}
    if passphrase is not None:
        keyring, record = passphrase_keyring(passphrase)
        body_bytes, header["sealed"] = seal(body_bytes, "export", keyring), {"passphrase": record}
    elif database.encryption:
        keyring = load_keyring()
        body_bytes, header["sealed"] = seal(body_bytes, "export", keyring), {"key": keyring.current}
    header["sha256"] = hashlib.sha256(body_bytes).hexdigest()
    target = Path(target)
    write_atomically(target, json.dumps(header).encode("ascii") + b"\n" + body_bytes + b"\n")


def read_export(source, passphrase=None):
    """The Database (not yet saved anywhere) held by the export file `source`, after checking its hash and
    validating it as strictly as a database folder; a sealed one opened with `passphrase` or the key file."""
    source = Path(source)
    try:
        size = source.stat().st_size
        if size > MAX_INDEX_BYTES:
            raise DatabaseError(f"{source}: export of {size:,} bytes is larger than any real database")
        with source.open("rb") as handle:
            header_line = handle.readline(4096)
            body_bytes = handle.read().rstrip(b"\n")
    except OSError as exc:
        raise DatabaseError(f"{source}: cannot read ({exc.strerror or exc})") from None
    try:
        header = json.loads(header_line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise DatabaseError(f"{source}: not a facegate export")
    if header.get("version") != EXPORT_VERSION:
        raise DatabaseError(f"{source}: export version {header.get('version')!r} is not supported (expected {EXPORT_VERSION})")
    if hashlib.sha256(body_bytes).hexdigest() != header.get("sha256"):
        raise DatabaseError(f"{source}: damaged export (sha256 does not match its header)")
    body_bytes = _opened(source, header.get("sealed"), body_bytes, passphrase)
    try:
        body = json.loads(body_bytes.decode("utf-8"))
        values = vectors_from_text(body["embeddings"])
        size = body["embedding_size"] or 0
        rows = len(body["entries"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DatabaseError(f"{source}: damaged export ({exc})") from None
    if not isinstance(size, int) or len(values) != rows * size:
        raise DatabaseError(f"{source}: damaged export ({4 * len(values)} bytes of embeddings for {rows} entries)")
    return Database(source, *validated(source, body, values.reshape(rows, size)), validated_profiles(source, body))


def is_passphrase_sealed(source):
    """Whether the export file `source` is sealed with a passphrase (what import asks for)."""
    try:
        with Path(source).open("rb") as handle:
            header = json.loads(handle.readline(4096).decode("utf-8"))
        return "passphrase" in (header.get("sealed") or {})
    except (OSError, ValueError, AttributeError):
        return False  # read_export says what is wrong with it


def _opened(source, sealed, body, passphrase):
    if not sealed:
        return body
    if not isinstance(sealed, dict) or not ({"key", "passphrase"} & sealed.keys()):
        raise DatabaseError(f"{source}: damaged export (sealed {sealed!r})")
    if "key" in sealed:
        return opened(body, "export", source)
    if passphrase is None:
        raise SealError(f"{source}: sealed with a passphrase; give it (--passphrase)")
    try:
        keyring, _ = passphrase_keyring(passphrase, sealed["passphrase"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DatabaseError(f"{source}: damaged export (passphrase record: {exc})") from None
    try:
        return opened(body, "export", source, keyring)
    except WrongKeyError:
        raise WrongKeyError(f"{source}: the wrong passphrase") from None
