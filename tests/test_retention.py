"""Retention (facegate retention, retention.py): one setting per database, shown, audited, and applied by `serve`
and `watch` as they run (what falls due is gone within a minute of its time, and nothing earlier) and by
`log prune`: access-log records, the face crops kept with them (records stay) and watch's snapshots; on a folder
database and on PostgreSQL."""
import json
import os
import time
from datetime import datetime, timedelta, timezone

from PIL import Image

from conftest import DATA, IMAGES, one_error_line, run_facegate
from test_postgres import pg, server  # noqa: F401 - fixtures
from test_service import start_service, stop_service
from watching import CLIP


def backdated(db, age, name, face=False):
    """A verify record of `name` written `age` (a timedelta) ago, with a face crop if asked."""
    from facegate.accesslog import log_of

    moment = datetime.now(timezone.utc) - age
    entry = {"time": moment.isoformat(timespec="milliseconds"), "door": "front", "command": "verify", "claim": name,
             "identity": name, "distance": 0.4, "threshold": 0.7, "decision": "match", "picture_sha256": None}
    log_of(db).append(entry, moment, Image.open(IMAGES / "andrew.jpg").convert("RGB") if face else None)
    return entry["time"]


def logged(db):
    """{claim: whether its record still has a face crop} of the log's records."""
    from facegate.accesslog import read_log

    return {entry["claim"]: bool(entry.get("face")) for entry in read_log(db)}


def test_the_setting_is_the_databases_shown_and_audited(tmp_path, pg):  # noqa: F811
    for db in (tmp_path / "db", pg):
        assert run_facegate("--db", db, "retention").stdout.splitlines() == [
            "faces: kept until pruned (no limit)", "log: kept until pruned (no limit)",
            "snapshots: kept until pruned (no limit)"]
        assert run_facegate("--db", db, "retention", "set", "--faces", "30d", "--log", "365d").returncode == 0
        assert run_facegate("--db", db, "retention", "set", "--snapshots", "12h").returncode == 0
        assert run_facegate("--db", db, "retention").stdout.splitlines() == [
            "faces: 30 day(s)", "log: 365 day(s)", "snapshots: 12 hour(s)"]
        one_error_line(run_facegate("--db", db, "retention", "set", "--log", "forever"), "forever", "90d")
        audited = [json.loads(line) for line in run_facegate("--db", db, "audit", "--json").stdout.splitlines()]
        assert [(r["action"], r["details"]) for r in audited] == [
            ("retention", {"faces": 30.0, "log": 365.0, "snapshots": None}),
            ("retention", {"faces": 30.0, "log": 365.0, "snapshots": 0.5})]


def test_log_prune_applies_the_setting_on_a_folder_and_on_postgresql(tmp_path, pg):  # noqa: F811
    for db in (tmp_path / "db", pg):
        assert run_facegate("--db", db, "enroll", "andrew", IMAGES / "andrew.jpg").returncode == 0
        backdated(db, timedelta(days=400), "ancient", face=True)
        backdated(db, timedelta(days=40), "old", face=True)
        backdated(db, timedelta(hours=1), "recent", face=True)
        assert run_facegate("--db", db, "retention", "set", "--faces", "30d", "--log", "365d").returncode == 0
        pruned = run_facegate("--db", db, "log", "prune")
        assert pruned.returncode == 0 and "1 access-log record(s) and 1 face crop(s) dropped" in pruned.stdout
        assert logged(db) == {"old": False, "recent": True}
    assert len(list((tmp_path / "db.log" / "faces").rglob("*.jpg"))) == 1  # the recent one's crop alone is left


def test_a_running_service_deletes_what_falls_due_within_a_minute_and_nothing_before(tmp_path):
    db = tmp_path / "db"
    assert run_facegate("--db", db, "enroll", "andrew", IMAGES / "andrew.jpg").returncode == 0
    assert run_facegate("--db", db, "retention", "set", "--faces", "1d", "--log", "30d").returncode == 0
    base, process = start_service(db)
    try:
        backdated(db, timedelta(days=31), "due", face=True)
        backdated(db, timedelta(days=2), "face-due", face=True)
        due_at = time.time() + 10
        backdated(db, timedelta(days=30) - timedelta(seconds=10), "soon")
        backdated(db, timedelta(0), "new", face=True)
        seen_gone, deadline = None, time.time() + 90
        while time.time() < deadline and (seen_gone is None or "due" in logged(db) or logged(db).get("face-due")):
            if seen_gone is None and "soon" not in logged(db):
                seen_gone = time.time()
            time.sleep(1)
    finally:
        stop_service(process)
    assert seen_gone is not None, logged(db)
    assert due_at - 1 <= seen_gone <= due_at + 70  # not before its time, and within a minute of it
    assert logged(db) == {"face-due": False, "new": True}


def test_watch_deletes_its_old_snapshots_as_it_runs(tmp_path):
    db, snapshots = tmp_path / "db", tmp_path / "snapshots"
    assert run_facegate("--db", db, "enroll", "lin", DATA / "video" / "lin-manuel-miranda.png").returncode == 0
    assert run_facegate("--db", db, "retention", "set", "--snapshots", "1d").returncode == 0
    snapshots.mkdir()
    old, fresh = snapshots / "door-old.jpg", snapshots / "door-fresh.jpg"
    for path in (old, fresh):
        Image.open(IMAGES / "andrew.jpg").save(path)
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    watched = run_facegate("--db", db, "watch", CLIP, "--snapshots", snapshots, "--json")
    assert watched.returncode == 0, watched.stderr
    left = sorted(p.name for p in snapshots.glob("*.jpg"))
    assert "door-old.jpg" not in left and "door-fresh.jpg" in left
    assert len(left) > 1  # and the watch's own snapshots
