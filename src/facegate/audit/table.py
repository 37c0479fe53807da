"""A PostgreSQL database's audit trail: the table facegate_audit (seq, record as jsonb), appended in the SQL
transaction of the commit it describes (under the writers' advisory lock), so a change and its record are
committed together or not at all."""
from .chain import seal

TABLE = "CREATE TABLE IF NOT EXISTS facegate_audit (seq bigint PRIMARY KEY, record jsonb NOT NULL)"


class TableTrail:
    def __init__(self, location):
        self.location = location

    def append(self, records, connection=None):
        """Seal and append `records`, in `connection`'s transaction (a commit's) or in one of its own."""
        if not records:
            return
        if connection is not None:
            return append_in(connection, records)
        from ..db.connection import LOCK_KEY, connected

        with connected(self.location) as connection:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            append_in(connection, records)

    def exists(self):
        return True

    def read(self):
        from ..db.connection import reading

        with reading(self.location) as connection:
            if not connection.execute("SELECT to_regclass('facegate_audit') IS NOT NULL").fetchone()[0]:
                return []
            return [row[0] for row in connection.execute("SELECT record FROM facegate_audit ORDER BY seq")]


def append_in(connection, records):
    """Append under the advisory lock the caller holds."""
    from psycopg.types.json import Jsonb

    connection.execute(TABLE)
    last = connection.execute("SELECT record->>'seq', record->>'hash' FROM facegate_audit ORDER BY seq DESC "
                              "LIMIT 1").fetchone()
    head = (int(last[0]), last[1]) if last else None
    for record in seal(records, head):
        connection.execute("INSERT INTO facegate_audit (seq, record) VALUES (%s, %s)", (record["seq"], Jsonb(record)))
