"""The audit trail (facegate.audit, `facegate audit`): every change to a database, from the command line, the API
and the console, is recorded with who made it and from where; console logins and failed logins too; the trail is
chained by hashes, so an altered, removed or forged record is found; a trail that cannot be appended to stops the
change (no change without its record); a PostgreSQL database keeps its trail in a table, committed with the change."""
import json
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request

from conftest import IMAGES, one_error_line, run_facegate, snapshot
from test_postgres import pg, server, sql  # noqa: F401 - fixtures
from test_service import ADMIN_TOKEN, VERIFY_TOKEN, call, start_guarded, start_service, stop_service


def trail(db):
    result = run_facegate("--db", db, "audit", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def verified(db):
    result = run_facegate("--db", db, "audit", "--verify", "--json")
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_every_change_from_the_command_line_is_in_the_trail(tmp_path):
    db, export = tmp_path / "db", tmp_path / "backup.facegate"
    steps = [("enroll", "andrew", IMAGES / "andrew.jpg"), ("enroll", "kian", IMAGES / "kian.jpg"),
             ("rename", "andrew", "andy"), ("threshold", "set", "0.65"), ("export", export),
             ("remove", "kian", "--purge-log"), ("import", export, "--replace"), ("log", "prune", "--older-than", "30d")]
    for step in steps:
        result = run_facegate("--db", db, *step)
        assert result.returncode == 0, (step, result.stderr)
    records = trail(db)
    assert [(r["action"], r["target"]) for r in records] == [
        ("enroll", "andrew"), ("enroll", "kian"), ("rename", "andrew"), ("threshold", None), ("remove", "kian"),
        ("log purge", "kian"), ("import", None), ("log prune", None)]
    assert [r["seq"] for r in records] == list(range(1, 9))
    assert records[2]["details"] == {"to": "andy"} and records[3]["details"] == {"before": None, "after": 0.65}
    assert records[0]["details"]["sources"] == ["andrew.jpg"]
    assert all(r["who"].startswith("command line (") and r["client"].startswith("local (") for r in records)
    code, check = verified(db)
    assert code == 0 and check["intact"] and check["records"] == 8 and check["head"] == records[-1]["hash"]
    only = run_facegate("--db", db, "audit", "--target", "kian")
    assert only.returncode == 0 and len(only.stdout.splitlines()) == 3 and "log purge kian" in only.stdout
    assert len(trail(tmp_path / "elsewhere")) == 0 and not (tmp_path / "elsewhere").exists()


def test_an_altered_a_removed_and_a_forged_record_are_found(tmp_path):
    db = tmp_path / "db"
    for name in ("andrew", "kian", "younes"):
        assert run_facegate("--db", db, "enroll", name, IMAGES / f"{name}.jpg").returncode == 0
    path = db / "audit.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 3

    def broken(text):
        path.write_text(text)
        result = run_facegate("--db", db, "audit", "--verify")
        assert result.returncode == 1, result.stdout
        return result.stdout

    altered = json.loads(lines[1])
    altered["target"] = "mallory"
    assert "record 2 was altered" in broken("\n".join([lines[0], json.dumps(altered), lines[2]]) + "\n")
    assert "number 3, where 2 was due" in broken("\n".join([lines[0], lines[2]]) + "\n")
    rehashed = dict(altered)  # recomputing its hash does not help: the next record names the old one
    from facegate.audit.chain import digest

    rehashed["hash"] = digest(rehashed)
    assert "record 3 does not follow" in broken("\n".join([lines[0], json.dumps(rehashed), lines[2]]) + "\n")
    forged = {**json.loads(lines[2]), "seq": 4, "action": "remove", "target": "andrew"}
    assert "record 4 does not follow" in broken("\n".join(lines + [json.dumps(forged)]) + "\n")
    page = _console_page(db, "/console/audit")
    assert "id=\"audit-broken\"" in page and "record 4 does not follow" in page
    # a trail whose last line is damaged takes no more records, and so the database takes no more changes
    path.write_text("\n".join(lines) + "\n{not json\n")
    before = snapshot(db)
    one_error_line(run_facegate("--db", db, "remove", "kian"), "audit trail", "damaged")
    assert snapshot(db) == before


def _console_page(db, path):
    base, process = start_service(db)
    try:
        with urllib.request.urlopen(base + path, timeout=60) as answer:
            return answer.read().decode()
    finally:
        stop_service(process)


def _post(url, fields, cookie=None, token=None):
    """(status, headers) of a form POST."""
    headers = {"Cookie": cookie} if cookie else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), headers=headers)
    try:
        with urllib.request.build_opener(Keep).open(request, timeout=60) as answer:
            return answer.status, answer.headers
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers


