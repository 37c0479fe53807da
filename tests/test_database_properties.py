"""The database never loses data: random sequences of enroll / remove / rename / threshold with injected
failures (exceptions mid-change, disk full on a write, a failing rename, a process killed between steps).

These tests exercise the database code only, which does not depend on the model: the embeddings are random
unit vectors, not faces.
"""
import contextlib
import errno
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from facegate.db import LOCK_NAME, Database, transaction
from facegate.errors import DatabaseError
from facegate.matching import Gallery

from conftest import snapshot

NAMES = ["ann", "bob", "Bob", "chloé", "d e"]
FAILURES = [None, None, "exception inside", "write 1", "write 2", "fsync 1", "fsync 2", "replace 1", "replace 2"]
"""Where a commit fails: an exception in the transaction's block; disk full in the middle of writing the n-th
file (1: the vectors, 2: the index; half the bytes are written first) or at the n-th file's fsync (directory
fsyncs are not counted: their errors are ignored by design, the rename having happened); the n-th atomic
rename. A commit that writes no new vectors file (the same vectors) has only the index as its first file."""


def unit_vectors(seed, count):
    vectors = np.random.default_rng(seed).normal(size=(count, 128)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@contextlib.contextmanager
def injected(failure):
    if failure is None or failure == "exception inside":
        yield
        return
    function, nth = failure.split()
    if function == "write":
        function = "fdopen"  # the database writes each file through os.fdopen(...).write
    real, calls = getattr(os, function), [0]

    class DiskFillsUp:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[:len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device (injected)")

        def __getattr__(self, name):
            return getattr(self.handle, name)

    def failing(*args, **kwargs):
        if function == "fsync" and is_directory(args[0]):
            return real(*args, **kwargs)
        calls[0] += 1
        if function == "fdopen":
            handle = real(*args, **kwargs)
            return DiskFillsUp(handle) if calls[0] == int(nth) else handle
        if calls[0] == int(nth):
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        return real(*args, **kwargs)

    with mock.patch.object(os, function, failing):
        yield


def is_directory(descriptor):
    return stat.S_ISDIR(os.fstat(descriptor).st_mode)


def committed_state(folder):
    """{name: embeddings} and the threshold of the database as loaded from disk."""
    database = Database.load(folder)
    return {name: Gallery.of(database).embeddings_of(name).tolist() for name in database.people()}, database.threshold


def files(folder):
    found = snapshot(folder)
    found.pop(Path(LOCK_NAME), None)
    return found


operation = st.one_of(
    st.tuples(st.just("enroll"), st.sampled_from(NAMES), st.integers(1, 3), st.integers(0, 10**6)),
    st.tuples(st.just("remove"), st.sampled_from(NAMES)),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("threshold"), st.sampled_from([None, 0.5, 0.7, 1.1])),
)


def apply(database, step):
    kind, *args = step
    if kind == "enroll":
        name, count, seed = args
        database.add(name, unit_vectors(seed, count), [f"{name}-{i}.jpg" for i in range(count)], "facenet128")
    elif kind == "remove":
        database.remove(args[0])
    elif kind == "rename":
        database.rename(*args)
    else:
        database.set_threshold(args[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(operation, st.sampled_from(FAILURES)), min_size=1, max_size=12))
def test_every_command_commits_wholly_or_not_at_all(steps):
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "db"
        expected_people, expected_threshold = {}, None
        for step, failure in steps:
            before = files(folder) if folder.exists() else {}
            try:
                with injected(failure), transaction(folder) as database:
                    apply(database, step)
                    if failure == "exception inside":
                        raise RuntimeError("crash between steps")
            except DatabaseError:
                failed = True  # the step itself was refused (unknown name, name taken)
            except (OSError, RuntimeError) as exc:
                assert failure is not None, exc
                failed = True
            else:
                failed = False
                # What the step should have done, computed on plain Python data.
                kind, *args = step
                if kind == "enroll":
                    expected_people.setdefault(args[0], []).extend(unit_vectors(args[2], args[1]).tolist())
                elif kind == "remove":
                    del expected_people[args[0]]
                elif kind == "rename":
                    expected_people[args[1]] = expected_people.pop(args[0])
                else:
                    expected_threshold = args[0]
            if failed:
                assert files(folder) == before, (step, failure)
            people, threshold = committed_state(folder)
            assert sorted(people) == sorted(expected_people)
            for name, vectors in expected_people.items():
                assert np.array_equal(np.float32(people[name]), np.float32(vectors))
            assert threshold == expected_threshold


def test_rename_refuses_taken_and_unknown_names():
    database = Database(Path("unused"))
    database.add("ann", unit_vectors(1, 1), ["a.jpg"], "facenet128")
    database.add("bob", unit_vectors(2, 1), ["b.jpg"], "facenet128")
    with pytest.raises(DatabaseError, match="already enrolled"):
        database.rename("ann", "bob")
    with pytest.raises(DatabaseError, match="not enrolled"):
        database.rename("Ann", "carl")
    database.rename("ann", "carl")
    assert database.row_names == ["carl", "bob"]


KILLER = textwrap.dedent("""
    import os, signal, stat, sys
    import numpy as np
    from unittest import mock
    from facegate.db import transaction

    folder, point = sys.argv[1], sys.argv[2]
    function, nth = point.split()
    real, calls = getattr(os, function), [0]

    def kill_at(*args, **kwargs):
        if function == "fsync" and stat.S_ISDIR(os.fstat(args[0]).st_mode):
            return real(*args, **kwargs)  # directory fsyncs are not kill points: see FAILURES
        calls[0] += 1
        if calls[0] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    vector = np.eye(1, 128, dtype=np.float32)
    with mock.patch.object(os, function, kill_at), transaction(folder) as database:
        database.add("victim", vector, ["v.jpg"], "facenet128")
""")


@pytest.mark.parametrize("point", ["fsync 1", "replace 1", "fsync 2", "replace 2", "unlink 1"])
# fsync 1 / replace 1: the new vectors file; fsync 2 / replace 2: the index; unlink 1: the old vectors file
def test_a_process_killed_mid_commit_leaves_a_loadable_database(tmp_path, point):
    folder = tmp_path / "db"
    with transaction(folder) as database:
        database.add("ann", unit_vectors(1, 2), ["a1.jpg", "a2.jpg"], "facenet128")
    before = committed_state(folder)
    killed = subprocess.run([sys.executable, "-c", KILLER, str(folder), point], capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = committed_state(folder)
    # Killed before the index was replaced: the old state; after it: the new one. Never anything else.
    assert after == before or (sorted(after[0]) == ["ann", "victim"] and after[0]["ann"] == before[0]["ann"])
    with transaction(folder) as database:  # the next commit sweeps what the killed writer left behind
        database.add("bob", unit_vectors(2, 1), ["b.jpg"], "facenet128")
    assert len(list(folder.glob("vectors-*.npz"))) == 1 and not list(folder.glob(".*.tmp"))
    assert "bob" in committed_state(folder)[0]
