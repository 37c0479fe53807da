"""How a door's liveness reads: of the visits its camera recognised by face over the last WINDOW_SECONDS, how many
its liveness refused (a `spoof` naming the person, or an `unknown` whose face matched while liveness never
confirmed it, and no `match` later in the visit).

At a real door attacks are rare and staff come every day: a refused share above WARN_SHARE is staff being turned
away, the cue misreading this camera (on the dev sets' own cameras 2-3% of live visits are refused; on other
cameras 40-55% of live stills were). Below MIN_VISITS visits nothing is said: with 6 visits, a camera refusing 3%
of live people shows 2 or more refusals in about 1% of windows, one refusing half of them in 89%."""
from collections import deque

WINDOW_SECONDS = 4 * 3600.0
WARN_SHARE = 0.3
MIN_VISITS = 6


class RefusedVisits:
    """The refused share of one camera's recognised visits, fed its event records in order."""

    def __init__(self):
        self._open = {}  # track -> refused so far (False once it matched)
        self._ended = deque()  # (time, refused) of visits that ended

    def event(self, record):
        """One event record of the camera (times on the watch's clock, its `time`)."""
        track, kind = record.get("track"), record["event"]
        if kind == "left":
            refused = self._open.pop(track, None)
            if refused is not None:
                self._ended.append((record["time"], refused))
            return
        recognised = record.get("distance") is not None and record["distance"] < record["threshold"]
        if kind == "match":
            self._open[track] = False
        elif kind in ("spoof", "unknown") and recognised and record.get("live") is not True:
            self._open.setdefault(track, True)

    def counts(self, now):
        """(refused, visits) of the recognised visits that ended in the last WINDOW_SECONDS before `now`."""
        while self._ended and self._ended[0][0] < now - WINDOW_SECONDS:
            self._ended.popleft()
        return sum(refused for _, refused in self._ended), len(self._ended)

    def warning(self, now, camera):
        """A line saying so when the refused share is above WARN_SHARE (MIN_VISITS visits at least), else None."""
        refused, visits = self.counts(now)
        if visits < MIN_VISITS or refused <= WARN_SHARE * visits:
            return None
        return (f"{camera}: liveness refused {refused} of the {visits} visits recognised by face in the last "
                f"{WINDOW_SECONDS / 3600:.0f} h: if they were staff, this camera needs its own profile (facegate "
                f"liveness calibrate --camera {camera})")
