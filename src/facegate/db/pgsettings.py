"""The settings of a PostgreSQL database beside its rows (postgres.py): retention and encryption in
facegate_settings, each camera's liveness profile in facegate_liveness_profiles; both tables made on first use, so
that older databases need nothing."""
from .records import validated_profiles

SETTINGS_TABLE = "CREATE TABLE IF NOT EXISTS facegate_settings (name text PRIMARY KEY, value jsonb NOT NULL)"
"""The database's settings (retention), one row each; made on first use."""


def read_setting(connection, name):
    """The stored value of the setting `name`, or None."""
    if not connection.execute("SELECT to_regclass('facegate_settings') IS NOT NULL").fetchone()[0]:
        return None
    row = connection.execute("SELECT value FROM facegate_settings WHERE name = %s", (name,)).fetchone()
    return row[0] if row else None


def read_retention(connection, location):
    from ..retention import Retention

    return Retention.from_record(read_setting(connection, "retention") or {}, location)


def write_setting(connection, name, value):
    from psycopg.types.json import Jsonb

    connection.execute(SETTINGS_TABLE)
    connection.execute("INSERT INTO facegate_settings (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
                       "SET value = EXCLUDED.value", (name, Jsonb(value)))


PROFILES_TABLE = "CREATE TABLE IF NOT EXISTS facegate_liveness_profiles (name text PRIMARY KEY, profile jsonb NOT NULL)"


def read_profiles(connection, location):
    """{name: Profile} of the database's liveness profiles, validated as a folder's are."""
    if not connection.execute("SELECT to_regclass('facegate_liveness_profiles') IS NOT NULL").fetchone()[0]:
        return {}
    rows = connection.execute("SELECT name, profile FROM facegate_liveness_profiles ORDER BY name").fetchall()
    return validated_profiles(location, {"liveness_profiles": dict(rows)})


def write_profiles(connection, changes):
    """Keep or remove liveness profiles (under the writers' advisory lock, which the commit holds)."""
    from psycopg.types.json import Jsonb

    connection.execute(PROFILES_TABLE)
    for name, profile in changes:
        if profile is None:
            connection.execute("DELETE FROM facegate_liveness_profiles WHERE name = %s", (name,))
        else:
            connection.execute("INSERT INTO facegate_liveness_profiles (name, profile) VALUES (%s, %s) ON CONFLICT "
                               "(name) DO UPDATE SET profile = EXCLUDED.profile", (name, Jsonb(profile.to_record())))
