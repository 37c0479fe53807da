"""The access log: every decision of the real CLI appended beside its database, read back, filtered, counted,
pruned and purged; concurrent writers, rotation, face crops and failing closed with --require-log."""
import csv
import hashlib
import io
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from facegate import accesslog
from facegate.accesslog import AccessLog, log_folder, read_log

from conftest import DATA, IMAGES, run_facegate


def records(db, *filters):
    result = run_facegate("--db", db, "log", "--json", *filters)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_each_decision_is_logged_with_its_door_picture_and_distance(staff_db):
    assert run_facegate("--db", staff_db, "--door", "front", "verify", IMAGES / "camera_0.jpg", "younes").returncode == 0
    assert run_facegate("--db", staff_db, "--door", "front", "verify", IMAGES / "camera_2.jpg", "kian").returncode == 1
    assert run_facegate("--db", staff_db, "--door", "back", "identify", DATA / "bbt" / "bbt1.jpg").returncode == 1
    logged = records(staff_db)
    assert [(r["door"], r["command"], r["decision"]) for r in logged[:2]] == [("front", "verify", "match"),
                                                                              ("front", "verify", "no-match")]
    first, second = logged[0], logged[1]
    assert first["claim"] == first["identity"] == "younes" and first["distance"] == pytest.approx(0.4383, abs=1e-3)
    assert second["claim"] == "kian" and second["identity"] is None and second["distance"] > 1.0
    assert first["threshold"] == 0.7
    assert first["picture_sha256"] == hashlib.sha256((IMAGES / "camera_0.jpg").read_bytes()).hexdigest()
    crowd = logged[2:]
    assert len(crowd) == 5 and {(r["door"], r["command"], r["decision"]) for r in crowd} == {("back", "identify",
                                                                                              "unknown")}
    assert datetime.fromisoformat(first["time"]) <= datetime.fromisoformat(second["time"])

    assert [r["decision"] for r in records(staff_db, "--name", "kian")] == ["no-match"]
    assert len(records(staff_db, "--door", "back")) == 5 and len(records(staff_db, "--decision", "match")) == 1
    assert records(staff_db, "--since", (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()) == []
    table = list(csv.DictReader(io.StringIO(run_facegate("--db", staff_db, "log", "--csv").stdout)))
    assert len(table) == 7 and table[0]["decision"] == "match"
    stats = [json.loads(line) for line in run_facegate("--db", staff_db, "log", "--stats", "--json").stdout.splitlines()]
    day = first["time"][:10]
    assert {"day": day, "person": "younes", "opened": 1, "refused": 0} in stats
    assert {"day": day, "person": "kian", "opened": 0, "refused": 1} in stats
    assert {"day": day, "person": "(unknown)", "opened": 0, "refused": 5} in stats


def test_log_faces_keeps_the_face_crop(staff_db):
    assert run_facegate("--db", staff_db, "--log-faces", "verify", IMAGES / "camera_0.jpg", "younes").returncode == 0
    (entry,) = records(staff_db)
    record = json.loads(run_facegate("--db", staff_db, "identify", IMAGES / "camera_0.jpg", "--json").stdout)
    x, y, w, h = record["faces"][0]["box"]
    with Image.open(log_folder(staff_db) / entry["face"]) as crop:
        assert crop.format == "JPEG" and crop.size == (w, h)


def test_an_unwritable_log_is_said_and_with_require_log_the_door_stays_shut(staff_db):
    log_folder(staff_db).write_text("a file where the log folder would go")
    warned = run_facegate("--db", staff_db, "verify", IMAGES / "camera_0.jpg", "younes")
    assert warned.returncode == 0 and "MATCH, door opens" in warned.stdout
    assert "cannot write the access log" in warned.stderr
    refused = run_facegate("--db", staff_db, "--require-log", "verify", IMAGES / "camera_0.jpg", "younes")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "--require-log: the decision is refused" in refused.stderr


def test_scan_logs_only_when_asked(staff_db, tmp_path):
    folder = tmp_path / "roll"
    folder.mkdir()
    for name in ("camera_0.jpg", "camera_3.jpg"):
        (folder / name).write_bytes((IMAGES / name).read_bytes())
    assert run_facegate("--db", staff_db, "scan", folder).returncode == 0
    assert records(staff_db) == []
    assert run_facegate("--db", staff_db, "scan", folder, "--log").returncode == 0
    assert sorted(r["identity"] for r in records(staff_db)) == ["bertrand", "younes"]
    assert all(r["command"] == "scan" for r in records(staff_db))


def old_record(days, name):
    moment = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="milliseconds")
    return json.dumps({"time": moment, "door": "front", "command": "verify", "claim": name, "identity": name,
                       "distance": 0.5, "threshold": 0.7, "decision": "match", "picture_sha256": None}) + "\n"


