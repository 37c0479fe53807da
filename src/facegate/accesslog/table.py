"""The access log of a PostgreSQL database: its table facegate_access_log (made with the database's schema,
db/postgres.py), shared by every door; face crops as JPEG bytes in the row (sealed when the database is
encrypted)."""
import io
from datetime import datetime

from ..db.base import encryption_of
from ..db.connection import connected
from ..sealing import load_keyring, opened, seal, sealed_if, sealed_with
from ..errors import DatabaseError
from .base import LOGS, LogError, LogStore

LOG_COLUMNS = ("time", "door", "command", "claim", "identity", "distance", "threshold", "decision", "picture_sha256")


class TableLog(LogStore):
    """Rows of facegate_access_log, each appended in its own short transaction."""

    kind = "postgresql"

    def append(self, entry, moment, face=None):
        from psycopg.types.json import Jsonb

        crop = None
        if face is not None:
            buffer = io.BytesIO()
            face.save(buffer, "JPEG", quality=90)
            crop = sealed_if(bool(encryption_of(self.location)), buffer.getvalue(), "face")
        values = [datetime.fromisoformat(entry["time"])] + [entry.get(column) for column in LOG_COLUMNS[1:]]
        extra = {key: value for key, value in entry.items() if key not in LOG_COLUMNS}
        try:
            with connected(self.location) as connection:
                connection.execute(f"INSERT INTO facegate_access_log ({', '.join(LOG_COLUMNS)}, extra, face) "
                                   f"VALUES ({', '.join(['%s'] * len(LOG_COLUMNS))}, %s, %s)",
                                   (*values, Jsonb(extra), crop))
        except DatabaseError as exc:
            raise LogError(f"cannot write the access log: {exc}") from None

    def read(self, since=None, name=None, door=None, decision=None):
        return self._select(since, name, door, decision)

    def newest(self, offset, limit, since=None, until=None, name=None, door=None, decision=None):
        where, values = _where(since=since, until=until, name=name, door=door, decision=decision)
        with connected(self.location) as connection:
            total = connection.execute(f"SELECT count(*) FROM facegate_access_log {where}", values).fetchone()[0]
            rows = connection.execute(f"SELECT {SELECTED} FROM facegate_access_log {where} "
                                      f"ORDER BY time DESC, id DESC OFFSET %s LIMIT %s",
                                      (*values, offset, limit)).fetchall()
        return [_entry(row) | {"id": row[-1]} for row in rows], total

    def daily(self, since=None, door=None):
        from collections import Counter

        where, values = _where(since=since, door=door)
        with connected(self.location) as connection:
            rows = connection.execute(
                "SELECT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD'), coalesce(nullif(identity, ''), "
                "nullif(claim, ''), '(unknown)') AS person, count(*) FILTER (WHERE decision = 'match'), "
                f"count(*) FILTER (WHERE decision IS DISTINCT FROM 'match') FROM facegate_access_log {where} "
                "GROUP BY 1, 2 ORDER BY 1, 2", values).fetchall()
        stats = {}
        for day, person, opens, refused in rows:
            stats[(day, person)] = Counter({key: n for key, n in (("opened", opens), ("refused", refused)) if n})
        return stats

    def face_key(self, record):
        return str(record["id"]) if record.get("face") and "id" in record else None

    def face(self, key):
        if not key.isdigit():
            return None
        with connected(self.location) as connection:
            row = connection.execute("SELECT face FROM facegate_access_log WHERE id = %s", (int(key),)).fetchone()
        if row is None or row[0] is None:
            return None
        return opened(bytes(row[0]), "face", f"{self.location} access-log record {key}")

    def reseal(self):
        current = load_keyring().current
        with connected(self.location) as connection:
            rows = connection.execute("SELECT id, face FROM facegate_access_log WHERE face IS NOT NULL").fetchall()
            updates = [(seal(opened(bytes(face), "face", f"{self.location} access-log record {ident}"), "face"), ident)
                       for ident, face in rows if sealed_with(face) != current]
            with connection.cursor() as cursor:
                cursor.executemany("UPDATE facegate_access_log SET face = %s WHERE id = %s", updates)
        return len(updates)

    def end(self):
        with connected(self.location) as connection:
            return connection.execute("SELECT coalesce(max(id), 0) FROM facegate_access_log").fetchone()[0]

    def after(self, cursor):
        records = list(self._select(after_id=cursor))
        return records, max([cursor] + [record["id"] for record in records])

    def _select(self, since=None, name=None, door=None, decision=None, after_id=None):
        where, values = _where(since=since, name=name, door=door, decision=decision, after_id=after_id)
        with connected(self.location) as connection:
            rows = connection.execute(f"SELECT {SELECTED} FROM facegate_access_log {where} ORDER BY time, id",
                                      values).fetchall()
        for row in rows:
            entry = _entry(row)
            if after_id is not None:
                entry["id"] = row[-1]
            yield entry

    def beat(self, status):
        from psycopg.types.json import Jsonb

        try:
            with connected(self.location) as connection:
                _make_doors_table(connection, self.location)
                connection.execute("INSERT INTO facegate_doors (door, camera, time, status) VALUES (%s, %s, %s, %s) "
                                   "ON CONFLICT (door, camera) DO UPDATE SET time = EXCLUDED.time, "
                                   "status = EXCLUDED.status",
                                   (status["door"], status["camera"], datetime.fromisoformat(status["time"]),
                                    Jsonb(status)))
        except DatabaseError as exc:
            raise LogError(f"cannot write the door's heartbeat: {exc}") from None

    def doors(self):
        with connected(self.location) as connection:
            _make_doors_table(connection, self.location)
            return [row[0] for row in connection.execute("SELECT status FROM facegate_doors ORDER BY door, camera")]

    def delete_older(self, cutoff):
        return self._delete("time < %s", (cutoff,))

    def purge(self, name):
        return self._delete("identity = %s OR claim = %s", (name, name))

    def drop_faces_older(self, cutoff):
        with connected(self.location) as connection:
            return connection.execute("UPDATE facegate_access_log SET face = NULL WHERE time < %s AND face IS NOT "
                                      "NULL", (cutoff,)).rowcount

    def _delete(self, condition, values):
        with connected(self.location) as connection:
            return connection.execute(f"DELETE FROM facegate_access_log WHERE {condition}", values).rowcount


