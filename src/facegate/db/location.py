"""Where the enrollment database is: a folder (folder.py) or a PostgreSQL server (postgres.py)."""
import os
from pathlib import Path

from ..weights import facegate_home


def is_server_url(location):
    """Whether a --db location names a PostgreSQL server (postgres.py) rather than a folder."""
    return type(location).__name__ == "PgLocation" or str(location).startswith(("postgresql://", "postgres://"))


def database_location(text):
    """A --db argument as the library takes it: a PostgreSQL location, or a folder Path."""
    if is_server_url(text):
        from .postgres import PgLocation

        return PgLocation(text)
    return Path(text).expanduser()


def default_path():
    """$FACEGATE_DB (a folder or a postgresql:// URL), else $FACEGATE_HOME/db, else the XDG user data dir."""
    if os.environ.get("FACEGATE_DB"):
        return database_location(os.environ["FACEGATE_DB"])
    home = facegate_home()
    if home:
        return home / "db"
    import platformdirs

    return Path(platformdirs.user_data_dir("facegate")) / "db"
