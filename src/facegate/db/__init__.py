"""The enrollment database: who is enrolled, with which embeddings, under which model and threshold.

    location.py  where a database is (--db, FACEGATE_DB) and so its kind: a folder, or postgresql://...
    base.py      the Database (rows, checks), the Store interface each kind implements, store_of(location)
    folder.py    a folder (the embedded default): a JSON index and an NPZ, committed atomically under a file lock
    postgres.py  postgresql://... : one database for every door of a site (pgvector), committed as SQL transactions
    gallery.py   what decisions ask (a person's rows, the row nearest a face), in memory
    search.py    the same questions asked of a PostgreSQL server (exact, or through an HNSW index)
    export.py    a database of either kind into one portable file and back (the migration path between kinds)

A new kind is a module with a Store subclass registered in base.STORES under its location's `kind`.

    Database.load(location)       the database as it is (a server's rows are read only when asked for)
    transaction(location)         with-block: lock, load, and commit the changes made in the block, or nothing
    database.add / remove / rename / absorb / set_threshold / name_counts / people / gallery
"""
from . import folder, postgres  # noqa: F401 - each registers its Store
from .base import SCHEMA_VERSION, Database, change_stamp, store_of, transaction
from .records import Entry, check_name, check_threshold
from .export import export_database, read_export
from .folder import INDEX_NAME, LOCK_NAME
from .gallery import Gallery
from .location import FolderLocation, PgLocation, database_location, default_path

__all__ = [
    "Database", "Entry", "Gallery", "transaction", "change_stamp", "store_of", "check_name", "check_threshold",
    "export_database", "read_export", "database_location", "default_path", "FolderLocation", "PgLocation",
    "INDEX_NAME", "LOCK_NAME", "SCHEMA_VERSION",
]