LOGS[TableLog.kind] = TableLog

DOORS_TABLE = ("CREATE TABLE IF NOT EXISTS facegate_doors (door text NOT NULL, camera text NOT NULL, "
               "time timestamptz NOT NULL, status jsonb NOT NULL, PRIMARY KEY (door, camera))")
"""Each door camera's newest heartbeat; made on first use, so that databases made before it need nothing."""
_DOORS_MADE = set()


def _make_doors_table(connection, location):
    if str(location) not in _DOORS_MADE:
        connection.execute(DOORS_TABLE)
        _DOORS_MADE.add(str(location))


SELECTED = f"{', '.join(LOG_COLUMNS)}, extra, face IS NOT NULL, id"
CONDITIONS = {"since": "time >= %s", "until": "time < %s", "name": "(identity = %s OR claim = %s)",
              "door": "door = %s", "decision": "decision = %s", "after_id": "id > %s"}


def _where(**filters):
    """The WHERE clause of the filters given (None: not filtered) and its values."""
    conditions, values = [], []
    for key, value in filters.items():
        if value is not None:
            conditions.append(CONDITIONS[key])
            values.extend([value] * CONDITIONS[key].count("%s"))
    return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), values


def _entry(row):
    """A record as read() gives it, from a row of SELECTED."""
    entry = dict(zip(LOG_COLUMNS, row))
    entry["time"] = entry["time"].isoformat(timespec="milliseconds")
    entry.update(row[len(LOG_COLUMNS)] or {})
    if row[-2]:
        entry["face"] = "in facegate_access_log"
    return entry
