"""Encryption at rest (facegate key init / rotate): a folder database and a PostgreSQL one, with their access logs'
face crops and watch's snapshots, hold no face picture and no embedding in any file or row once encrypted; every
command works with the key file and fails closed in one line without it; a wrong key is told from damage; a
rotation killed halfway leaves everything readable and finishes when run again; exports are sealed."""
import base64
import io
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegate.accesslog import AccessLog, log_of, read_log
from facegate.db import Database
from facegate.db.base import thumbnail_key
from facegate.sealing import sealed_with

from conftest import DATA, IMAGES, one_error_line, run_facegate
from test_postgres import pg, server  # noqa: F401 - fixtures
from test_service import ADMIN_TOKEN, call, start_service, stop_service
from watching import CLIP

ALEX = DATA / "video" / "alex-lacamoire.png"


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    """The key file of the test, kept apart from its databases (and from FACEGATE_HOME)."""
    path = tmp_path / "keys" / "key.json"
    monkeypatch.setenv("FACEGATE_KEY_FILE", str(path))
    return path


def needles(embeddings):
    """What would betray a face or an embedding in a file: picture and archive signatures, and the start of each
    embedding as raw float32, as base64 (exports, JSON) and as decimal text (SQL literals, arrays)."""
    found = [b"\xff\xd8\xff", b"JFIF", b"\x89PNG", b"PK\x03\x04"]
    for vector in embeddings:
        raw = np.asarray(vector, "<f4").tobytes()
        found += [raw[:16], base64.b64encode(raw[:12]), f"{float(vector[0])!r},{float(vector[1])!r}".encode()]
    return found


def assert_nothing_readable(data, where, embeddings):
    for needle in needles(embeddings):
        assert needle not in data, (where, needle[:16])


def assert_no_file_readable(paths, embeddings):
    """The byte scan: no signature nor embedding in any file, and neither Pillow nor NumPy can read one."""
    paths = [path for path in paths if path.is_file()]
    assert paths
    for path in paths:
        assert_nothing_readable(path.read_bytes(), path, embeddings)
        with pytest.raises(Exception):
            Image.open(path).load()
        if path.suffix == ".npz":
            with pytest.raises(Exception):
                np.load(path, allow_pickle=False)["embeddings"]


def face_keys(db):
    store = log_of(db)
    return [store.face_key(record) for record in read_log(db) if store.face_key(record)]


def every_file(*folders):
    return [path for folder in folders for path in sorted(Path(folder).rglob("*")) if path.is_file()]


def test_a_folder_database_its_crops_and_snapshots_encrypted(video_db, tmp_path, key_file):
    db, snapshots, out = tmp_path / "db", tmp_path / "snapshots", tmp_path / "out"
    shutil.copytree(video_db, db)
    assert run_facegate("--db", db, "--log-faces", "watch", CLIP, "--snapshots", snapshots).returncode == 0
    embeddings = Database.load(db).embeddings
    crops = len(list((tmp_path / "db.log" / "faces").rglob("*.jpg")))
    assert crops and list(snapshots.glob("*.jpg"))

    encrypted = run_facegate("--db", db, "key", "init")
    assert encrypted.returncode == 0, encrypted.stderr
    assert f"6 embedding(s), {crops} face crop(s), {len(list(snapshots.glob('*.jpg')))} snapshot(s)" in encrypted.stdout
    assert key_file.stat().st_mode & 0o077 == 0  # the owner's alone
    assert_no_file_readable(every_file(db, tmp_path / "db.log", snapshots), embeddings)

    # with the key, as before: decisions, a watch writing new crops and snapshots (sealed), a person's data
    assert run_facegate("--db", db, "identify", ALEX).stdout.strip().endswith("alex (distance 0.000)")
    assert run_facegate("--db", db, "verify", ALEX, "alex").returncode == 0
    assert run_facegate("--db", db, "verify", ALEX, "lin").returncode == 1
    assert run_facegate("--db", db, "--log-faces", "watch", CLIP, "--snapshots", snapshots).returncode == 0
    assert len(list((tmp_path / "db.log" / "faces").rglob("*.jpg"))) > crops
    assert_no_file_readable(every_file(db, tmp_path / "db.log", snapshots), embeddings)
    exported = run_facegate("--db", db, "subject", "lin", "--export", out)
    assert exported.returncode == 0, exported.stderr
    for picture in [*(out / "faces").glob("*"), *(out / "snapshots").glob("*"), *(out / "enrollment").glob("*")]:
        Image.open(picture).load()  # the person's copy is theirs to read
    assert all(Image.open(io.BytesIO(log_of(db).face(key))).size for key in face_keys(db))
    assert run_facegate("--db", db, "export", tmp_path / "backup.fgx").returncode == 0
    assert_nothing_readable((tmp_path / "backup.fgx").read_bytes(), "backup", embeddings)
    audited = [json.loads(line)["action"] for line in run_facegate("--db", db, "audit", "--json").stdout.splitlines()]
    assert "key init" in audited

    # without the key file, every command that needs the data fails closed, in one line; the database unchanged
    before = {path: path.read_bytes() for path in every_file(db)}
    missing = {"FACEGATE_KEY_FILE": str(tmp_path / "elsewhere.json")}
    for command in (("identify", ALEX), ("verify", ALEX, "alex"), ("list",), ("export", tmp_path / "x.fgx"),
                    ("subject", "lin"), ("enroll", "kian", IMAGES / "kian.jpg"), ("watch", CLIP), ("key", "rotate")):
        one_error_line(run_facegate("--db", db, *command, environment=missing), "encrypted", "no key file")
    assert {path: path.read_bytes() for path in every_file(db)} == before
    # a wrong key file is told from damage
    wrong = {"FACEGATE_KEY_FILE": str(tmp_path / "other" / "key.json")}
    assert run_facegate("--db", tmp_path / "other-db", "key", "init", environment=wrong).returncode == 0
    one_error_line(run_facegate("--db", db, "identify", ALEX, environment=wrong), "the wrong key")
    alex = Database.load(db).gallery().embeddings_of("alex")[0]
    thumbnail = db / "thumbnails" / f"{thumbnail_key(alex)}.jpg"
    thumbnail.write_bytes(thumbnail.read_bytes()[:-1] + bytes([thumbnail.read_bytes()[-1] ^ 1]))
    one_error_line(run_facegate("--db", db, "subject", "alex", "--export", tmp_path / "alex"), thumbnail.name,
                   "damaged", "does not authenticate")


