"""Where an enrollment database is, and so which kind it is: the one place a --db argument is read.

    database_location(text)  a FolderLocation (a path) or a PgLocation (postgresql://...); its `kind` names the
                             store that opens it (base.store_of), and the access log's table (facegate.accesslog)
"""
import os
import urllib.parse
from pathlib import Path

from ..files import facegate_home

SERVER_SCHEMES = ("postgresql://", "postgres://")


class FolderLocation(type(Path())):
    """A database folder (a Path)."""

    kind = "folder"


class PgLocation(str):
    """A PostgreSQL database's location: reads as the URL without its password; `.url` is the full one."""

    kind = "postgresql"

    def __new__(cls, url):
        parts = urllib.parse.urlsplit(str(getattr(url, "url", url)))
        netloc = parts.hostname or ""
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("password="))
        shown = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))
        location = super().__new__(cls, shown)
        location.url = str(getattr(url, "url", url))
        location.host = parts.hostname or dict(urllib.parse.parse_qsl(parts.query)).get("host", "localhost")
        return location


def database_location(location=None):
    """A --db argument (text, a Path, a location already, or None: the default) as a FolderLocation or PgLocation."""
    if location is None:
        return default_path()
    if isinstance(location, (FolderLocation, PgLocation)):
        return location
    if str(location).startswith(SERVER_SCHEMES):
        return PgLocation(location)
    return FolderLocation(location).expanduser()


def default_path():
    """$FACEGATE_DB (a folder or a postgresql:// URL), else $FACEGATE_HOME/db, else the XDG user data dir."""
    if os.environ.get("FACEGATE_DB"):
        return database_location(os.environ["FACEGATE_DB"])
    home = facegate_home()
    if home:
        return FolderLocation(home / "db")
    import platformdirs

    return FolderLocation(platformdirs.user_data_dir("facegate")) / "db"
