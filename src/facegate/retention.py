"""Retention: how long a database keeps the faces its doors saw, its access-log records and watch's snapshots
(one setting per database: `facegate retention set --faces 30d --log 365d --snapshots 7d`), applied by `serve`
and `watch` as they run (a sweep at start and every SWEEP_SECONDS, so anything is gone within a minute of being
due) and by `log prune`. Faces: the crops kept with log records (`--log-faces`: what the console's access log and
unknown visitors show), dropped from their records, which stay; log: the records themselves (with their crops);
snapshots: watch's annotated frames (`--snapshots DIR`), by their files' age. Enrolled people's thumbnails are kept
as long as they are enrolled. A kind without a limit is kept until pruned by hand."""
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .errors import DatabaseError, FacegateError

KINDS = ("faces", "log", "snapshots")
SWEEP_SECONDS = 60.0


@dataclass(frozen=True)
class Retention:
    """Days each kind is kept (None: until pruned by hand)."""

    faces: float = None
    log: float = None
    snapshots: float = None

    def to_record(self):
        return {kind: days for kind, days in asdict(self).items() if days is not None}

    @classmethod
    def from_record(cls, record, where):
        if not isinstance(record, dict) or not set(record) <= set(KINDS) or not all(
                isinstance(days, (int, float)) and not isinstance(days, bool) and days >= 0
                for days in record.values()):
            raise DatabaseError(f"{where}: damaged retention setting {record!r}")
        return cls(**{kind: float(days) for kind, days in record.items()})

    def lines(self):
        """How each kind is kept, as the CLI and the console say it."""
        return [f"{kind}: {_days(getattr(self, kind))}" for kind in KINDS]


def _days(days):
    if days is None:
        return "kept until pruned (no limit)"
    return f"{days:g} day(s)" if days >= 1 else f"{days * 24:g} hour(s)"


def apply(db_path, retention, snapshot_folders=(), now=None):
    """Delete what `retention` says is due (as of `now`): {kind: how many}."""
    from .accesslog import log_of

    now = now or datetime.now(timezone.utc)
    done = {kind: 0 for kind in KINDS}
    if retention.log is not None:
        done["log"] = log_of(db_path).delete_older(now - timedelta(days=retention.log))
    if retention.faces is not None:
        done["faces"] = log_of(db_path).drop_faces_older(now - timedelta(days=retention.faces))
    if retention.snapshots is not None:
        cutoff = (now - timedelta(days=retention.snapshots)).timestamp()
        for folder in snapshot_folders:
            for path in Path(folder).glob("*.jpg") if Path(folder).is_dir() else ():
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        done["snapshots"] += 1
                except FileNotFoundError:
                    continue
    return done


class Keeper:
    """Applies a running service's or watch's database retention every SWEEP_SECONDS, in a thread of its own (a
    slow database delays no door); `current()` gives the database as it is now (a LiveGallery's), `warn` says a
    sweep that failed (once, until one succeeds)."""

    def __init__(self, current, warn, snapshot_folders=(), every=SWEEP_SECONDS):
        self.current, self.warn, self.folders, self.every = current, warn, tuple(snapshot_folders), every
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="facegate-retention", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(10)

    def sweep(self):
        database = self.current()
        return apply(database.path, database.retention, self.folders)

    def _run(self):
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.sweep()
                if self._failing:
                    self.warn("retention: the sweep works again")
                self._failing = False
            except (FacegateError, OSError) as exc:
                if not self._failing:
                    self.warn(f"retention: {exc} (what is due is deleted once the sweep works again)")
                self._failing = True
            self._stop.wait(max(1.0, self.every - (time.monotonic() - started)))
