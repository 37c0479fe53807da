"""The enrollment database on a real PostgreSQL 16 with pgvector, started by the tests (pgserver, on a private
socket): the same commands and the same decisions as a folder database, migration both ways, concurrent
writers, a killed writer, a newer schema, damaged rows, a server that is not there, the access log, the service."""
import io
import json
import signal
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from facegate.db import Database
from facegate.db.location import PgLocation

from conftest import IMAGES, one_error_line, run_facegate
from test_service import call, start_service, stop_service


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import pgserver

    instance = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    yield instance
    instance.cleanup()


@pytest.fixture
def pg(server, request):
    """The URL of a new, empty database of its own on the test server."""
    name = "t_" + request.node.name.lower()[:40].replace("[", "_").replace("]", "_").replace("-", "_")
    server.psql(f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name};")
    return server.get_uri(name)


def sql(url, statement):
    """A statement run on the test database directly, as an operator (or an attacker) would."""
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute(statement)


def ok(*args, code=0):
    """The command's result, after checking its exit code: 0 (done, or a match), 1 where a refusal is expected."""
    result = run_facegate(*args)
    assert result.returncode == code, result.stderr
    return result


def verified(db, picture, name):
    """verify --json's record, its exit code checked against its decision (0 match, 1 no match)."""
    result = run_facegate("--db", db, "verify", picture, name, "--json")
    record = json.loads(result.stdout)
    assert result.returncode == (0 if record["match"] else 1), result.stderr
    return record


def test_every_command_decides_as_on_a_folder_database(pg, tmp_path):
    folder = tmp_path / "db"
    for db in (pg, folder):
        for name in ("younes", "bertrand", "dan"):
            ok("--db", db, "enroll", name, IMAGES / f"{name}.jpg")
        ok("--db", db, "enroll", "bertrand", IMAGES / "camera_3.jpg")
    for camera, name in (("camera_0", "younes"), ("camera_1", "bertrand"), ("camera_4", "dan"), ("camera_2", "dan")):
        on_server, on_disk = (verified(db, IMAGES / f"{camera}.jpg", name) for db in (pg, folder))
        assert on_server["match"] == on_disk["match"]
        assert on_server["distance"] == pytest.approx(on_disk["distance"], abs=1e-6)
    identified = [json.loads(ok("--db", db, "identify", IMAGES / "camera_1.jpg", "--json").stdout) for db in (pg, folder)]
    assert identified[0]["faces"][0]["identity"] == identified[1]["faces"][0]["identity"] == "bertrand"
    listing = lambda db: {k: v for k, v in json.loads(ok("--db", db, "list", "--json").stdout).items()  # noqa: E731
                          if k != "database"}
    assert [p["name"] for p in listing(pg)["people"]] == ["bertrand", "dan", "younes"]
    assert [len(p["photos"]) for p in listing(pg)["people"]] == [2, 1, 1]

    ok("--db", pg, "threshold", "set", "0.75")
    assert ok("--db", pg, "verify", IMAGES / "camera_4.jpg", "dan").returncode == 0  # 0.724 < 0.75: shared by doors
    ok("--db", pg, "threshold", "reset")
    ok("--db", pg, "rename", "dan", "daniel")
    ok("--db", pg, "remove", "younes")
    assert [p["name"] for p in listing(pg)["people"]] == ["bertrand", "daniel"]
    one_error_line(run_facegate("--db", pg, "verify", IMAGES / "camera_0.jpg", "younes"), "'younes' is not enrolled")


def test_export_and_import_migrate_both_ways(pg, tmp_path):
    folder, backup = tmp_path / "db", tmp_path / "site.facegate"
    for name in ("younes", "kian"):
        ok("--db", folder, "enroll", name, IMAGES / f"{name}.jpg")
    ok("--db", folder, "threshold", "set", "0.8")
    ok("--db", folder, "export", backup)
    ok("--db", pg, "import", backup)
    on_server = Database.load(PgLocation(pg))
    on_disk = Database.load(folder)
    assert on_server.entries == on_disk.entries and on_server.threshold == 0.8
    assert (on_server.embeddings == on_disk.embeddings).all()  # float32 through pgvector, bit for bit

    back, again = tmp_path / "back.facegate", tmp_path / "again"
    ok("--db", pg, "export", back)
    ok("--db", again, "import", back)
    assert Database.load(again).entries == on_disk.entries


