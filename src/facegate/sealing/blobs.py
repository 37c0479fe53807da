"""Sealed blobs: bytes encrypted and authenticated with AES-256-GCM (the `cryptography` library).

    MAGIC (8 bytes) | key id (8) | nonce (12, random) | ciphertext | tag (16)

The header and the blob's purpose ("thumbnail", "face", "embeddings"...) are authenticated with it, so a blob
cannot be passed off as another kind, nor its key id changed. A blob that does not start with MAGIC is plain (written
before the database was encrypted): `opened` gives it back as it is."""
import base64
import functools
import os

from ..errors import DamagedError, NoKeyError, WrongKeyError
from .keys import KEY_ID_BYTES, Keyring, key_id, load_keyring

MAGIC = b"\x89FGSEAL\x01"
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES
PASSPHRASE_SCRYPT = {"n": 2 ** 15, "r": 8, "p": 1}
"""scrypt's cost for a passphrase-sealed export (about 0.1 s and 32 MB to try one passphrase)."""


def is_sealed(data):
    return data is not None and bytes(data[:len(MAGIC)]) == MAGIC


def sealed_with(data):
    """The id of the key a sealed blob needs (None for a plain one)."""
    return bytes(data[len(MAGIC):len(MAGIC) + KEY_ID_BYTES]).hex() if is_sealed(data) else None


@functools.lru_cache(maxsize=16)
def _cipher(key):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def seal(data, purpose, keyring=None):
    """`data` sealed with the keyring's current key (the key file's, when None)."""
    keyring = keyring or load_keyring()
    ident, key = keyring.sealing_key()
    header = MAGIC + bytes.fromhex(ident) + os.urandom(NONCE_BYTES)
    return header + _cipher(key).encrypt(header[-NONCE_BYTES:], bytes(data), header + purpose.encode())


def opened(data, purpose, where, keyring=None):
    """The plain bytes of `data` (sealed or plain); NoKeyError, WrongKeyError or DamagedError naming `where`."""
    if not is_sealed(data):
        return data
    from cryptography.exceptions import InvalidTag

    data = bytes(data)
    try:
        keyring = keyring or load_keyring()
    except NoKeyError as exc:
        raise NoKeyError(f"{where}: encrypted, and {exc}") from None
    ident = sealed_with(data)
    key = keyring.key(ident)
    if key is None:
        raise WrongKeyError(f"{where}: encrypted with key {ident}, which {describe(keyring)} does not hold "
                            f"(it holds {', '.join(sorted(keyring.keys))}): the wrong key")
    header = data[:HEADER_BYTES]
    try:
        return _cipher(key).decrypt(header[-NONCE_BYTES:], data[HEADER_BYTES:], header + purpose.encode())
    except InvalidTag:
        raise DamagedError(f"{where}: damaged (encrypted with key {ident}, which is here, but it does not "
                           "authenticate: altered or truncated)") from None


def describe(keyring):
    return "the passphrase" if keyring.path is None else f"the key file {keyring.path}"


def passphrase_keyring(passphrase, record=None):
    """(keyring, record): the key derived from `passphrase` by scrypt, and how (salt and cost, as an export's
    header keeps them). A new random salt when `record` is None, else the record's."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    if record is None:
        record = {"salt": base64.b64encode(os.urandom(16)).decode("ascii"), **PASSPHRASE_SCRYPT}
    salt = base64.b64decode(record["salt"], validate=True)
    key = Scrypt(salt=salt, length=32, n=int(record["n"]), r=int(record["r"]), p=int(record["p"])).derive(
        passphrase.encode("utf-8"))
    return Keyring(None, {key_id(key): key}, key_id(key)), record
