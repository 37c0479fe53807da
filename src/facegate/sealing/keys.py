"""The key file: the keys that seal a database's faces and embeddings, kept apart from the database.

    {"format": "facegate-key", "version": 1, "current": "<id>", "keys": {"<id>": "<base64 of 32 random bytes>"}}

FACEGATE_KEY_FILE, else $FACEGATE_HOME/key.json, else the user's config directory. Written atomically, mode 0600.
`current` seals what is written from now on; every key listed opens what it sealed, so during a rotation the file
holds the old key and the new one (rotation.py). A key's id, the start of a hash of it, is written into each
sealed blob: a blob names the key it needs, which tells a wrong key file from damage."""
import base64
import hashlib
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import NoKeyError, SealError
from ..files import facegate_home, write_atomically

FORMAT = "facegate-key"
VERSION = 1
KEY_BYTES = 32
KEY_ID_BYTES = 8


def key_file():
    """Where the key file is: $FACEGATE_KEY_FILE, else $FACEGATE_HOME/key.json, else the user config directory."""
    if os.environ.get("FACEGATE_KEY_FILE"):
        return Path(os.environ["FACEGATE_KEY_FILE"]).expanduser()
    home = facegate_home()
    if home:
        return home / "key.json"
    import platformdirs

    return Path(platformdirs.user_config_dir("facegate")) / "key.json"


def key_id(key):
    """The id a sealed blob names its key by (hex): a hash of the key, from which the key cannot be found."""
    return hashlib.sha256(b"facegate key id\0" + key).digest()[:KEY_ID_BYTES].hex()


def new_key():
    return secrets.token_bytes(KEY_BYTES)


@dataclass(frozen=True)
class Keyring:
    """The keys of a key file: {id: key}, and the id of the one that seals."""

    path: Path
    keys: dict
    current: str

    def key(self, wanted):
        return self.keys.get(wanted)

    def sealing_key(self):
        return self.current, self.keys[self.current]

    def with_key(self, key, current=True):
        """This keyring with `key` added (and made current)."""
        ident = key_id(key)
        return Keyring(self.path, {**self.keys, ident: key}, ident if current else self.current)

    def only_current(self):
        return Keyring(self.path, {self.current: self.keys[self.current]}, self.current)


def write_keyring(keyring):
    """Write `keyring` to its file (atomically, readable by its owner only)."""
    record = {"format": FORMAT, "version": VERSION, "current": keyring.current,
              "keys": {ident: base64.b64encode(key).decode("ascii") for ident, key in keyring.keys.items()}}
    path = keyring.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = os.umask(0o077)
        try:
            write_atomically(path, (json.dumps(record, indent=1) + "\n").encode("ascii"))
        finally:
            os.umask(previous)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise SealError(f"{path}: cannot write the key file ({exc.strerror or exc})") from None
    _CACHE.clear()


_CACHE, _CACHE_LOCK = {}, threading.Lock()


def load_keyring(path=None):
    """The Keyring of the key file (key_file() when `path` is None); NoKeyError if there is none. Read again only
    when the file changes (a rotation by another process is seen at the next blob)."""
    path = Path(path) if path else key_file()
    try:
        status = path.stat()
    except FileNotFoundError:
        raise NoKeyError(f"no key file at {path} (FACEGATE_KEY_FILE names another; `facegate key init` makes one)") \
            from None
    except OSError as exc:
        raise SealError(f"{path}: cannot read the key file ({exc.strerror or exc})") from None
    stamp = (str(path), status.st_mtime_ns, status.st_size, status.st_ino)
    with _CACHE_LOCK:
        if stamp not in _CACHE:
            _CACHE.clear()
            _CACHE[stamp] = _read(path)
        return _CACHE[stamp]


def _read(path):
    try:
        record = json.loads(path.read_bytes())
        keys = {ident: base64.b64decode(text, validate=True) for ident, text in record["keys"].items()}
        current = record["current"]
    except OSError as exc:
        raise SealError(f"{path}: cannot read the key file ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SealError(f"{path}: not a facegate key file (damaged or another file)") from None
    if record.get("format") != FORMAT or record.get("version") != VERSION:
        raise SealError(f"{path}: not a facegate key file (format {record.get('format')!r})")
    if current not in keys or any(len(key) != KEY_BYTES or key_id(key) != ident for ident, key in keys.items()):
        raise SealError(f"{path}: damaged key file (a key does not match its id)")
    return Keyring(path, keys, current)
