"""Durable file writes, shared by the database and the cache of converted networks."""
import contextlib
import os
import tempfile


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
