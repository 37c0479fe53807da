"""Each door camera's heartbeat: every HEARTBEAT_SECONDS of frames and at each decision, its newest status (frames,
fps, last frame, last decision) into the access log's store, which every door shares with the console (its Doors
page). A camera that stops sending frames stops beating: the console calls it silent once its beat is older than
SILENT_AFTER.

Beats are written by a thread of their own, never on the decision path: a slow or stalled store (a PostgreSQL
server that takes its connect timeout to answer) delays no door. Only the newest status waits to be written; one
that is replaced before it could be is dropped, and a store that cannot be written is said once."""
import os
import socket
import threading
import time as clock
from datetime import datetime, timezone

from ..errors import printable
from .credentials import shown_source

HEARTBEAT_SECONDS = 10.0
STOP_WRITE_SECONDS = 5.0
"""How long the end of a watch waits for its last beat (`stopped`) to be written."""
SILENT_AFTER = 3 * HEARTBEAT_SECONDS
"""A camera whose newest beat is older than this is not alive."""


class Heartbeat:
    """Reports one camera of a watch (`door`, `camera`, `source`) to `store` (a LogStore). A beat that cannot be
    written is said once through `warn` and never stops the door."""

    def __init__(self, store, door, camera, source, warn, every=HEARTBEAT_SECONDS, liveness=True):
        self.store, self.warn, self.every = store, warn, every
        self.status = {"door": door, "camera": camera, "source": shown_source(source), "liveness": liveness,
                       "host": socket.gethostname(), "pid": os.getpid(), "started": _now(), "frames": 0, "fps": None,
                       "last_frame": None, "last_event": None, "state": "watching"}
        self._due, self._counted, self._since, self._warned = 0.0, 0, clock.monotonic(), False
        self._newest, self._closing, self._wake = None, False, threading.Event()
        self._writer = threading.Thread(target=self._write_beats, name="facegate-heartbeat", daemon=True)
        self._writer.start()

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

    def liveness_read(self, refused, visits, warning):
        """How the camera's liveness reads (refusals.py): `refused` of `visits` recognised by face, and the warning
        (None: none)."""
        reading = {"refused": refused, "visits": visits, "warning": warning}
        if self.status.get("liveness_refused") != reading:
            self.status["liveness_refused"] = reading
            self._write()

    def failed(self, reason):
        """The camera's frames fail (the watch goes on with the others): said in its status at once."""
        self.status["error"] = reason
        self._write()

    def stop(self):
        """The camera's watch ended: said at once, so the console does not wait to call it silent; waits up to
        STOP_WRITE_SECONDS for it to be written."""
        self.status["state"] = "stopped"
        self._write()
        self._closing = True
        self._wake.set()
        self._writer.join(STOP_WRITE_SECONDS)

    def _write(self):
        """The status as it is now, handed to the writer (in place of one it has not written yet)."""
        self._newest = dict(self.status, time=_now())
        self._wake.set()

    def _write_beats(self):
        while True:
            self._wake.wait()
            self._wake.clear()
            status, self._newest = self._newest, None
            if status is not None:
                try:
                    self.store.beat(status)
                except Exception as exc:  # noqa: BLE001 - a store's failure is said, never the door's
                    if not self._warned:
                        self.warn(f"{printable(exc)} (beats that cannot be written are dropped; the watch goes on; the "
                                  f"console will call this door silent)")
                        self._warned = True
            if self._closing and self._newest is None:
                return


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
