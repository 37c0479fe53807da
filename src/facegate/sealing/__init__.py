"""Encryption at rest: what a database holds of faces (embeddings, thumbnails, access-log crops, watch's
snapshots, exports) sealed with a key kept apart from it, once `facegate key init` has encrypted the database.

    keys.py      the key file (FACEGATE_KEY_FILE): the keys by id, the one that seals
    blobs.py     seal / opened: AES-256-GCM blobs that name their key; passphrase keys for exports
    rotation.py  key init (encrypt a database and its log) and key rotate (re-seal everything, then drop the old key)

A database says whether it is encrypted (Database.encryption, {"key": id, "since": time}); its stores seal what
they write when it is (`sealed_if`) and open what they read by its header (`opened`). Without the key file, or
with one that does not hold the database's key, loading it fails closed (`check_key`)."""
from ..errors import NoKeyError, WrongKeyError
from .blobs import is_sealed, opened, passphrase_keyring, seal, sealed_with
from .keys import Keyring, key_file, load_keyring

__all__ = ["seal", "opened", "sealed_if", "is_sealed", "sealed_with", "check_key", "load_keyring", "key_file",
           "Keyring", "passphrase_keyring"]


def sealed_if(encrypted, data, purpose):
    """`data` sealed with the key file's current key when `encrypted`, else as it is."""
    return seal(data, purpose) if encrypted else data


def check_key(encryption, where):
    """Fail closed unless the key file holds the key of a database encrypted as `encryption` says (None: not
    encrypted, nothing to check)."""
    if not encryption:
        return
    try:
        keyring = load_keyring()
    except NoKeyError as exc:
        raise NoKeyError(f"{where}: encrypted, and {exc}") from None
    if encryption.get("key") not in keyring.keys:
        raise WrongKeyError(f"{where}: encrypted with key {encryption.get('key')}, which the key file "
                            f"{keyring.path} does not hold (it holds {', '.join(sorted(keyring.keys))}): the wrong key")
