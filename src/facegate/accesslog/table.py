"""The access log of a PostgreSQL database: its table facegate_access_log (made with the database's schema,
db/postgres.py), shared by every door; face crops as JPEG bytes in the row."""
import io
from datetime import datetime

from ..db.connection import connected
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
            crop = buffer.getvalue()
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
        conditions, values = [], []
        for condition, value in (("time >= %s", since), ("(identity = %s OR claim = %s)", name),
                                 ("door = %s", door), ("decision = %s", decision)):
            if value is not None:
                conditions.append(condition)
                values.extend([value] * condition.count("%s"))
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with connected(self.location) as connection:
            rows = connection.execute(f"SELECT {', '.join(LOG_COLUMNS)}, extra, face IS NOT NULL FROM "
                                      f"facegate_access_log {where} ORDER BY time, id", values).fetchall()
        for row in rows:
            entry = dict(zip(LOG_COLUMNS, row))
            entry["time"] = entry["time"].isoformat(timespec="milliseconds")
            entry.update(row[len(LOG_COLUMNS)] or {})
            if row[-1]:
                entry["face"] = "in facegate_access_log"
            yield entry

    def delete_older(self, cutoff):
        return self._delete("time < %s", (cutoff,))

    def purge(self, name):
        return self._delete("identity = %s OR claim = %s", (name, name))

    def _delete(self, condition, values):
        with connected(self.location) as connection:
            return connection.execute(f"DELETE FROM facegate_access_log WHERE {condition}", values).rowcount


LOGS[TableLog.kind] = TableLog
