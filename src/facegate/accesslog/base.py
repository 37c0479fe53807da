"""The access log's interface: each kind of database keeps its log in a LogStore of the same kind."""
from collections import Counter
from datetime import datetime

from ..errors import FacegateError

LOGS = {}
"""{location kind: its LogStore class}: filled by folder.py and table.py."""


def daily_stats(entries):
    """{(day, person): Counter(opened=..., refused=...)}: per person (identified, or claimed) and UTC day."""
    stats = {}
    for entry in entries:
        person = entry.get("identity") or entry.get("claim") or "(unknown)"
        key = (entry["time"][:10], person)
        stats.setdefault(key, Counter())["opened" if entry.get("decision") == "match" else "refused"] += 1
    return dict(sorted(stats.items()))


class LogError(FacegateError):
    """The access log cannot be written or read."""


class LogStore:
    """Where the decisions of the database at `location` are kept."""

    kind = None

    def __init__(self, location):
        self.location = location

    def append(self, entry, moment, face=None):
        """Append one record (a dict); `face`, a PIL image of the face crop, is kept with it. LogError if it fails."""
        raise NotImplementedError

    def read(self, since=None, name=None, door=None, decision=None):
        """The records, oldest first, filtered: since (an aware datetime), name (claimed or identified), door,
        decision."""
        raise NotImplementedError

    def newest(self, offset, limit, since=None, until=None, name=None, door=None, decision=None):
        """One page of the filtered records, newest first (`until`: an aware datetime, exclusive), and how many
        records pass the filters."""
        records = [entry for entry in self.read(since, name, door, decision)
                   if until is None or datetime.fromisoformat(entry["time"]) < until]
        return records[::-1][offset:offset + limit], len(records)

    def daily(self, since=None, door=None):
        """`log --stats`: {(UTC day, person): Counter(opened=, refused=)} of the records since `since` at `door`
        (person: identified, else claimed, else "(unknown)")."""
        return daily_stats(self.read(since, door=door))

    def face_key(self, record):
        """How face() finds the face crop kept with `record` (one that newest() gave); None if none was kept."""
        return None

    def face(self, key):
        """The JPEG bytes of the face crop at `key` (from face_key()), or None."""
        return None

    def end(self):
        """A cursor at the log's end now, for after(): what is written from now on."""
        return sum(1 for _ in self.read())

    def after(self, cursor):
        """The records written since `cursor` (from end() or after()), oldest first, and the cursor past them."""
        records = list(self.read())
        return records[cursor:], len(records)

    def beat(self, status):
        """Keep `status` (a dict with at least door, camera and time) as the newest heartbeat of its door's
        camera, in place of the one before. LogError if it fails."""
        raise NotImplementedError

    def doors(self):
        """The newest heartbeat of every door's camera that ever sent one, ordered by door and camera."""
        raise NotImplementedError

    def delete_older(self, cutoff):
        """Drop the records (and face crops) older than the aware datetime `cutoff`; how many."""
        raise NotImplementedError

    def purge(self, name):
        """Drop every record that names `name`, claimed or identified; how many."""
        raise NotImplementedError

    def reseal(self):
        """Seal every kept face crop under the key file's current key (those not yet so); how many."""
        raise NotImplementedError

    def drop_faces_older(self, cutoff):
        """Delete the face crops of the records older than the aware datetime `cutoff`, keeping the records (they
        then show no face); how many crops."""
        raise NotImplementedError


def matches_filters(entry, moment, since, name, door, decision):
    """Whether a record passes read()'s filters (`moment`: its time as a datetime)."""
    return ((since is None or moment >= since) and (name is None or name in (entry.get("identity"), entry.get("claim")))
            and (door is None or entry.get("door") == door) and (decision is None or entry.get("decision") == decision))
