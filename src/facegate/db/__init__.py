"""The enrollment database: who is enrolled, with which embeddings, under which model and threshold.

Two kinds behind one interface, chosen by the location (`--db`, FACEGATE_DB):

    folder.py    a folder (the embedded default): a JSON index and an NPZ, committed atomically under a file lock
    postgres.py  postgresql://... : one database for every door of a site (pgvector), committed as SQL transactions

The interface every command uses, whatever the kind:

    Database.load(location)      the database as it is (a server's rows are read only when asked for)
    transaction(location)        with-block: lock, load, and commit the changes made in the block, or nothing
    database.add / remove / rename / absorb / set_threshold / name_counts / people
    matching.Gallery.of(database) what decisions ask (a server's gallery asks the server for the nearest rows)

export.py moves a database of either kind into one portable file and back (the migration path between kinds).
"""
from .export import export_database, read_export
from .folder import (INDEX_NAME, LOCK_NAME, SCHEMA_VERSION, Database, Entry, check_name, check_threshold,
                     transaction)
from .location import database_location, default_path, is_server_url

__all__ = [
    "Database", "Entry", "transaction", "check_name", "check_threshold", "export_database", "read_export",
    "database_location", "default_path", "is_server_url", "INDEX_NAME", "LOCK_NAME", "SCHEMA_VERSION",
]
