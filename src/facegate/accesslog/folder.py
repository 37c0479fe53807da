"""The access log of a folder database `DB/`, kept in `DB.log/`: `access.jsonl` (one JSON object per decision,
each line written with one append and fsynced, so concurrent writers never interleave and a crash loses at most
the line being written), rotated to `access-<UTC time>.jsonl` past ROTATE_BYTES, face crops under `faces/<day>/`,
each door camera's newest heartbeat in `doors/` (one JSON file each, replaced atomically). The crops are sealed
when the database is encrypted (sealing/)."""
import hashlib
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from ..db.base import encryption_of
from ..files import write_atomically
from ..sealing import load_keyring, opened, seal, sealed_if, sealed_with
from .base import LOGS, LogError, LogStore, matches_filters

ROTATE_BYTES = 64 * 1024 * 1024
"""A log file past this size is renamed aside and a new one begun."""


def log_folder(db_path):
    """Where the log of the database folder `db_path` is kept: `DB.log/` beside it."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".log")


class FolderLog(LogStore):
    """JSON lines beside the database folder."""

    kind = "folder"

    def append(self, entry, moment, face=None):
        folder = log_folder(self.location)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if face is not None:
                entry["face"] = _save_face(folder, moment, face, bool(encryption_of(self.location)))
            _append_line(folder / "access.jsonl", json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise LogError(f"{folder}: cannot write the access log ({exc.strerror or exc})") from None

    def read(self, since=None, name=None, door=None, decision=None):
        for path in log_files(self.location):
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
                    if matches_filters(entry, moment, since, name, door, decision):
                        yield entry

    def newest(self, offset, limit, since=None, until=None, name=None, door=None, decision=None):
        """As LogStore.newest, without parsing every line: a line passes the door, decision and name filters when
        it holds the field as json.dumps writes it (`"door": "front"`, exact: a quote inside a value is escaped),
        and the time filters by its leading `{"time": "..."` in UTC (the others are parsed). Only the page's
        lines are parsed."""
        lines = []
        for path in log_files(self.location):
            try:
                lines += path.read_bytes().splitlines()
            except OSError as exc:
                raise LogError(f"{path}: cannot read the access log ({exc.strerror or exc})") from None
        lines = [line for line in lines if line.startswith(b"{") and line.endswith(b"}")]  # no half-written line
        for keys, value in ((("door",), door), (("decision",), decision), (("identity", "claim"), name)):
            if value is not None:
                needles = [needle for key in keys for needle in _needles(key, value)]
                lines = [line for line in lines if any(needle in line for needle in needles)]
        if since is not None or until is not None:
            texts = tuple(None if moment is None else _utc_text(moment) for moment in (since, until))
            lines = [line for line in lines if _in_time(line, since, until, *texts)]
        page = []
        for line in lines[::-1][offset:offset + limit]:
            try:
                page.append(json.loads(line))
            except ValueError:
                page.append({"time": "", "decision": "(damaged record)"})
        return page, len(lines)

    def face_key(self, record):
        return record.get("face")

    def face(self, key):
        folder = log_folder(self.location).resolve()
        path = (folder / key).resolve()
        if not key.startswith("faces/") or folder not in path.parents or path.suffix != ".jpg":
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return opened(data, "face", path)

    def reseal(self):
        current, resealed = load_keyring().current, 0
        for path in sorted((log_folder(self.location) / "faces").glob("*/*.jpg")):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue  # pruned as we go
            if sealed_with(data) != current:
                write_atomically(path, seal(opened(data, "face", path), "face"))
                resealed += 1
        return resealed

    def end(self):
        """(inode, size) of the log's newest file: new records are the bytes past it, then the files after it."""
        files = log_files(self.location)
        if not files:
            return (None, 0)
        status = files[-1].stat()
        return (status.st_ino, status.st_size)

    def after(self, cursor):
        inode, offset = cursor
        files = log_files(self.location)
        inodes = [path.stat().st_ino for path in files]
        if inode is None:
            start, offset = 0, 0
        elif inode in inodes:
            start = inodes.index(inode)
        else:
            return [], self.end()  # rewritten in place (prune, purge): nothing new to tell, go on from its end
        records, cursor = [], (inode, offset)
        for index in range(start, len(files)):
            lines = _lines_from(files[index], offset if index == start else 0)
            complete = [line for line in lines if line.endswith(b"\n")]  # the last may still be being written
            for line in complete:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
            cursor = (inodes[index], (offset if index == start else 0) + sum(map(len, complete)))
        return records, cursor

    def beat(self, status):
        folder = log_folder(self.location) / "doors"
        key = f"{status['door']}\0{status['camera']}".encode("utf-8", "surrogateescape")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomically(folder / f"{hashlib.sha256(key).hexdigest()[:24]}.json",
                             json.dumps(status, ensure_ascii=False).encode("utf-8"))
        except OSError as exc:
            raise LogError(f"{folder}: cannot write the door's heartbeat ({exc.strerror or exc})") from None

    def doors(self):
        statuses = []
        for path in sorted((log_folder(self.location) / "doors").glob("*.json")):
            try:
                status = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # replaced or removed as we read
            if isinstance(status, dict) and {"door", "camera", "time"} <= status.keys():
                statuses.append(status)
        return sorted(statuses, key=lambda status: (str(status["door"]), str(status["camera"])))

    def delete_older(self, cutoff):
        return self._rewrite_all(lambda entry: _older(entry, cutoff))

    def purge(self, name):
        return self._rewrite_all(lambda entry: name in (entry.get("identity"), entry.get("claim")))

    def drop_faces_older(self, cutoff):
        return self._rewrite_all(lambda entry: entry.get("face") and _older(entry, cutoff), keep_record=True)

    def _rewrite_all(self, drop, keep_record=False):
        folder = log_folder(self.location)
        if not folder.is_dir():
            return 0
        try:
            with _locked(folder):
                return sum(_rewrite(path, drop, folder, keep_record) for path in log_files(self.location))
        except OSError as exc:
            raise LogError(f"{folder}: cannot rewrite the access log ({exc.strerror or exc})") from None


