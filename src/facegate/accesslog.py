"""The access log: every decision a door made, appended to a log beside its database, read back for review.

A folder database `DB/` keeps its log in `DB.log/`: `access.jsonl` (one JSON object per decision, each line
written with one append and fsynced, so concurrent writers never interleave and a crash loses at most the line
being written), rotated to `access-<UTC time>.jsonl` past ROTATE_BYTES, and with `--log-faces` the face crops
under `faces/<day>/`. The log is not part of the database: export, import and the database's own commits never
touch it; `remove NAME` keeps its decision history unless `--purge-log`. A PostgreSQL database keeps its log in
its table facegate_access_log (face crops as JPEG bytes), shared by every door."""
import json
import os
import socket
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .db import is_server_url
from .errors import FacegateError

ROTATE_BYTES = 64 * 1024 * 1024
"""A log file past this size is renamed aside and a new one begun."""
DECISIONS = ("match", "no-match", "unknown", "ambiguous", "throttled")


class LogError(FacegateError):
    """The access log cannot be written or read."""


def log_folder(db_path):
    """Where the log of the database folder `db_path` is kept: `DB.log/` beside it."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".log")


def default_door():
    """$FACEGATE_DOOR, else this machine's host name."""
    return os.environ.get("FACEGATE_DOOR") or socket.gethostname()


