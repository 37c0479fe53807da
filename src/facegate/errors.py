"""The exceptions facegate raises for anything a user can get wrong; each message is one line."""


def printable(text):
    """`text` on one line: newlines, other control characters and undecodable bytes of file names escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))


class FacegateError(Exception):
    """Base class: a problem with the input, the database or the model, explained in one line."""


class ImageError(FacegateError):
    """An image file could not be used."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(printable(f"{path}: {reason}"))


class NoFaceError(ImageError):
    """No face passed detection in an image."""

    def __init__(self, path):
        super().__init__(path, "no face found")


class MultipleFacesError(ImageError):
    """Several faces where exactly one was required."""

    def __init__(self, path, count):
        self.count = count
        super().__init__(path, f"{count} faces found where one was expected")


class DatabaseError(FacegateError):
    """The enrollment database is missing, damaged or does not fit the request."""


class UnknownIdentityError(DatabaseError):
    """A name that is not enrolled."""

    def __init__(self, name):
        self.name = name
        super().__init__(f"{name!r} is not enrolled")


class ModelError(FacegateError):
    """Model weights could not be obtained or loaded."""


class SealError(FacegateError):
    """An encrypted (sealed) file or row cannot be opened or written: no key file, a wrong key, or damage."""


class NoKeyError(SealError):
    """The data is encrypted and there is no key file."""


class WrongKeyError(SealError):
    """The data is sealed with a key the key file does not hold (or a passphrase that is not the one)."""


class DamagedError(SealError):
    """Sealed data whose authentication fails under the right key: altered or truncated."""