def test_a_rotation_killed_halfway_leaves_everything_readable_and_finishes_when_run_again(photo_db, tmp_path,
                                                                                       key_file):
    db = tmp_path / "db"
    shutil.copytree(photo_db, db)
    assert run_facegate("--db", db, "key", "init").returncode == 0
    face = Image.open(IMAGES / "kian.jpg").convert("RGB").resize((80, 80))
    log = AccessLog(db, "front", print, faces=True)
    for _ in range(1500):  # enough crops that sealing them again takes longer than noticing it has begun
        log.record("verify", "match", identity="alex", claim="alex", face=face)
    old = json.loads(key_file.read_text())["current"]
    crops = sorted((tmp_path / "db.log" / "faces").rglob("*.jpg"))
    assert {sealed_with(path.read_bytes()) for path in crops} == {old}

    rotating = subprocess.Popen([sys.executable, "-m", "facegate", "--db", str(db), "key", "rotate"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(json.loads(key_file.read_text())["keys"]) == 1:
        assert rotating.poll() is None and time.monotonic() < deadline, rotating.communicate()
        time.sleep(0.002)
    rotating.send_signal(signal.SIGKILL)
    rotating.wait(timeout=60)
    keys = json.loads(key_file.read_text())
    new = keys["current"]
    assert set(keys["keys"]) == {old, new}  # killed before the end: the old key is still there
    under = [sealed_with(path.read_bytes()) for path in crops]
    assert under.count(old) > 0  # halfway: some crops not yet sealed again

    # everything opens, decisions are made, and new writes are sealed under the new key
    assert run_facegate("--db", db, "verify", ALEX, "alex").returncode == 0
    store = log_of(db)
    assert all(store.face(key) for key in face_keys(db)) and len(face_keys(db)) == 1500
    finished = run_facegate("--db", db, "key", "rotate")
    assert finished.returncode == 0, finished.stderr
    assert f"now encrypted with key {new} (dropped {old})" in finished.stdout
    assert list(json.loads(key_file.read_text())["keys"]) == [new]
    assert {sealed_with(path.read_bytes()) for path in crops} == {new}
    assert {sealed_with(path.read_bytes()) for path in (db / "thumbnails").glob("*.jpg")} == {new}
    assert run_facegate("--db", db, "verify", ALEX, "alex").returncode == 0
    assert all(store.face(key) for key in face_keys(db)) and len(face_keys(db)) == 1500


def test_exports_sealed_with_the_key_or_a_passphrase(photo_db, tmp_path, key_file):
    db = tmp_path / "db"
    shutil.copytree(photo_db, db)
    embeddings = Database.load(db).embeddings
    passphrase = {"FACEGATE_PASSPHRASE": "correct horse battery"}
    exported = run_facegate("--db", db, "export", "--passphrase", tmp_path / "p.fgx", environment=passphrase)
    assert exported.returncode == 0, exported.stderr
    assert run_facegate("--db", db, "key", "init").returncode == 0
    assert run_facegate("--db", db, "export", tmp_path / "k.fgx").returncode == 0
    for export in ("p.fgx", "k.fgx"):
        assert_nothing_readable((tmp_path / export).read_bytes(), export, embeddings)
    one_error_line(run_facegate("--db", tmp_path / "a", "import", tmp_path / "p.fgx",
                                environment={"FACEGATE_PASSPHRASE": "not the passphrase"}), "the wrong passphrase")
    assert run_facegate("--db", tmp_path / "a", "import", tmp_path / "p.fgx", environment=passphrase).returncode == 0
    one_error_line(run_facegate("--db", tmp_path / "b", "import", tmp_path / "k.fgx",
                                environment={"FACEGATE_KEY_FILE": str(tmp_path / "none.json")}), "no key file")
    assert run_facegate("--db", tmp_path / "b", "import", tmp_path / "k.fgx").returncode == 0
    for imported in ("a", "b"):
        assert np.array_equal(Database.load(tmp_path / imported).embeddings, embeddings)
    damaged = bytearray((tmp_path / "k.fgx").read_bytes())
    damaged[-10] ^= 1
    (tmp_path / "d.fgx").write_bytes(bytes(damaged))
    one_error_line(run_facegate("--db", tmp_path / "c", "import", tmp_path / "d.fgx"), "damaged export")


def picture(url):
    """The size of the JPEG the console answers `url` with (as its admin)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return Image.open(io.BytesIO(answer.read())).size


def _relation_files(url):
    """The files of the tables that hold faces (and of their TOAST tables), after a checkpoint."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CHECKPOINT")
        root = Path(connection.execute("SHOW data_directory").fetchone()[0])
        names = connection.execute(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.relname IN ('facegate_embeddings', "
            "'facegate_access_log') OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relname IN "
            "('facegate_embeddings', 'facegate_access_log'))").fetchall()
    return [root / name for (name,) in names]


def test_a_postgresql_database_encrypted_rows_and_files(pg, tmp_path, key_file):  # noqa: F811
    import psycopg

    for name in ("andrew", "kian"):
        assert run_facegate("--db", pg, "enroll", name, IMAGES / f"{name}.jpg").returncode == 0
        assert run_facegate("--db", pg, "--log-faces", "verify", IMAGES / f"{name}.jpg", name).returncode == 0
    assert run_facegate("--db", pg, "index", "hnsw").returncode == 0
    embeddings = Database.load(pg).embeddings
    plain = b"".join(path.read_bytes() for path in _relation_files(pg))
    assert b"\xff\xd8\xff" in plain and needles(embeddings)[4] in plain  # the scan sees them while plain

    encrypted = run_facegate("--db", pg, "key", "init")
    assert encrypted.returncode == 0 and "2 embedding(s), 2 face crop(s)" in encrypted.stdout, encrypted.stderr
    with psycopg.connect(pg) as connection:
        rows = connection.execute("SELECT embedding, sealed, thumbnail FROM facegate_embeddings").fetchall()
        faces = [face for (face,) in connection.execute("SELECT face FROM facegate_access_log")]
        text = connection.execute("SELECT string_agg(t::text, ' ') FROM facegate_embeddings t").fetchone()[0]
    assert all(embedding is None and sealed_with(sealed) and sealed_with(thumbnail)
               for embedding, sealed, thumbnail in rows)
    assert all(sealed_with(face) for face in faces)
    assert_nothing_readable(text.encode() + b"".join(map(bytes, faces)), "rows", embeddings)
    assert_no_file_readable(_relation_files(pg), embeddings)

    # with the key: decisions in memory (the server cannot compare sealed rows), the log's crops, the service
    assert run_facegate("--db", pg, "identify", IMAGES / "kian.jpg").stdout.strip().endswith("kian (distance 0.000)")
    assert run_facegate("--db", pg, "verify", IMAGES / "kian.jpg", "andrew").returncode == 1
    one_error_line(run_facegate("--db", pg, "index", "hnsw"), "encrypted", "in memory")
    assert run_facegate("--db", pg, "enroll", "andrew", IMAGES / "andrew.jpg").returncode == 0
    (tmp_path / "admin").write_text(ADMIN_TOKEN + "\n")
    base, process = start_service(pg, "--admin-token-file", tmp_path / "admin", global_options=("--log-faces",))
    store = log_of(pg)
    try:
        status, answer = call(base + "/identify", (IMAGES / "kian.jpg").read_bytes())
        keys = [store.face_key(record) for record in store.newest(0, 10)[0] if store.face_key(record)]
        pictures = [picture(base + "/console/thumbnail?name=kian")] + [picture(f"{base}/console/face?key={key}")
                                                                        for key in keys]
    finally:
        stop_service(process, ADMIN_TOKEN)
    assert status == 200 and answer["faces"][0]["identity"] == "kian", answer
    assert len(keys) == 3 and all(size[0] > 20 for size in pictures)  # the console shows them opened
    one_error_line(run_facegate("--db", pg, "identify", IMAGES / "kian.jpg",
                                environment={"FACEGATE_KEY_FILE": str(tmp_path / "none.json")}), "encrypted",
                   "no key file")

    rotated = run_facegate("--db", pg, "key", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(key_file.read_text())["current"]
    with psycopg.connect(pg) as connection:
        blobs = [blob for row in connection.execute("SELECT sealed, thumbnail FROM facegate_embeddings")
                 for blob in row]
        blobs += [f for (f,) in connection.execute("SELECT face FROM facegate_access_log WHERE face IS NOT NULL")]
    assert len(blobs) == 9 and {sealed_with(blob) for blob in blobs} == {new}
    assert run_facegate("--db", pg, "verify", IMAGES / "kian.jpg", "kian").returncode == 0
    assert_no_file_readable(_relation_files(pg), embeddings)
