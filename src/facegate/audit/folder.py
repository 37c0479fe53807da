"""A folder database's audit trail: DB/audit.jsonl, one sealed record per line, appended (and flushed to disk)
under the database's own lock, so that records are sealed in the order their changes were committed. A commit
appends its records first and takes them back (undo) if it then fails: no change without its record, and a
failed command leaves the folder byte for byte as it was."""
import contextlib
import json
import os
from pathlib import Path

from ..errors import DatabaseError
from .chain import seal

TRAIL_NAME = "audit.jsonl"
LOCK_NAME = ".lock"
LOCK_TIMEOUT_S = 60


class FolderTrail:
    def __init__(self, location):
        self.where = Path(location)
        self.path = self.where / TRAIL_NAME

    def append(self, records, locked=False):
        """Seal and append `records`; `locked`: the caller holds the database's lock (a commit). The mark to undo
        it with: the trail's size before (None: there was none)."""
        from filelock import FileLock

        lock = contextlib.nullcontext() if locked else FileLock(str(self.where / LOCK_NAME), timeout=LOCK_TIMEOUT_S)
        mark = self.path.stat().st_size if self.path.exists() else None
        if not records:
            return mark
        try:
            with lock:
                sealed = seal(records, self._head())
                with open(self.path, "a", encoding="utf-8") as handle:
                    for record in sealed:
                        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
        except OSError as exc:
            self.undo(mark)
            raise DatabaseError(f"{self.path}: cannot append to the audit trail ({exc.strerror or exc})") from None
        return mark

    def undo(self, mark):
        """Take back what was appended since `mark` (append's): the trail as it was."""
        with contextlib.suppress(OSError):
            if mark is None:
                self.path.unlink(missing_ok=True)
            else:
                os.truncate(self.path, mark)

    def exists(self):
        """Whether there is a database folder to keep a trail in."""
        return self.where.is_dir()

    def _head(self):
        """(seq, hash) of the trail's last record, or None when it is empty."""
        last = None
        with contextlib.suppress(FileNotFoundError):
            with open(self.path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 65536))
                lines = handle.read().splitlines()
                last = lines[-1] if lines else None
        if last is None:
            return None
        try:
            record = json.loads(last)
            return record["seq"], record["hash"]
        except (ValueError, KeyError, TypeError):
            raise DatabaseError(f"{self.path}: the audit trail's last line is damaged; nothing can be appended "
                                "until it is checked (facegate audit --verify)") from None

    def read(self):
        """Every record in order (a line that is not JSON is kept as its text, for the check to report)."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise DatabaseError(f"{self.path}: cannot read the audit trail ({exc})") from None
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append(line)
        return records
