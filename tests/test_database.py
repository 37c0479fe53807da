"""The JSON + NPZ enrollment database, with real embeddings of the seed staff."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import facegate
from facegate.db import folder as folder_db
from facegate.db import location
from facegate.db import INDEX_NAME, Database, export_database, read_export, transaction
from facegate.errors import DatabaseError, UnknownIdentityError
from facegate.matching import Gallery

from conftest import snapshot


def test_round_trip_keeps_names_sources_times_and_vectors(staff_db, staff_encodings):
    loaded = Database.load(staff_db)
    assert loaded.model == "facenet128" and loaded.threshold is None and len(loaded) == 12
    assert set(loaded.people()) == set(staff_encodings)
    for name, vector in staff_encodings.items():
        assert np.array_equal(Gallery.of(loaded).embeddings_of(name)[0], vector.astype(np.float32))
    entry = loaded.people()["danielle"][0]
    assert entry.source == "danielle.png" and entry.enrolled_at.endswith("+00:00")
    index = json.loads((staff_db / INDEX_NAME).read_text())
    assert index["schema_version"] == 1 and index["embedding_size"] == 128
    assert index["vectors"]["file"].startswith("vectors-") and list(staff_db.glob("vectors-*.npz"))


def test_several_photos_per_person_and_remove(staff_db, staff_encodings):
    with transaction(staff_db) as database:
        database.add("younes", [staff_encodings["tian"]], ["second.jpg"], "facenet128")
    assert len(Gallery.of(Database.load(staff_db)).embeddings_of("younes")) == 2
    with transaction(staff_db) as database:
        assert database.remove("younes") == 2
    loaded = Database.load(staff_db)
    assert "younes" not in loaded.people() and len(loaded) == 11
    assert len(list(staff_db.glob("vectors-*.npz"))) == 1  # superseded vectors are cleaned up
    with pytest.raises(UnknownIdentityError):
        Gallery.of(loaded).embeddings_of("younes")


def test_a_failed_commit_leaves_the_files_byte_identical(staff_db, staff_encodings, monkeypatch):
    before = snapshot(staff_db)

    def failing_replace(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        with transaction(staff_db) as database:
            database.add("newcomer", [staff_encodings["kian"]], ["x.jpg"], "facenet128", [b"\xff\xd8 a face"])
    monkeypatch.undo()
    after = snapshot(staff_db)
    after.pop(folder_db.Path(folder_db.LOCK_NAME), None)
    assert after == before
    assert "newcomer" not in Database.load(staff_db).people()


def test_thumbnails_go_with_their_embeddings_and_databases_without_them_work(staff_db, staff_encodings):
    """A face crop kept with each enrolled embedding: the person's thumbnail, through renames; removed with them;
    a database made before thumbnails were kept (none) works as ever."""
    assert Database.load(staff_db).thumbnail("kian") is None and not (staff_db / "thumbnails").exists()
    with transaction(staff_db) as database:
        database.add("newcomer", [staff_encodings["kian"] * -1], ["a.jpg"], "facenet128", [b"\xff\xd8 one"])
        database.add("other", [staff_encodings["dan"] * -1], ["b.jpg"], "facenet128", [None])
    assert Database.load(staff_db).thumbnail("newcomer") == b"\xff\xd8 one"
    assert Database.load(staff_db).thumbnail("other") is None
    with transaction(staff_db) as database:
        database.rename("newcomer", "ana")
    assert Database.load(staff_db).thumbnail("ana") == b"\xff\xd8 one"
    with transaction(staff_db) as database:
        database.remove("ana")
    assert list((staff_db / "thumbnails").iterdir()) == []  # her face is gone with her
    assert len(Database.load(staff_db)) == 13


def test_an_exception_inside_a_transaction_saves_nothing(staff_db):
    before = snapshot(staff_db)
    with pytest.raises(RuntimeError):
        with transaction(staff_db) as database:
            database.remove("kian")
            raise RuntimeError("crash between steps")
    after = snapshot(staff_db)
    after.pop(folder_db.Path(folder_db.LOCK_NAME), None)
    assert after == before


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_enrolls_from_eight_processes_lose_nothing(tmp_path, staff_encodings, attempt):
    folder = tmp_path / "db"
    np.save(tmp_path / "vectors.npy", np.stack(list(staff_encodings.values())))
    worker = textwrap.dedent(f"""
        import sys, numpy as np
        from facegate.db import transaction
        vectors = np.load({str(tmp_path / 'vectors.npy')!r})
        worker = int(sys.argv[1])
        for round in range(3):
            with transaction({str(folder)!r}) as database:
                database.add(f"person{{worker}}-{{round}}", vectors[worker:worker + 1], ["p.jpg"], "facenet128")
    """)
    processes = [subprocess.Popen([sys.executable, "-c", worker, str(i)]) for i in range(8)]
    assert [p.wait(timeout=120) for p in processes] == [0] * 8
    people = Database.load(folder).people()
    assert sorted(people) == sorted(f"person{w}-{r}" for w in range(8) for r in range(3))


def test_model_mismatch_is_refused(staff_db, staff_encodings):
    database = Database.load(staff_db)
    with pytest.raises(DatabaseError, match="facenet128 embeddings"):
        database.check_model("facenet512")
    with pytest.raises(DatabaseError):
        database.add("x", [np.ones(512, np.float32) / np.sqrt(512)], ["x.jpg"], "facenet512")


@pytest.mark.parametrize("name", ["", " padded", "tab\tname", "x" * 129, "new\nline"])
def test_invalid_names_are_refused(tmp_path, staff_encodings, name):
    with pytest.raises(DatabaseError, match="invalid name"):
        Database(tmp_path).add(name, [staff_encodings["kian"]], ["k.jpg"], "facenet128")


def test_non_unit_or_non_finite_vectors_are_refused(tmp_path):
    with pytest.raises(DatabaseError, match="unit"):
        Database(tmp_path).add("a", [np.full(128, 0.5, np.float32)], ["a.jpg"], "facenet128")
    with pytest.raises(DatabaseError, match="NaN"):
        Database(tmp_path).add("a", [np.full(128, np.nan, np.float32)], ["a.jpg"], "facenet128")


def damage_index(folder, change):
    index = json.loads((folder / INDEX_NAME).read_text())
    change(index)
    (folder / INDEX_NAME).write_text(json.dumps(index))


def replace_vectors(folder, change, shape=None):
    """Rewrite the vectors file with `change` applied, and its hash in the index, as a tamperer would."""
    import hashlib
    import io

    vectors = Database.load(folder).embeddings.copy()
    if shape:
        vectors = np.resize(vectors, shape)
    change(vectors)
    buffer = io.BytesIO()
    np.savez(buffer, embeddings=vectors)
    data = buffer.getvalue()
    next(folder.glob("vectors-*.npz")).write_bytes(data)
    damage_index(folder, lambda i: i["vectors"].update(sha256=hashlib.sha256(data).hexdigest()))


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / INDEX_NAME).write_text('{"format": "facegate-db", "entr'), "damaged database index"),
    (lambda f: (f / INDEX_NAME).write_bytes(b"\xff\xfe\x00garbage"), "damaged database index"),
    (lambda f: damage_index(f, lambda i: i.update(schema_version=99)), "schema version"),
    (lambda f: damage_index(f, lambda i: i.update(model="resnet")), "unknown model"),
    (lambda f: damage_index(f, lambda i: i["entries"].pop()), "do not match"),
    (lambda f: damage_index(f, lambda i: i.update(threshold=7)), "threshold"),
    (lambda f: damage_index(f, lambda i: i["vectors"].update(file="../../etc/passwd")), "invalid vectors file"),
    (lambda f: next(f.glob("vectors-*.npz")).write_bytes(b"PK\x03\x04 broken"), "damaged vectors file"),
    (lambda f: next(f.glob("vectors-*.npz")).unlink(), "missing"),
    (lambda f: replace_vectors(f, lambda v: v.__setitem__((3, 5), np.nan)), "NaN"),
    (lambda f: replace_vectors(f, lambda v: v.__setitem__((0, 0), np.inf)), "NaN or infinity"),
    (lambda f: replace_vectors(f, lambda v: v.__imul__(1.5)), "not unit vectors"),
    (lambda f: replace_vectors(f, lambda v: None, shape=(12, 64)), "do not match"),
    (lambda f: damage_index(f, lambda i: i["entries"].append(dict(i["entries"][0]))), "do not match"),
    (lambda f: os.truncate(f / INDEX_NAME, 1024 ** 3), "larger than any real database"),
])
def test_damaged_databases_give_one_clear_error(staff_db, damage, message):
    damage(staff_db)
    with pytest.raises(DatabaseError, match=message) as caught:
        Database.load(staff_db)
    assert "\n" not in str(caught.value)


def test_a_pickle_inside_the_vectors_file_is_never_loaded(staff_db):
    import hashlib
    import io

    buffer = io.BytesIO()
    np.savez(buffer, embeddings=np.array([{"evil": 1}] * 12, dtype=object))
    data = buffer.getvalue()
    vectors = next(staff_db.glob("vectors-*.npz"))
    vectors.write_bytes(data)
    damage_index(staff_db, lambda i: i["vectors"].update(sha256=hashlib.sha256(data).hexdigest()))
    with pytest.raises(DatabaseError, match="unreadable vectors file"):
        Database.load(staff_db)


def test_a_missing_database_is_empty_and_reading_it_writes_nothing(tmp_path):
    database = Database.load(tmp_path / "nothing-here")
    assert len(database) == 0 and database.model is None
    assert not (tmp_path / "nothing-here").exists()


def test_threshold_is_stored_and_validated(staff_db):
    with transaction(staff_db) as database:
        database.set_threshold(0.9)
    assert Database.load(staff_db).threshold == 0.9
    assert facegate.matching.resolve_threshold(None, Database.load(staff_db)) == 0.9
    with pytest.raises(DatabaseError):
        Database.load(staff_db).set_threshold(2.5)


def test_default_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACEGATE_DB", raising=False)
    assert location.default_path() == tmp_path / "home" / "db"
    monkeypatch.setenv("FACEGATE_DB", str(tmp_path / "elsewhere"))
    assert location.default_path() == tmp_path / "elsewhere"

    def command(*args, **env):
        """The real CLI with only these locations set; a write shows where it went."""
        environment = {k: v for k, v in os.environ.items() if k not in ("FACEGATE_DB", "FACEGATE_HOME")}
        result = subprocess.run([sys.executable, "-m", "facegate", *args], capture_output=True, text=True,
                                env={**environment, **env}, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    home, elsewhere, flag = tmp_path / "home2", tmp_path / "elsewhere2", tmp_path / "flag"
    command("threshold", "set", "0.8", FACEGATE_HOME=str(home))
    assert (home / "db" / INDEX_NAME).is_file()
    command("threshold", "set", "0.9", FACEGATE_HOME=str(home), FACEGATE_DB=str(elsewhere))
    assert (elsewhere / INDEX_NAME).is_file() and Database.load(home / "db").threshold == 0.8
    command("--db", str(flag), "threshold", "set", "1.0", FACEGATE_DB=str(elsewhere))
    assert Database.load(flag).threshold == 1.0 and Database.load(elsewhere).threshold == 0.9


def test_export_and_import_restore_every_person_exactly(staff_db, tmp_path):
    with transaction(staff_db) as database:
        database.set_threshold(0.8)
    original = Database.load(staff_db)
    backup = tmp_path / "staff.facegate"
    export_database(original, backup)
    restored = read_export(backup)
    assert restored.model == original.model and restored.threshold == 0.8
    assert restored.entries == original.entries
    assert np.array_equal(restored.embeddings, original.embeddings)
    header = json.loads(backup.read_bytes().splitlines()[0])
    assert header["format"] == "facegate-export" and header["version"] == 1 and len(header["sha256"]) == 64


def tamper_export(path, change):
    header, body = path.read_bytes().split(b"\n", 1)
    path.write_bytes(b"\n".join(change(header, body)))


@pytest.mark.parametrize("damage, message", [
    (lambda h, b: (h, b.replace(b'"kian"', b'"kiam"')), "sha256 does not match"),
    (lambda h, b: (h.replace(b'"version": 1', b'"version": 2'), b), "version 2 is not supported"),
    (lambda h, b: (b"PK\x03\x04", b), "not a facegate export"),
    (lambda h, b: (b"", b""), "not a facegate export"),
])
def test_damaged_exports_are_refused(staff_db, tmp_path, damage, message):
    backup = tmp_path / "staff.facegate"
    export_database(Database.load(staff_db), backup)
    tamper_export(backup, damage)
    with pytest.raises(DatabaseError, match=message) as caught:
        read_export(backup)
    assert "\n" not in str(caught.value)


def test_an_export_is_validated_like_a_database_even_with_a_matching_hash(staff_db, tmp_path):
    import base64
    import hashlib

    backup = tmp_path / "staff.facegate"
    export_database(Database.load(staff_db), backup)
    body = json.loads(backup.read_bytes().split(b"\n", 1)[1])
    vectors = np.frombuffer(base64.b64decode(body["embeddings"]), "<f4") * 2
    body["embeddings"] = base64.b64encode(vectors.astype("<f4").tobytes()).decode()
    data = json.dumps(body).encode()
    header = {"format": "facegate-export", "version": 1, "sha256": hashlib.sha256(data).hexdigest()}
    backup.write_bytes(json.dumps(header).encode() + b"\n" + data)
    with pytest.raises(DatabaseError, match="not unit vectors"):
        read_export(backup)


def test_a_reader_whose_vectors_file_is_replaced_under_it_reads_the_new_state(tmp_path, monkeypatch):
    """Database.load reads the index, then the vectors file it names. A commit by another process in between
    deletes that file: the reader reads the index again and gets the committed state, not an error."""
    folder = tmp_path / "db"
    with transaction(folder) as database:
        database.add("ann", np.eye(1, 128, dtype=np.float32), ["a.jpg"], "facenet128")
    writer = textwrap.dedent(f"""
        import numpy as np
        from facegate.db import transaction
        with transaction({str(folder)!r}) as database:
            database.add("bob", np.eye(1, 128, 1, dtype=np.float32), ["b.jpg"], "facenet128")
    """)
    real_read_index, reads = folder_db._read_index, []

    def read_index_then_let_a_writer_commit(path):
        index = real_read_index(path)
        reads.append(index["vectors"]["file"])
        if len(reads) == 1:
            subprocess.run([sys.executable, "-c", writer], check=True, timeout=120)
        return index

    monkeypatch.setattr(folder_db, "_read_index", read_index_then_let_a_writer_commit)
    loaded = Database.load(folder)
    assert len(reads) == 2 and reads[0] != reads[1]  # the first vectors file was gone: read again
    assert sorted(loaded.people()) == ["ann", "bob"]