WRITERS = ("andrew", "arnaud", "benoit", "dan", "felix", "kevin", "kian", "tian")
KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from facegate.db import transaction
    with transaction(sys.argv[1]) as database:
        database.add("victim", np.eye(1, 128, dtype=np.float32), ["v.jpg"], "facenet128")
        database.save = None
        os.kill(os.getpid(), signal.SIGKILL)
""")


def test_concurrent_writers_lose_nothing_and_a_killed_one_leaves_the_old_state(pg):
    ok("--db", pg, "enroll", "younes", IMAGES / "younes.jpg")
    writers = [subprocess.Popen([sys.executable, "-m", "facegate", "--db", pg, "enroll", name,
                                 str(IMAGES / f"{name}.jpg")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for name in WRITERS]
    assert [w.wait(timeout=600) for w in writers] == [0] * 8
    names = lambda: sorted(Database.load(PgLocation(pg)).people())  # noqa: E731
    assert names() == sorted(WRITERS + ("younes",))
    assert len(Database.load(PgLocation(pg)).entries) == 9

    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, pg], capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert names() == sorted(WRITERS + ("younes",))
    ok("--db", pg, "remove", "tian")  # the killed writer's lock went with its connection
    assert "tian" not in names() and len(names()) == 8


KILLED_AT_CALL = textwrap.dedent("""
    # An enroll, a remove and a rename in one transaction, killed (SIGKILL) at the K-th point: before each call
    # it makes into psycopg (a statement, a row of the COPY, the commit) and just after the commit returns.
    # K past the last point: it finishes.
    import os, signal, sys
    import numpy as np
    import psycopg
    from facegate.db import transaction

    url, kill_at = sys.argv[1], int(sys.argv[2])
    calls = [0]

    def point():
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def counted(method, after=False):
        def call(*args, **kwargs):
            point()
            result = method(*args, **kwargs)
            if after:
                point()
            return result
        return call

    psycopg.Connection.execute = counted(psycopg.Connection.execute)
    psycopg.Connection.commit = counted(psycopg.Connection.commit, after=True)
    psycopg.Copy.write_row = counted(psycopg.Copy.write_row)
    vectors = np.eye(3, 128, dtype=np.float32)
    with transaction(url) as database:
        database.add("newcomer", vectors, ["a.jpg", "b.jpg", "c.jpg"], "facenet128")
        database.remove("kian")
        database.rename("younes", "younes-b")
    print(calls[0])
