"""The access log: every decision a door made, appended to a log kept with its database, read back for review.

A folder database `DB/` keeps its log in `DB.log/` (folder.py: JSON lines, face crops under faces/); a PostgreSQL
database in its table facegate_access_log (table.py), shared by every door. The log is not part of the database:
export, import and the database's own commits never touch it; `remove NAME` keeps its decision history unless
`--purge-log`. A new kind of database brings a LogStore (base.py) registered under its location's kind."""
import hashlib
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..db import database_location
from . import folder, table  # noqa: F401 - each registers its LogStore
from .base import LOGS, LogError, LogStore, daily_stats
from .folder import log_folder

DECISIONS = ("match", "no-match", "unknown", "ambiguous", "spoof", "throttled")

__all__ = ["AccessLog", "LogError", "LogStore", "DECISIONS", "default_door", "log_of", "log_folder", "read_log",
           "daily_stats", "parse_age", "prune", "purge_person"]


def log_of(db_path):
    """The LogStore of the database at `db_path`, of the database's kind."""
    location = database_location(db_path)
    return LOGS[location.kind](location)


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

    def __post_init__(self):
        self.store = log_of(self.db_path)

    def record(self, command, decision, identity=None, claim=None, distance=None, threshold=None, picture=None,
               face=None, **extra):
        """Append one decision. `picture`: the image bytes (their sha256 is logged); `face`: a PIL image of the face
        crop, kept when the log keeps faces."""
        moment = datetime.now(timezone.utc)
        entry = {"time": moment.isoformat(timespec="milliseconds"), "door": self.door, "command": command,
                 "claim": claim, "identity": identity,
                 "distance": None if distance is None else round(float(distance), 6), "threshold": threshold,
                 "decision": decision,
                 "picture_sha256": hashlib.sha256(picture).hexdigest() if picture is not None else None, **extra}
        try:
            self.store.append(entry, moment, face if self.faces else None)
        except LogError as exc:
            if self.required:
                raise LogError(f"{exc}; --require-log: the decision is refused") from None
            self.warn(str(exc))


def read_log(db_path, since=None, name=None, door=None, decision=None):
    """The log's records, oldest first, filtered: since (an aware datetime), name (claimed or identified), door,
    decision. A damaged line of a folder's log (a crash mid-write) is skipped."""
    return log_of(db_path).read(since, name, door, decision)


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


def parse_since(text):
    """An ISO 8601 day or time as an aware datetime (UTC when no zone is given); None for None."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise LogError(f"--since {text}: expected a date such as 2026-11-01 or 2026-11-01T08:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def prune(db_path, older_than):
    """Drop the records (and face crops) older than `older_than` (a timedelta); how many records were dropped
    (said in the audit trail)."""
    from ..audit import record

    dropped = log_of(db_path).delete_older(datetime.now(timezone.utc) - older_than)
    record(db_path, "log prune", None, older_than_days=older_than.total_seconds() / 86400, records=dropped)
    return dropped


def purge_person(db_path, name):
    """Drop every record that names `name`, claimed or identified (remove --purge-log); how many (said in the
    audit trail)."""
    from ..audit import record

    purged = log_of(db_path).purge(name)
    record(db_path, "log purge", name, records=purged)
    return purged
