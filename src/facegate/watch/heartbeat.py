"""Each door camera's heartbeat: every HEARTBEAT_SECONDS of frames and at each decision, its newest status (frames,
fps, last frame, last decision) into the access log's store, which every door shares with the console (its Doors
page). A camera that stops sending frames stops beating: the console calls it silent once its beat is older than
SILENT_AFTER."""
import os
import socket
import time as clock
from datetime import datetime, timezone

from ..accesslog import LogError
from .mjpeg import without_credentials

HEARTBEAT_SECONDS = 10.0
SILENT_AFTER = 3 * HEARTBEAT_SECONDS
"""A camera whose newest beat is older than this is not alive."""


class Heartbeat:
    """Reports one camera of a watch (`door`, `camera`, `source`) to `store` (a LogStore). A beat that cannot be
    written is said once through `warn` and never stops the door."""

    def __init__(self, store, door, camera, source, warn, every=HEARTBEAT_SECONDS):
        self.store, self.warn, self.every = store, warn, every
        self.status = {"door": door, "camera": camera, "source": without_credentials(source),
                       "host": socket.gethostname(), "pid": os.getpid(), "started": _now(), "frames": 0, "fps": None,
                       "last_frame": None, "last_event": None, "state": "watching"}
        self._due, self._counted, self._since, self._warned = 0.0, 0, clock.monotonic(), False

    def frame(self):
        """A frame was looked at; beats when one is due."""
        self.status["frames"] += 1
        self.status["last_frame"] = _now()
        now = clock.monotonic()
        if now >= self._due:
            elapsed = now - self._since
            if elapsed > 0 and self._counted:
                self.status["fps"] = round((self.status["frames"] - self._counted) / elapsed, 1)
            self._counted, self._since, self._due = self.status["frames"], now, now + self.every
            self._write()

    def event(self, record):
        """An event was sent: the status carries the newest decision (its kind, who, when); `left` is none."""
        if record["event"] == "left":
            return
        self.status["last_event"] = {"event": record["event"], "identity": record.get("identity"),
                                     "time": record.get("wall_time")}
        self._write()  # news: told at once, not at the next beat

    def stop(self):
        """The camera's watch ended: said at once, so the console does not wait to call it silent."""
        self.status["state"] = "stopped"
        self._write()

    def _write(self):
        try:
            self.store.beat(dict(self.status, time=_now()))
        except LogError as exc:
            if not self._warned:
                self.warn(f"{exc} (the watch goes on; the console will call this door silent)")
                self._warned = True


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
