"""What `facegate watch` tells the world: one event record per decision, into the access log, printed, and sent
to the sinks (sinks.py)."""
from datetime import datetime, timezone

from ..accesslog import LogError
from ..decisions import log_visit
from ..records import rounded


def event_record(event, track, identity, distance, threshold, frames, time, box, source, camera, claim=None,
                 opens=False, live=None, cues=()):
    """The JSON contract of watch's events (README, 'Watching a camera')."""
    record = {"event": event, "track": track, "identity": identity, "distance": rounded(distance),
              "threshold": threshold, "frames": frames, "time": round(float(time), 3),
              "wall_time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
              "box": [int(v) for v in box], "source": source, "camera": camera, "opens": bool(opens),
              "live": live, "cues": list(cues)}
    if claim is not None:
        record["claim"] = claim
    return record


class Dispatcher:
    """Where each event goes: the access log first (a decision that cannot be logged under --require-log opens
    nothing), then `show` (the printer) at once, then each sink that wants it, in the background."""

    def __init__(self, show, warn, sinks=(), access_log=None):
        self.show, self.warn, self.access_log = show, warn, access_log
        self.sinks = list(sinks)

    def __call__(self, record, frame=None):
        if self.access_log is not None and record["event"] != "left":
            try:
                log_visit(self.access_log, record, frame)
            except LogError as exc:
                record["opens"] = False
                self.warn(str(exc))
        self.show(record)
        for sink in self.sinks:
            if sink.wants(record):
                sink(record, frame)

    def close(self):
        """Deliver what is still queued (a door command may take its whole timeout), then stop (a sink shared by
        several cameras' dispatchers closes once)."""
        for sink in self.sinks:
            sink.close()


class Cooldown:
    """--cooldown: one opening per person per `seconds` (on the source's clock)."""

    def __init__(self, seconds):
        self.seconds, self._last = seconds, {}

    def allows(self, identity, time):
        last = self._last.get(identity)
        if last is not None and time - last < self.seconds:
            return False
        self._last[identity] = time
        return True