@dataclass
class AccessLog:
    """Appends decisions to the log of the database at `db_path`.

    A record that cannot be written is said through `warn`; with `required`, it raises LogError instead, so that
    the decision fails closed (the door stays shut)."""

    db_path: Path
    door: str
    warn: object
    required: bool = False
    faces: bool = False

    def record(self, command, decision, identity=None, claim=None, distance=None, threshold=None, picture=None,
               face=None, **extra):
        """Append one decision. `picture`: the image bytes (their sha256 is logged); `face`: a PIL image of the face
        crop, saved when the log keeps faces."""
        import hashlib

        moment = datetime.now(timezone.utc)
        entry = {"time": moment.isoformat(timespec="milliseconds"), "door": self.door, "command": command,
                 "claim": claim, "identity": identity,
                 "distance": None if distance is None else round(float(distance), 6), "threshold": threshold,
                 "decision": decision,
                 "picture_sha256": hashlib.sha256(picture).hexdigest() if picture is not None else None, **extra}
        if is_server_url(self.db_path):
            self._record_in_table(entry, face)
            return
        folder = log_folder(self.db_path)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if self.faces and face is not None:
                entry["face"] = self._save_face(folder, moment, face)
            _append_line(folder / "access.jsonl", json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as exc:
            message = f"{folder}: cannot write the access log ({exc.strerror or exc})"
            if self.required:
                raise LogError(message + "; --require-log: the decision is refused") from None
            self.warn(message)

    def _record_in_table(self, entry, face):
        from .errors import DatabaseError
        from .db.postgres import append_log

        crop = None
        if self.faces and face is not None:
            import io

            buffer = io.BytesIO()
            face.save(buffer, "JPEG", quality=90)
            crop = buffer.getvalue()
        try:
            append_log(self.db_path, entry, crop)
        except DatabaseError as exc:
            if self.required:
                raise LogError(f"{exc}; --require-log: the decision is refused") from None
            self.warn(f"cannot write the access log: {exc}")

    @staticmethod
    def _save_face(folder, moment, face):
        relative = Path("faces") / moment.strftime("%Y-%m-%d") / f"{moment.strftime('%H%M%S-%f')}-{os.getpid()}.jpg"
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        face.save(folder / relative, quality=90)
        return relative.as_posix()


def _locked(folder):
    """The log's lock: appends, rotation and rewrites (prune, purge) take it, so none of them loses a line."""
    from filelock import FileLock

    return FileLock(str(folder / ".lock"), timeout=30)


def _append_line(path, line):
    """One write with O_APPEND, fsynced, under the log's lock; the file is rotated when large."""
    data = line.encode("utf-8")
    with _locked(path.parent):
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(descriptor, data)
            os.fsync(descriptor)
            size = os.fstat(descriptor).st_size
        finally:
            os.close(descriptor)
        if size > ROTATE_BYTES:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            os.rename(path, path.with_name(f"access-{stamp}.jsonl"))


def log_files(db_path):
    """The log's files, oldest first (rotated ones, then the current one)."""
    folder = log_folder(db_path)
    rotated = sorted(folder.glob("access-*.jsonl"))
    current = folder / "access.jsonl"
    return rotated + ([current] if current.exists() else [])


def read_log(db_path, since=None, name=None, door=None, decision=None):
    """The log's records, oldest first, filtered: since (an aware datetime), name (claimed or identified), door,
    decision. A damaged line (a crash mid-write) is skipped."""
    if is_server_url(db_path):
        from .db.postgres import read_log_table

        yield from read_log_table(db_path, since, name, door, decision)
        return
    for path in log_files(db_path):
        try:
            handle = open(path, encoding="utf-8", errors="replace")
        except OSError as exc:
            raise LogError(f"{path}: cannot read the access log ({exc.strerror or exc})") from None
        with handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                    moment = datetime.fromisoformat(entry["time"])
                except (ValueError, KeyError, TypeError):
                    continue
                if since is not None and moment < since:
                    continue
                if name is not None and name not in (entry.get("identity"), entry.get("claim")):
                    continue
                if door is not None and entry.get("door") != door:
                    continue
                if decision is not None and entry.get("decision") != decision:
                    continue
                yield entry


def daily_stats(entries):
    """{(day, person): Counter(opened=..., refused=...)}: per person (identified, or claimed) and UTC day."""
    stats = {}
    for entry in entries:
        person = entry.get("identity") or entry.get("claim") or "(unknown)"
        key = (entry["time"][:10], person)
        stats.setdefault(key, Counter())["opened" if entry.get("decision") == "match" else "refused"] += 1
    return dict(sorted(stats.items()))


def parse_age(text):
    """'90d', '12h', '30m' -> a timedelta; LogError for anything else."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    try:
        number, unit = float(text[:-1]), units[text[-1]]
        if number < 0:
            raise ValueError
    except (ValueError, KeyError, IndexError):
        raise LogError(f"{text!r}: expected an age such as 90d, 12h or 30m") from None
    return timedelta(**{unit: number})


def prune(db_path, older_than):
    """Drop the records (and face crops) older than `older_than` (a timedelta); how many records were dropped.
    Each file is rewritten whole and renamed into place, under the log's lock; a rotated file left empty goes."""
    cutoff = datetime.now(timezone.utc) - older_than
    if is_server_url(db_path):
        from .db.postgres import delete_log

        return delete_log(db_path, "time < %s", (cutoff,))
    return _rewrite_all(db_path, lambda entry: _older(entry, cutoff))


def purge_person(db_path, name):
    """Drop every record that names `name`, claimed or identified (remove --purge-log); how many."""
    if is_server_url(db_path):
        from .db.postgres import delete_log

        return delete_log(db_path, "identity = %s OR claim = %s", (name, name))
    return _rewrite_all(db_path, lambda entry: name in (entry.get("identity"), entry.get("claim")))


def _older(entry, cutoff):
    try:
        return datetime.fromisoformat(entry["time"]) < cutoff
    except (ValueError, KeyError, TypeError):
        return False


def _rewrite_all(db_path, drop):
    folder = log_folder(db_path)
    if not folder.is_dir():
        return 0
    try:
        with _locked(folder):
            return sum(_rewrite(path, drop, folder) for path in log_files(db_path))
    except OSError as exc:
        raise LogError(f"{folder}: cannot rewrite the access log ({exc.strerror or exc})") from None


def _rewrite(path, drop, folder):
    """Rewrite one log file without the records `drop(entry)` selects (and their face crops); how many."""
    from .files import write_atomically

    kept, removed = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict) and drop(entry):
            removed += 1
            if entry.get("face"):
                (folder / entry["face"]).unlink(missing_ok=True)
        else:
            kept.append(line)
    if removed:
        if kept or path.name == "access.jsonl":
            write_atomically(path, "".join(kept).encode("utf-8"))
        else:
            path.unlink()
    return removed
