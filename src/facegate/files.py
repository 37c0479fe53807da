"""The files facegate keeps: where they live (FACEGATE_HOME), durable writes, and embeddings as text."""
import base64
import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np


def facegate_home():
    """$FACEGATE_HOME, else None (then the XDG user directories apply)."""
    home = os.environ.get("FACEGATE_HOME")
    return Path(home).expanduser() if home else None


def vectors_to_text(vectors):
    """Embeddings (any shape) as they are written in JSON files (exports, a scan's --output): base64 of
    little-endian float32."""
    return base64.b64encode(np.ascontiguousarray(vectors, "<f4").tobytes()).decode("ascii")


def vectors_from_text(text):
    """The float32 values written by vectors_to_text, flat; ValueError or TypeError when it is not base64."""
    return np.frombuffer(base64.b64decode(text, validate=True), "<f4").astype(np.float32)


def write_atomically(target, data):
    """Replace the file `target` with `data` all at once: a crash leaves the old file or the new, never a mix.

    Written to a scratch file beside it, flushed to disk, renamed over it; the scratch file is removed when
    anything fails, and the error propagates."""
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    # Make the rename durable where the file system allows; the replacement itself has already happened.
    with contextlib.suppress(OSError):
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


@contextlib.contextmanager
def private_files(contents):
    """Each of `contents` (bytes) in a private temporary file (the decoders read files): their paths, removed when
    the block ends, however it ends."""
    paths = []
    try:
        for data in contents:
            descriptor, path = tempfile.mkstemp(prefix="facegate-upload-")
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            paths.append(path)
        yield paths
    finally:
        for path in paths:
            os.unlink(path)
