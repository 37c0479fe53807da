"""A scan's results written as it goes (`scan --output FILE`), so that `--resume` after any interruption finishes
the rest and the file holds every image exactly once.

The file is JSON Lines: the scan's --json record of each image, with the size and modification time of the file
it was made from. Each record is one write, fsynced. On resume, the file is read back; a half-written last line
(power loss) is dropped, as is the record of a file that has changed since (size or mtime) or is gone; what is
kept is written to a new file that replaces the old one atomically, and the scan goes on with the images that
have no record."""
import json
import os
from pathlib import Path

from .errors import FacegateError
from .files import write_atomically


def file_stamp(path):
    """(size, mtime in ns) of an image file; None when it cannot be read."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


class ResultFile:
    """The output file of one scan: `done` holds the paths already recorded; `write` appends one record."""

    def __init__(self, path, resume):
        self.path = Path(path)
        self.done = set()
        kept = []
        if self.path.exists() and not resume:
            raise FacegateError(f"{self.path}: already exists: add --resume to finish that scan, or choose another")
        if self.path.exists():
            try:
                text = self.path.read_bytes().decode("utf-8", errors="replace")
            except OSError as exc:
                raise FacegateError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
            for line in text.split("\n"):
                record = _parsed(line)
                if record is not None and [record.get("size"), record.get("mtime_ns")] == list(
                        file_stamp(record["path"]) or [None, None]) and record["path"] not in self.done:
                    self.done.add(record["path"])
                    kept.append(line + "\n")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, "".join(kept).encode("utf-8"))
            self._descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise FacegateError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def write(self, record):
        """Append `record` (an image's --json record) with its file's stamp: one write, then fsync."""
        size, mtime_ns = file_stamp(record["path"]) or (None, None)
        line = json.dumps({**record, "size": size, "mtime_ns": mtime_ns}, ensure_ascii=False) + "\n"
        os.write(self._descriptor, line.encode("utf-8", errors="surrogateescape"))
        os.fsync(self._descriptor)
        self.done.add(record["path"])

    def close(self):
        os.close(self._descriptor)


def _parsed(line):
    """A complete record, or None for a half-written or damaged line."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("path"), str) else None
