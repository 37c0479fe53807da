"""Encrypting a database and changing its key: `facegate key init` and `facegate key rotate`.

init    a key file (a new key, or the key file's if there is one), then the access log's face crops and watch's
        snapshots sealed, then the database's embeddings and thumbnails in one commit that marks it encrypted.
rotate  a new key added to the key file and made current (the old one stays: everything still opens), every
        blob sealed again under it, the database's commit, a sweep for crops written meanwhile, and only then the
        old key dropped from the key file.

Killed at any point, nothing is lost: each file is replaced whole (PostgreSQL: in transactions), the key file
holds every key a blob may need until the end, and running the command again finishes the work. Snapshots are
those the access log names, and the files of the folders given."""
from dataclasses import dataclass
from pathlib import Path

from ..errors import NoKeyError, SealError
from ..files import write_atomically
from .blobs import opened, seal, sealed_with
from .keys import Keyring, key_file, load_keyring, new_key, write_keyring


@dataclass
class Sealed:
    """What a key command sealed (again)."""

    key: str
    key_file: Path
    embeddings: int = 0
    faces: int = 0
    snapshots: int = 0
    dropped: tuple = ()


def init_key(location, snapshot_folders=()):
    """Encrypt the database at `location` (and its log's crops, its snapshots) under the key file's key, made
    now if there is none. SealError when it is already encrypted."""
    from ..db import Database

    if Database.load(location).encryption:
        raise SealError(f"{location}: already encrypted (key {Database.load(location).encryption['key']}); "
                        "`facegate key rotate` changes its key")
    try:
        keyring = load_keyring()
    except NoKeyError:
        keyring = Keyring(key_file(), {}, None).with_key(new_key())
        write_keyring(keyring)
    return _seal_all(location, keyring, snapshot_folders, "key init")


def rotate_key(location, snapshot_folders=()):
    """Seal everything of the encrypted database at `location` under a new key, then forget the old one. A key
    file holding more than one key is an interrupted rotation: its current key is the new one, and it goes on."""
    from ..db import Database

    if not Database.load(location).encryption:  # also: fails closed without the key
        raise SealError(f"{location}: not encrypted; `facegate key init` encrypts it")
    keyring = load_keyring()
    if len(keyring.keys) == 1:
        keyring = keyring.with_key(new_key())
        write_keyring(keyring)
    sealed = _seal_all(location, keyring, snapshot_folders, "key rotate")
    _seal_outside(location, snapshot_folders, sealed)  # what doors wrote under the old key while it ran
    sealed.dropped = tuple(sorted(set(keyring.keys) - {keyring.current}))
    write_keyring(keyring.only_current())
    return sealed


def _seal_all(location, keyring, snapshot_folders, action):
    from ..db import store_of, transaction

    sealed = Sealed(keyring.current, keyring.path)
    _seal_outside(location, snapshot_folders, sealed)
    with transaction(location) as database:
        database.encrypt(keyring.current, action)
        sealed.embeddings = len(database)
    store_of(location)[0].compact(location)
    return sealed


def _seal_outside(location, snapshot_folders, sealed):
    """The face crops of the log and the snapshots, each sealed again unless it is under the current key."""
    from ..accesslog import log_of, read_log

    sealed.faces += log_of(location).reseal()
    named = {Path(record["snapshot"]) for record in read_log(location) if record.get("snapshot")}
    pictures = named | {path for folder in snapshot_folders for path in Path(folder).glob("*.jpg")}
    current = load_keyring().current
    for path in sorted(pictures):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # removed by retention or erase meanwhile
        if sealed_with(data) != current:
            write_atomically(path, seal(opened(data, "snapshot", path), "snapshot"))
            sealed.snapshots += 1