def test_prune_drops_old_records_and_remove_keeps_or_purges_history(staff_db):
    folder = log_folder(staff_db)
    folder.mkdir()
    (folder / "access-20260101T000000000000Z.jsonl").write_text(old_record(200, "kian") + old_record(120, "dan"))
    (folder / "access.jsonl").write_text(old_record(100, "younes") + old_record(3, "kian") + "{damaged line\n")
    pruned = run_facegate("--db", staff_db, "log", "prune", "--older-than", "90d")
    assert pruned.returncode == 0 and pruned.stdout.startswith("3 access-log record(s)")
    assert [r["claim"] for r in records(staff_db)] == ["kian"]
    assert not (folder / "access-20260101T000000000000Z.jsonl").exists()
    bad_age = run_facegate("--db", staff_db, "log", "prune", "--older-than", "ninety days")
    assert bad_age.returncode == 2 and "expected an age such as 90d" in bad_age.stderr

    assert run_facegate("--db", staff_db, "verify", IMAGES / "camera_0.jpg", "younes").returncode == 0
    assert run_facegate("--db", staff_db, "remove", "younes").returncode == 0
    assert [r["claim"] for r in records(staff_db)] == ["kian", "younes"]  # the history stays
    purged = run_facegate("--db", staff_db, "remove", "kian", "--purge-log")
    assert purged.returncode == 0 and "1 access-log record(s) purged" in purged.stdout
    assert [r["claim"] for r in records(staff_db)] == ["younes"]


WRITER = textwrap.dedent("""
    import sys
    from facegate.accesslog import AccessLog
    log = AccessLog(sys.argv[1], f"door-{sys.argv[2]}", print, required=True)
    for number in range(50):
        log.record("verify", "match", identity=f"p{sys.argv[2]}", claim=f"p{sys.argv[2]}", distance=0.1,
                   threshold=0.7, picture=b"x" * number, number=number)
""")


def test_concurrent_writers_lose_no_line_and_rotation_keeps_every_record(tmp_path, monkeypatch):
    db = tmp_path / "db"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(i)]) for i in range(4)]
    assert [w.wait(timeout=120) for w in writers] == [0] * 4
    entries = list(read_log(db))
    assert len(entries) == 200
    for i in range(4):
        assert [e["number"] for e in entries if e["door"] == f"door-{i}"] == list(range(50))

    monkeypatch.setattr(accesslog.folder, "ROTATE_BYTES", 2000)
    log = AccessLog(db, "rotating", print, required=True)
    for number in range(30):
        log.record("identify", "unknown", distance=1.2, threshold=0.7, number=number)
    rotated = sorted(log_folder(db).glob("access-*.jsonl"))
    assert len(rotated) >= 3
    assert [e["number"] for e in read_log(db, door="rotating")] == list(range(30))


def test_the_door_is_facegate_door_else_the_host_name(staff_db):
    import socket

    camera = IMAGES / "camera_0.jpg"
    assert run_facegate("--db", staff_db, "verify", camera, "younes", environment={"FACEGATE_DOOR": "lobby"}).returncode == 0
    assert run_facegate("--db", staff_db, "verify", camera, "younes").returncode == 0
    assert [r["door"] for r in records(staff_db)] == ["lobby", socket.gethostname()]