""")


def _state(url):
    import psycopg

    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT id, name, source, embedding::text FROM facegate_embeddings ORDER BY id")
        return rows.fetchall(), connection.execute("SELECT version FROM facegate_meta").fetchone()[0]


def test_a_writer_killed_at_any_call_leaves_the_old_or_the_new_state(pg):
    ok("--db", pg, "enroll", "younes", IMAGES / "younes.jpg")
    ok("--db", pg, "enroll", "kian", IMAGES / "kian.jpg")
    old = _state(pg)
    run = lambda k: subprocess.run([sys.executable, "-c", KILLED_AT_CALL, pg, str(k)],  # noqa: E731
                                   capture_output=True, text=True, timeout=120)
    finished = run(10**6)
    assert finished.returncode == 0, finished.stderr
    new, calls = _state(pg), int(finished.stdout)
    assert sorted(row[1] for row in new[0]) == ["newcomer"] * 3 + ["younes-b"] and new[1] == old[1] + 1
    sql(pg, "DROP TABLE facegate_embeddings, facegate_meta, facegate_access_log")  # start again from nothing
    ok("--db", pg, "enroll", "younes", IMAGES / "younes.jpg")
    ok("--db", pg, "enroll", "kian", IMAGES / "kian.jpg")
    old = _state(pg)
    for k in range(1, calls + 1):
        killed = run(k)
        assert killed.returncode == -signal.SIGKILL, (k, killed.stdout, killed.stderr)
        now = _state(pg)
        if k < calls:
            assert now == old, f"killed at point {k} of {calls}: the database changed"
        else:  # killed just after its commit: the new state, whole
            assert [r[1:] for r in now[0]] == [r[1:] for r in new[0]] and now[1] == old[1] + 1
    ok("--db", pg, "enroll", "dan", IMAGES / "dan.jpg")  # no lock was left behind by any of them


def test_a_commit_writes_only_what_changed(pg):
    for name in ("younes", "kian", "dan"):
        ok("--db", pg, "enroll", name, IMAGES / f"{name}.jpg")
    ids = lambda: dict((name, i) for i, name, *_ in _state(pg)[0])  # noqa: E731
    before = ids()
    ok("--db", pg, "enroll", "bertrand", IMAGES / "bertrand.jpg")
    ok("--db", pg, "remove", "kian")
    ok("--db", pg, "rename", "dan", "daniel")
    after = ids()
    assert after["younes"] == before["younes"] and after["daniel"] == before["dan"] and "kian" not in after
    assert after["bertrand"] > max(before.values())


def test_a_newer_schema_damaged_rows_and_another_model_are_refused(pg):
    ok("--db", pg, "enroll", "younes", IMAGES / "younes.jpg")
    ok("--db", pg, "enroll", "kian", IMAGES / "kian.jpg")
    sql(pg, "UPDATE facegate_embeddings SET embedding = array_fill(0.5, ARRAY[128])::real[]::vector "
            "WHERE name = 'kian'")
    # verify reads the claimed person's rows only: younes still decides, kian's damaged row is refused
    assert run_facegate("--db", pg, "verify", IMAGES / "camera_0.jpg", "younes").returncode == 0
    one_error_line(run_facegate("--db", pg, "verify", IMAGES / "kian.jpg", "kian"), "not unit vectors")
    one_error_line(run_facegate("--db", pg, "list"), "not unit vectors")
    sql(pg, "UPDATE facegate_embeddings SET embedding = array_fill(0.5, ARRAY[128])::real[]::vector")
    one_error_line(run_facegate("--db", pg, "verify", IMAGES / "camera_0.jpg", "younes"), "unit")
    sql(pg, "UPDATE facegate_meta SET model = 'facenet512', embedding_size = 512")
    one_error_line(run_facegate("--db", pg, "list"), "512")
    sql(pg, "UPDATE facegate_meta SET schema_version = 2")
    one_error_line(run_facegate("--db", pg, "list"), "schema version 2 is not supported")


def test_a_server_that_is_not_there_is_one_line_naming_the_host_never_the_password(tmp_path):
    url = "postgresql://door:s3cret-pass-word@127.0.0.1:1/facegate"
    for args in (["list"], ["verify", IMAGES / "camera_0.jpg", "younes"], ["enroll", "x", IMAGES / "younes.jpg"]):
        result = run_facegate("--db", url, *args)
        one_error_line(result, "127.0.0.1", "cannot connect to PostgreSQL")
        assert "s3cret" not in result.stderr + result.stdout
        assert "postgresql://door@127.0.0.1:1/facegate" in result.stderr


def test_thumbnails_on_the_server_and_a_table_made_before_them(pg):
    """Each enrolled photo's face crop is kept in its row: the person's thumbnail, through a rename, gone with
    them. A table made before thumbnails were kept (no column) works as ever and gets the column at the next
    enrollment with a thumbnail."""
    ok("--db", pg, "enroll", "younes", IMAGES / "younes.jpg")
    sql(pg, "ALTER TABLE facegate_embeddings DROP COLUMN thumbnail")
    assert Database.load(pg).thumbnail("younes") is None
    ok("--db", pg, "verify", IMAGES / "camera_0.jpg", "younes")
    ok("--db", pg, "enroll", "kian", IMAGES / "kian.jpg")
    crop = Image.open(io.BytesIO(Database.load(pg).thumbnail("kian")))
    assert max(crop.size) <= 96 and min(crop.size) > 20
    assert Database.load(pg).thumbnail("younes") is None  # enrolled before: none, and nothing broke
    ok("--db", pg, "rename", "kian", "kian-m")
    assert Database.load(pg).thumbnail("kian-m") is not None
    ok("--db", pg, "remove", "kian-m")
    assert Database.load(pg).thumbnail("kian-m") is None and Database.load(pg).name_counts() == {"younes": 1}


def test_the_access_log_lives_in_the_database(pg):
    ok("--db", pg, "enroll", "younes", IMAGES / "younes.jpg")
    ok("--db", pg, "--door", "lobby", "--log-faces", "verify", IMAGES / "camera_0.jpg", "younes")
    ok("--db", pg, "--door", "lobby", "verify", IMAGES / "camera_2.jpg", "younes", code=1)
    records = [json.loads(line) for line in ok("--db", pg, "log", "--json").stdout.splitlines()]
    assert [(r["door"], r["decision"], r["claim"]) for r in records] == [("lobby", "match", "younes"),
                                                                          ("lobby", "no-match", "younes")]
    assert records[0]["face"] == "in facegate_access_log" and "face" not in records[1]

    from facegate.accesslog import log_of  # what the console reads: pages, new records since, face crops

    store = log_of(pg)
    cursor = store.end()
    page, total = store.newest(0, 1, door="lobby")
    assert total == 2 and [r["decision"] for r in page] == ["no-match"] and store.face_key(page[0]) is None
    (matched,), _ = store.newest(1, 5)
    assert Image.open(io.BytesIO(store.face(store.face_key(matched)))).size[0] > 20
    assert store.after(cursor) == ([], cursor)
    ok("--db", pg, "--door", "lobby", "identify", IMAGES / "camera_0.jpg")
    records, cursor = store.after(cursor)
    assert [(r["command"], r["identity"]) for r in records] == [("identify", "younes")]
    assert store.after(cursor) == ([], cursor)
    from facegate.accesslog import LogStore

    days = store.daily()  # counted by the server, as counting every record read gives
    assert days == LogStore.daily(store) and sum(c["opened"] + c["refused"] for c in days.values()) == 3
    assert store.daily(door="elsewhere") == {}
    assert store.doors() == []
    for state in ("watching", "stopped"):  # a camera's newest heartbeat replaces the one before
        store.beat({"door": "lobby", "camera": "cam-1", "time": "2026-12-04T08:00:00+00:00", "state": state})
    store.beat({"door": "gate", "camera": "cam-2", "time": "2026-12-04T08:00:01+00:00"})
    assert [(s["door"], s["camera"], s.get("state")) for s in store.doors()] == [("gate", "cam-2", None),
                                                                              ("lobby", "cam-1", "stopped")]
    assert ok("--db", pg, "log", "prune", "--older-than", "0d").stdout.startswith("3 access-log record(s)")
    assert ok("--db", pg, "log").stdout == ""


def test_the_service_on_postgres_sees_enrollments_at_the_next_request(pg):
    ok("--db", pg, "enroll", "younes", IMAGES / "younes.jpg")
    base, process = start_service(pg)
    try:
        assert call(base + "/verify?name=dan", (IMAGES / "dan.jpg").read_bytes())[0] == 404
        ok("--db", pg, "enroll", "dan", IMAGES / "dan.jpg")
        status, answer = call(base + "/verify?name=dan", (IMAGES / "dan.jpg").read_bytes())
        assert status == 200 and answer["match"] is True
        assert call(base + "/health")[1]["people"] == 2
    finally:
        stop_service(process)


def test_an_hnsw_index_can_be_built_and_dropped_and_decides_alike_here(pg, tmp_path):
    for name in ("younes", "bertrand", "dan"):
        ok("--db", pg, "enroll", name, IMAGES / f"{name}.jpg")
    assert ok("--db", pg, "index").stdout.endswith(": exact search\n")
    exact = json.loads(ok("--db", pg, "identify", IMAGES / "camera_1.jpg", "--json").stdout)
    assert ok("--db", pg, "index", "hnsw").stdout.endswith(": hnsw (approximate) search\n")
    indexed = json.loads(ok("--db", pg, "identify", IMAGES / "camera_1.jpg", "--json").stdout)
    assert indexed == exact  # a three-person gallery: the index finds the same row
    ok("--db", pg, "enroll", "kian", IMAGES / "kian.jpg")  # commits keep the index
    assert ok("--db", pg, "index").stdout.endswith(": hnsw (approximate) search\n")
    assert ok("--db", pg, "index", "exact").stdout.endswith(": exact search\n")
    one_error_line(run_facegate("--db", tmp_path / "folder", "index", "hnsw"), "always searches exactly")


def test_scan_and_calibrate_work_on_postgres(pg, tmp_path):
    for name, photos in {"younes": ["younes.jpg", "camera_0.jpg"], "bertrand": ["bertrand.jpg", "camera_3.jpg"],
                         "kian": ["kian.jpg"]}.items():
        ok("--db", pg, "enroll", name, *(IMAGES / p for p in photos))
    folder = tmp_path / "roll"
    folder.mkdir()
    for name in ("camera_1.jpg", "camera_2.jpg"):
        (folder / name).write_bytes((IMAGES / name).read_bytes())
    scanned = [json.loads(line) for line in ok("--db", pg, "scan", folder, "--json").stdout.splitlines()]
    assert [r["faces"][0]["identity"] for r in scanned] == ["bertrand", None]
    calibrated = json.loads(ok("--db", pg, "calibrate", "--json", "--far", "0.1").stdout)
    assert calibrated["people"] == 3 and calibrated["genuine_pairs"] == 2


def test_watch_on_postgres_matches_and_sees_an_enrollment_made_while_it_runs(pg):
    """A network camera shows Miranda close up over and over; only Lacamoire is enrolled on the server at first
    (Miranda: unknown). Miranda enrolled from video into the server while the watch runs: his next visit is a
    match (the watch saw the commit counter change)."""
    from servers import MjpegCamera
    from watching import VIDEO, clip_jpegs, unknown_until_enrolled_while_watching, watching

    ok("--db", pg, "enroll", "alex", VIDEO / "alex-lacamoire.png")
    with MjpegCamera(clip_jpegs(30, 210), fps=15, frames_per_connection=10_000) as camera:
        unknown_until_enrolled_while_watching(watching(pg, camera.url), pg)
    records = [json.loads(line) for line in ok("--db", pg, "log", "--json").stdout.splitlines()]
    assert ("watch", "match", "lin") in {(r["command"], r["decision"], r["identity"]) for r in records}


def test_a_url_in_facegate_db_selects_the_server(pg):
    ok("--db", pg, "enroll", "younes", IMAGES / "younes.jpg")
    listed = run_facegate("list", "--json", environment={"FACEGATE_DB": pg})
    assert listed.returncode == 0, listed.stderr
    record = json.loads(listed.stdout)
    assert record["database"] == str(PgLocation(pg)) and [p["name"] for p in record["people"]] == ["younes"]


def test_a_refused_login_is_one_line_without_the_password(server):
    url = server.get_uri().replace("postgresql://postgres:@", "postgresql://intruder:open-sesame-123@")
    result = run_facegate("--db", url, "list")
    one_error_line(result, "cannot connect to PostgreSQL", "intruder")
    assert "open-sesame" not in result.stderr