def test_the_api_and_the_console_record_who_acted_and_from_where(tmp_path):
    base, process = start_guarded(tmp_path)
    db = tmp_path / "db"
    try:
        assert call(f"{base}/people/kian", (IMAGES / "kian.jpg").read_bytes(), token=ADMIN_TOKEN)[0] == 200
        assert call(f"{base}/people/kian", token=ADMIN_TOKEN, method="DELETE")[0] == 200
        assert _post(base + "/login", {"token": VERIFY_TOKEN})[0] == 403
        assert _post(base + "/login", {"token": "guess"})[0] == 401
        status, headers = _post(base + "/login", {"token": ADMIN_TOKEN})
        assert status == 302
        cookie = headers["Set-Cookie"].split(";")[0]
        request = urllib.request.Request(base + "/console/people", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=60) as answer:
            csrf = re.search(r'name="csrf" value="([^"]+)"', answer.read().decode()).group(1)
        assert _post(base + "/console/people/rename", {"name": "younes", "new": "yves", "csrf": csrf},
                     cookie=cookie)[0] == 200
        assert _post(base + "/console/people/remove", {"name": "yves"}, token=ADMIN_TOKEN)[0] == 200
        request = urllib.request.Request(base + "/console/audit", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            page = answer.read().decode()
    finally:
        stop_service(process, VERIFY_TOKEN, ADMIN_TOKEN)
    records = trail(db)
    assert [(r["action"], r["target"], r["who"]) for r in records[1:]] == [
        ("enroll", "kian", "admin token"), ("remove", "kian", "admin token"),
        ("console login failed", None, "console (not logged in)"),
        ("console login failed", None, "console (not logged in)"),
        ("console login", None, "console (not logged in)"),
        ("rename", "younes", records[5]["details"]["session"]), ("remove", "yves", "console (admin token)")]
    assert records[0]["who"].startswith("command line")  # the fixture's own enrollment
    assert [r["details"].get("reason") for r in records[3:5]] == ["the verify token", "a wrong token"]
    assert records[5]["details"]["session"].startswith("console session ")
    assert all(r["client"] == "127.0.0.1" for r in records[1:])
    assert ADMIN_TOKEN not in (db / "audit.jsonl").read_text() and cookie.split("=")[1] not in page
    assert 'id="audit-intact"' in page and page.count('class="audit-record"') == 8


def test_through_the_trusted_proxy_the_trail_names_the_real_client(tmp_path):
    (tmp_path / "admin").write_text(ADMIN_TOKEN + "\n")
    (tmp_path / "token").write_text(VERIFY_TOKEN + "\n")
    base, process = start_service(tmp_path / "db", "--admin-token-file", tmp_path / "admin", "--token-file",
                                  tmp_path / "token", "--trusted-proxy", "127.0.0.1", token=VERIFY_TOKEN)
    try:
        request = urllib.request.Request(f"{base}/people/kian", data=(IMAGES / "kian.jpg").read_bytes(),
                                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                                  "Content-Type": "image/jpeg", "X-Forwarded-For": "203.0.113.7"})
        with urllib.request.urlopen(request, timeout=120) as answer:
            assert answer.status == 200
    finally:
        stop_service(process, VERIFY_TOKEN, ADMIN_TOKEN)
    assert [(r["action"], r["who"], r["client"]) for r in trail(tmp_path / "db")] == [
        ("enroll", "admin token", "203.0.113.7")]


def test_a_postgresql_databases_trail_is_committed_with_its_changes(pg, tmp_path):  # noqa: F811
    for step in (("enroll", "andrew", IMAGES / "andrew.jpg"), ("enroll", "kian", IMAGES / "kian.jpg"),
                 ("rename", "kian", "kim")):
        assert run_facegate("--db", pg, *step).returncode == 0
    assert [(r["action"], r["target"]) for r in trail(pg)] == [("enroll", "andrew"), ("enroll", "kian"),
                                                               ("rename", "kian")]
    assert verified(pg)[0] == 0
    one_error_line(run_facegate("--db", pg, "rename", "kim", "andrew"), "already enrolled")
    assert len(trail(pg)) == 3  # a refused change leaves no record
    sql(pg, "UPDATE facegate_audit SET record = jsonb_set(record, '{target}', '\"mallory\"') WHERE seq = 2")
    code, check = verified(pg)
    assert code == 1 and check["problem"] == "record 2 was altered (it no longer matches its hash)"
    sql(pg, "DELETE FROM facegate_audit WHERE seq = 2")
    assert "where 2 was due" in verified(pg)[1]["problem"]


def test_no_command_edits_the_trail_and_prune_keeps_it(tmp_path):
    db = tmp_path / "db"
    assert run_facegate("--db", db, "enroll", "andrew", IMAGES / "andrew.jpg").returncode == 0
    before = (db / "audit.jsonl").read_text()
    assert run_facegate("--db", db, "log", "prune", "--older-than", "0d").returncode == 0
    after = (db / "audit.jsonl").read_text()
    assert after.startswith(before) and len(after.splitlines()) == 2
    shutil.copytree(db, tmp_path / "copy")  # a backup of the folder keeps a trail that still checks
    assert run_facegate("--db", tmp_path / "copy", "audit", "--verify").returncode == 0
