"""A person's data on request (facegate subject NAME, the console's People page): everything held about them,
exported with an index, then erased, snapshots included, from a folder database and from PostgreSQL, and said in
the audit trail; nobody else's data is touched."""
import io
import json
import shutil
import urllib.parse
import urllib.request
import zipfile

from conftest import IMAGES, one_error_line, run_facegate
from test_postgres import pg, server  # noqa: F401 - fixtures
from test_service import ADMIN_TOKEN, start_service, stop_service
from watching import CLIP


def test_export_then_erase_everything_held_about_a_person(video_db, tmp_path):
    """Miranda enrolled from the dev clip, then seen by a door camera keeping face crops and snapshots."""
    db, snapshots, out = tmp_path / "db", tmp_path / "snapshots", tmp_path / "lin-export"
    shutil.copytree(video_db, db)
    watched = run_facegate("--db", db, "--log-faces", "watch", CLIP, "--snapshots", snapshots, "--json")
    assert watched.returncode == 0, watched.stderr
    his = [json.loads(line)["snapshot"] for line in watched.stdout.splitlines()
           if json.loads(line).get("identity") == "lin" and json.loads(line).get("snapshot")]
    others = sorted(set(p.name for p in snapshots.glob("*.jpg")) - {p.split("/")[-1] for p in his})
    assert his and others

    exported = run_facegate("--db", db, "subject", "lin", "--export", out, "--json")
    assert exported.returncode == 0, exported.stderr
    counts = json.loads(exported.stdout)
    assert counts["embeddings"] == counts["thumbnails"] == 5 and counts["snapshots"] == len(his)
    index = json.loads((out / "index.json").read_text())
    assert index["person"] == "lin" and len(index["enrolled"]) == 5
    assert all((out / item["file"]).is_file() for item in index["files"])
    assert len(list((out / "enrollment").glob("*.jpg"))) == 5
    records = [json.loads(line) for line in (out / "access-log.jsonl").read_text().splitlines()]
    assert records and all("lin" in (r["identity"], r["claim"]) for r in records)
    assert len(list((out / "snapshots").glob("*.jpg"))) == len(his)
    assert len(list((out / "faces").glob("*.jpg"))) == counts["face_crops"] >= 1
    assert "embedding" not in (out / "index.json").read_text().replace("embeddings", "")
    one_error_line(run_facegate("--db", db, "subject", "lin", "--export", out), "lin-export", "not an empty folder")

    erased = run_facegate("--db", db, "subject", "lin", "--erase")
    assert erased.returncode == 0 and erased.stdout.startswith("lin: erased: 5 embeddings, 5 thumbnails")
    assert "lin" not in run_facegate("--db", db, "list").stdout
    assert not [line for line in run_facegate("--db", db, "log", "--json").stdout.splitlines()
                if "lin" in (json.loads(line)["identity"], json.loads(line)["claim"])]
    assert sorted(p.name for p in snapshots.glob("*.jpg")) == others  # his gone, the others' kept
    assert len(list((db / "thumbnails").glob("*.jpg"))) == 1  # Lacamoire's
    one_error_line(run_facegate("--db", db, "subject", "lin"), "nothing is held about 'lin'")
    audited = [json.loads(line) for line in run_facegate("--db", db, "audit", "--json").stdout.splitlines()]
    assert [(r["action"], r["target"]) for r in audited][-3:] == [("subject export", "lin"), ("remove", "lin"),
                                                                  ("subject erase", "lin")]


def test_a_postgresql_databases_person_through_the_console(pg, tmp_path):  # noqa: F811
    """The console's People page: Export gives the zip, Erase removes their rows, records and crops."""
    for name in ("andrew", "kian"):
        assert run_facegate("--db", pg, "enroll", name, IMAGES / f"{name}.jpg").returncode == 0
        assert run_facegate("--db", pg, "--log-faces", "verify", IMAGES / f"{name}.jpg", name).returncode == 0
    (tmp_path / "token").write_text("door-camera-7f3a9c1e5b\n")
    (tmp_path / "admin").write_text(ADMIN_TOKEN + "\n")
    base, process = start_service(pg, "--token-file", tmp_path / "token", "--admin-token-file", tmp_path / "admin",
                                  token="door-camera-7f3a9c1e5b")
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(base + "/console/people/export?name=kian",
                                                           headers=bearer), timeout=60) as answer:
            archive = zipfile.ZipFile(io.BytesIO(answer.read()))
        with urllib.request.urlopen(urllib.request.Request(base + "/console/people", headers=bearer),
                                    timeout=60) as answer:
            assert "Erase all" in answer.read().decode()
        request = urllib.request.Request(base + "/console/people/erase", headers=bearer,
                                         data=urllib.parse.urlencode({"name": "kian"}).encode())
        with urllib.request.urlopen(request, timeout=60) as answer:
            page = answer.read().decode()
    finally:
        stop_service(process, ADMIN_TOKEN)
    names = archive.namelist()
    assert "index.json" in names and "access-log.jsonl" in names and "enrollment/001.jpg" in names
    assert json.loads(archive.read("index.json"))["counts"]["face_crops"] == 1
    assert "kian: erased: 1 embeddings, 1 thumbnails, 1 access log records, 1 face crops, 0 snapshots" in page
    listed = run_facegate("--db", pg, "list").stdout
    assert "andrew" in listed and "kian" not in listed
    logged = [json.loads(line) for line in run_facegate("--db", pg, "log", "--json").stdout.splitlines()]
    assert [r["claim"] for r in logged] == ["andrew"]
    audited = [json.loads(line) for line in run_facegate("--db", pg, "audit", "--json").stdout.splitlines()]
    assert [(r["action"], r["who"]) for r in audited][-3:] == [
        ("subject export", "console (admin token)"), ("remove", "console (admin token)"),
        ("subject erase", "console (admin token)")]