LOGS[FolderLog.kind] = FolderLog


def _save_face(folder, moment, face, encrypted):
    relative = Path("faces") / moment.strftime("%Y-%m-%d") / f"{moment.strftime('%H%M%S-%f')}-{os.getpid()}.jpg"
    (folder / relative).parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    face.save(buffer, "JPEG", quality=90)
    (folder / relative).write_bytes(sealed_if(encrypted, buffer.getvalue(), "face"))
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


def _needles(key, value):
    """How `"key": value` reads in a line json.dumps wrote (with or without ensure_ascii)."""
    return list({f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=flag)}".encode("utf-8", "surrogateescape")
                 for flag in (False, True)})


UTC_TIME = len("2026-12-04T08:00:00.000+00:00")


def _in_time(line, since, until, since_text, until_text):
    """Whether a log line's time is within [since, until): read from its start when AccessLog wrote it (UTC, in
    milliseconds, so that the text sorts as the time does; `since_text`, `until_text` are the limits so written),
    else parsed."""
    head = line[10:10 + UTC_TIME]
    if line.startswith(b'{"time": "') and head.endswith(b"+00:00") and line[10 + UTC_TIME:11 + UTC_TIME] == b'"':
        text = head.decode("ascii", "replace")
        return (since is None or text >= since_text) and (until is None or text < until_text)
    try:
        moment = datetime.fromisoformat(json.loads(line)["time"])
    except (ValueError, KeyError, TypeError):
        return False
    return (since is None or moment >= since) and (until is None or moment < until)


def _utc_text(moment):
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _lines_from(path, offset):
    """The lines of `path` from byte `offset` (the last one may be incomplete: still being written)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read().splitlines(keepends=True)
    except OSError as exc:
        raise LogError(f"{path}: cannot read the access log ({exc.strerror or exc})") from None


def _older(entry, cutoff):
    try:
        return datetime.fromisoformat(entry["time"]) < cutoff
    except (ValueError, KeyError, TypeError):
        return False


def _rewrite(path, drop, folder, keep_record=False):
    """Rewrite one log file without the records `drop(entry)` selects and their face crops (with `keep_record`:
    only their crops); how many."""
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
            if keep_record:
                kept.append(json.dumps({**entry, "face": None}, ensure_ascii=False) + "\n")
        else:
            kept.append(line)
    if removed:
        if kept or path.name == "access.jsonl":
            write_atomically(path, "".join(kept).encode("utf-8"))
        else:
            path.unlink()
    return removed
