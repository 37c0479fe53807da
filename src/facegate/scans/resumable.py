"""A scan's results written as it goes (`scan --output FILE`), so that `--resume` after any interruption finishes
the rest and the file holds every image exactly once.

JSON Lines by default: the scan's --json record of each image (with the model and each face's embedding, what
`cluster` reads), with the size and modification time of the image file. With --csv: the scan's CSV rows with
three more columns, the image's number of faces (so that an image whose rows were cut short is seen), its size and
modification time. Each image's record is one write, fsynced. On resume, the file is read back; a half-written
last line (power loss) is dropped, as is the record of a file that has changed since (size or mtime) or is gone;
what is kept is written to a new file that replaces the old one atomically, and the scan goes on with the images
that have no record."""
import csv
import io
import json
import os
from pathlib import Path

from ..errors import FacegateError
from ..files import write_atomically
from ..records import CSV_HEADER, csv_rows

CSV_FILE_HEADER = CSV_HEADER + ["faces", "size", "mtime_ns"]


def file_stamp(path):
    """(size, mtime in ns) of an image file; None when it cannot be read."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


class ResultFile:
    """The output file of one scan: `done` holds the paths already recorded; `write` appends one image's record."""

    def __init__(self, path, resume, as_csv=False):
        self.path, self.as_csv = Path(path), as_csv
        self.done = set()
        if self.path.exists() and not resume:
            raise FacegateError(f"{self.path}: already exists: add --resume to finish that scan, or choose another")
        text = ""
        if self.path.exists():
            try:
                text = self.path.read_bytes().decode("utf-8", errors="surrogateescape")
            except OSError as exc:
                raise FacegateError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        kept = self._kept_csv(text) if as_csv else self._kept_json(text)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, kept.encode("utf-8", errors="surrogateescape"))
            self._descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise FacegateError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def _kept_json(self, text):
        kept = []
        for line in text.split("\n"):
            record = _parsed(line)
            if record is not None and _unchanged(record["path"], record.get("size"), record.get("mtime_ns")) \
                    and record["path"] not in self.done:
                self.done.add(record["path"])
                kept.append(line + "\n")
        return "".join(kept)

    def _kept_csv(self, text):
        complete = text[:text.rfind("\n") + 1]  # a half-written last line is dropped
        rows = list(csv.reader(io.StringIO(complete, newline="")))
        if rows and rows[0] != CSV_FILE_HEADER:
            raise FacegateError(f"{self.path}: not the CSV output of a facegate scan (its header differs)")
        images = {}
        for row in rows[1:]:
            if len(row) == len(CSV_FILE_HEADER):
                images.setdefault(row[0], []).append(row)
        kept = [CSV_FILE_HEADER]
        for image, image_rows in images.items():
            faces, size, mtime_ns = image_rows[0][-3:]
            whole = faces.isdigit() and len(image_rows) == max(1, int(faces))
            if whole and _unchanged(image, size, mtime_ns):
                self.done.add(image)
                kept.extend(image_rows)
        return _csv_text(kept)

    def write(self, record):
        """Append `record` (an image's --output record) with its file's stamp: one write, then fsync."""
        size, mtime_ns = file_stamp(record["path"]) or (None, None)
        if self.as_csv:
            stamp = [len(record["faces"]), "" if size is None else size, "" if mtime_ns is None else mtime_ns]
            text = _csv_text([row + stamp for row in csv_rows(record)])
        else:
            text = json.dumps({**record, "size": size, "mtime_ns": mtime_ns}, ensure_ascii=False) + "\n"
        os.write(self._descriptor, text.encode("utf-8", errors="surrogateescape"))
        os.fsync(self._descriptor)
        self.done.add(record["path"])

    def close(self):
        os.close(self._descriptor)


def _unchanged(path, size, mtime_ns):
    """Whether the image at `path` still has the recorded size and mtime (as numbers or CSV text)."""
    stamp = file_stamp(path)
    return stamp is not None and [str(size), str(mtime_ns)] == [str(stamp[0]), str(stamp[1])]


def _csv_text(rows):
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _parsed(line):
    """A complete record, or None for a half-written or damaged line."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("path"), str) else None