def test_prune_deletes_the_face_crops_and_export_import_leave_the_log_behind(staff_db, tmp_path):
    assert run_facegate("--db", staff_db, "--log-faces", "verify", IMAGES / "camera_0.jpg", "younes").returncode == 0
    (entry,) = records(staff_db)
    crop = log_folder(staff_db) / entry["face"]
    assert crop.is_file()
    backup, elsewhere = tmp_path / "backup.facegate", tmp_path / "restored"
    assert run_facegate("--db", staff_db, "export", backup).returncode == 0
    assert b"camera_0" not in backup.read_bytes() and entry["picture_sha256"].encode() not in backup.read_bytes()
    assert run_facegate("--db", elsewhere, "import", backup).returncode == 0
    assert records(elsewhere) == [] and not log_folder(elsewhere).exists()
    assert run_facegate("--db", staff_db, "log", "prune", "--older-than", "0d").returncode == 0
    assert records(staff_db) == [] and not crop.exists()


def test_following_the_log_gives_each_new_record_once_across_rotation_and_rewrites(tmp_path, monkeypatch):
    """What the console's live view reads: after(cursor) gives the records written since, once each, also when
    the file was rotated in between; a rewrite in place (purge) repeats nothing. newest() pages newest first."""
    db = tmp_path / "db"
    db.mkdir()
    monkeypatch.setattr(accesslog.folder, "ROTATE_BYTES", 1000)
    log, store = AccessLog(db, "front", warn=pytest.fail), accesslog.log_of(db)
    cursor = store.end()
    assert store.after(cursor) == ([], cursor)
    seen = []
    for number in range(40):
        log.record("verify", "match" if number % 2 else "no-match", claim=f"person-{number}")
        if number % 7 == 0:
            records, cursor = store.after(cursor)
            seen += records
    records, cursor = store.after(cursor)
    seen += records
    assert len(list(log_folder(db).glob("access-*.jsonl"))) >= 3  # it did rotate
    assert [r["claim"] for r in seen] == [f"person-{n}" for n in range(40)]
    assert accesslog.purge_person(db, "person-39") == 1
    records, cursor = store.after(cursor)
    assert records == []
    log.record("identify", "unknown")
    assert [r["decision"] for r in store.after(cursor)[0]] == ["unknown"]
    page, total = store.newest(0, 3, decision="match")
    assert total == 19 and [r["claim"] for r in page] == ["person-37", "person-35", "person-33"]
    page, total = store.newest(18, 3, decision="match")
    assert total == 19 and [r["claim"] for r in page] == ["person-1"]


def test_a_folder_log_pages_as_reading_every_record_would(tmp_path):
    """The folder log's fast newest() (filters on the raw lines) gives what filtering every parsed record gives:
    names with quotes, non-ASCII and HTML, records written with and without ensure_ascii, times in another zone,
    a half-written last line."""
    import random

    db = tmp_path / "db"
    folder = log_folder(db)
    folder.mkdir(parents=True)
    rng = random.Random(3)
    names = ['ana', 'anaïs', 'o"brien', '<b>x</b>', 'ana ', None]
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    lines = []
    for n in range(600):
        moment = start + timedelta(minutes=17 * n)
        if n % 50 == 7:
            moment = moment.astimezone(timezone(timedelta(hours=2)))
        record = {"time": moment.isoformat(timespec="milliseconds"), "door": rng.choice(["front", "back", "fr"]),
                  "command": "verify", "claim": rng.choice(names), "identity": rng.choice(names),
                  "decision": rng.choice(accesslog.DECISIONS), "note": '"door": "front"'}
        lines.append(json.dumps(record, ensure_ascii=n % 3 == 0) + "\n")
    (folder / "access.jsonl").write_text("".join(lines) + '{"time": "2026-12-01T00:00:00.000+00:00", "door": "fr',
                                         encoding="utf-8")
    store = accesslog.log_of(db)
    filters = [{}, {"door": "front"}, {"door": "fr"}, {"decision": "no-match"}, {"name": "ana"}, {"name": "anaïs"},
               {"name": 'o"brien'}, {"name": "<b>x</b>", "door": "back"},
               {"since": start + timedelta(days=2), "until": start + timedelta(days=4, hours=3)},
               {"since": start + timedelta(days=3), "decision": "match", "name": "ana "}]
    for chosen in filters:
        for offset, limit in ((0, 50), (40, 7), (10_000, 5)):
            expected = accesslog.LogStore.newest(store, offset, limit, **chosen)
            assert store.newest(offset, limit, **chosen) == expected, chosen
        assert expected[1] > 0 or chosen.get("name") == "<b>x</b>", chosen
