"""`facegate serve`, started for real on a free loopback port and called over HTTP with real images."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import DATA, IMAGES, run_facegate
from servers import free_port


def call(url, data=None, content_type="image/jpeg", token=None, method=None):
    """(status, JSON answer) of a GET, or of a POST of `data`, with a bearer token if given."""
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def start_service(db, *options, token=None, global_options=(), environment=None):
    """`facegate serve` on a free loopback port, once its /health answers: (base URL, process). `global_options`
    go before the command (e.g. --log-faces); `environment`'s variables are added to the service's."""
    port = free_port()
    unset = ("FACEGATE_DB", "FACEGATE_DEBUG", "FACEGATE_DOOR", "FACEGATE_TOKEN", "FACEGATE_ADMIN_TOKEN")
    env = {k: v for k, v in os.environ.items() if k not in unset} | (environment or {})
    process = subprocess.Popen([sys.executable, "-m", "facegate", "--db", str(db), *global_options, "serve",
                                "--port", str(port),
                                *map(str, options)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if call(base + "/health", token=token)[0] == 200:
                return base, process
        except (urllib.error.URLError, ConnectionError):
            pass
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.5)


def stop_service(process, *secrets):
    process.terminate()
    _, stderr = process.communicate(timeout=60)
    for noise in ("Traceback", "1/1", "━", "oneDNN", *secrets):
        assert noise not in stderr, stderr


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    db = tmp_path_factory.mktemp("service") / "db"
    for name in ("younes", "kian", "bertrand"):
        assert run_facegate("--db", db, "enroll", name, IMAGES / f"{name}.jpg").returncode == 0
    base, process = start_service(db, "--max-bytes", "2000000")
    yield base, db
    stop_service(process)


def test_health_names_the_model_and_the_people(service):
    base, _ = service
    assert call(base + "/health") == (200, {"status": "ok", "model": "facenet128", "people": 3, "threshold": 0.7})


def test_verify_over_http_answers_like_the_command_line(service):
    base, db = service
    status, answer = call(base + "/verify?name=younes", (IMAGES / "camera_0.jpg").read_bytes())
    assert status == 200 and answer["match"] is True and answer["faces"] == 1
    cli = json.loads(run_facegate("--db", db, "verify", IMAGES / "camera_0.jpg", "younes", "--json").stdout)
    assert set(answer) == set(cli) and answer["distance"] == pytest.approx(cli["distance"], abs=1e-5)
    status, answer = call(base + "/verify?name=kian", (IMAGES / "camera_2.jpg").read_bytes())
    assert status == 200 and answer["match"] is False and answer["distance"] > 0.7


def test_identify_over_http(service):
    base, _ = service
    # As `curl --data-binary @file` sends it: labelled as a form, but the body is the image.
    status, answer = call(base + "/identify", (IMAGES / "camera_1.jpg").read_bytes(),
                          content_type="application/x-www-form-urlencoded")
    assert status == 200 and [f["identity"] for f in answer["faces"]] == ["bertrand"]
    status, answer = call(base + "/identify", (DATA / "bbt" / "bbt1.jpg").read_bytes())
    assert status == 200 and len(answer["faces"]) >= 3 and not any(f["identity"] for f in answer["faces"])


def test_a_multipart_form_upload_is_named_by_its_file_name(service):
    base, _ = service
    boundary = "facegate-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"door cam.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + (IMAGES / "camera_0.jpg").read_bytes() + \
        f"\r\n--{boundary}--\r\n".encode()
    status, answer = call(base + "/verify?name=younes", body, content_type=f"multipart/form-data; boundary={boundary}")
    assert status == 200 and answer["match"] is True and answer["path"] == "door cam.jpg"


def test_bad_requests_get_one_line_json_errors(service):
    base, _ = service
    jpeg = (IMAGES / "camera_0.jpg").read_bytes()
    cases = [
        (call(base + "/verify?name=Younes", jpeg), 404, "not enrolled"),
        (call(base + "/verify", jpeg), 400, "name"),
        (call(base + "/verify?name=younes", b"not an image"), 400, "not an image"),
        (call(base + "/verify?name=younes", b""), 400, "empty"),
        (call(base + "/identify", (DATA / "negatives" / "rocket.jpg").read_bytes()), 422, "no face"),
        (call(base + "/verify?name=younes&require_single_face=1", (DATA / "bbt" / "bbt1.jpg").read_bytes()), 422,
         "faces found"),
        (call(base + "/identify", b"\xff" * 3_000_000), 413, "larger than"),
        (call(base + "/nowhere"), 404, "no such endpoint"),
    ]
    for (status, answer), expected_status, words in cases:
        assert status == expected_status and words in answer["error"], (status, answer)
        assert "\n" not in answer["error"] and "facegate-upload" not in answer["error"]


def test_enrolling_while_serving_takes_effect_at_the_next_request(service):
    base, db = service
    assert run_facegate("--db", db, "enroll", "dan", IMAGES / "dan.jpg").returncode == 0
    assert call(base + "/health")[1]["people"] == 4
    status, answer = call(base + "/verify?name=dan", (IMAGES / "dan.jpg").read_bytes())
    assert status == 200 and answer["match"] is True


def test_concurrent_verifies_while_the_command_line_enrolls_and_removes(service):
    """Four callers verify without pause while another process enrolls and removes people: every answer is a
    decision (200) or, for a person not enrolled at that moment, 404; never a 5xx. A removal holds from the
    next request on."""
    import threading

    base, db = service
    younes, felix = (IMAGES / "camera_0.jpg").read_bytes(), (IMAGES / "felix.jpg").read_bytes()
    answers, stop = [], threading.Event()
    people = call(base + "/health")[1]["people"]

    def caller(name, image):
        for _ in range(200):  # bounded, and stopped as soon as the command line is done
            if stop.is_set():
                return
            status, answer = call(f"{base}/verify?name={name}", image)
            answers.append((name, status, answer.get("match")))

    callers = [threading.Thread(target=caller, args=args) for args in
               [("younes", younes), ("younes", younes), ("felix", felix), ("felix", felix)]]
    for thread in callers:
        thread.start()
    try:
        for _ in range(3):
            assert run_facegate("--db", db, "enroll", "felix", IMAGES / "felix.jpg").returncode == 0
            assert call(f"{base}/verify?name=felix", felix)[1]["match"] is True
            assert run_facegate("--db", db, "remove", "felix").returncode == 0
            assert call(f"{base}/verify?name=felix", felix)[0] == 404  # the next request already knows
    finally:
        stop.set()
        for thread in callers:
            thread.join(timeout=300)
    assert len(answers) >= 12
    assert {status for _, status, _ in answers} <= {200, 404}
    assert all(match is True for name, status, match in answers if name == "younes")
    assert all(status == 200 for name, status, _ in answers if name == "younes")
    assert all(match is True for name, status, match in answers if name == "felix" and status == 200)
    assert call(base + "/health")[1]["people"] == people


VERIFY_TOKEN, ADMIN_TOKEN = "door-camera-7f3a9c1e5b", "enrollment-desk-41d8e2b7c9"


def start_guarded(folder, global_options=()):
    """A service on `folder`/db (younes enrolled) that asks who is calling: VERIFY_TOKEN, and ADMIN_TOKEN for the
    enrollment desk: (base URL, process)."""
    (folder / "token").write_text(VERIFY_TOKEN + "\n")
    (folder / "admin").write_text(ADMIN_TOKEN + "\n")
    assert run_facegate("--db", folder / "db", "enroll", "younes", IMAGES / "younes.jpg").returncode == 0
    return start_service(folder / "db", "--token-file", folder / "token", "--admin-token-file", folder / "admin",
                         token=VERIFY_TOKEN, global_options=global_options)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guarded")
    base, process = start_guarded(folder)
    yield base, folder / "db"
    stop_service(process, VERIFY_TOKEN, ADMIN_TOKEN)


def test_without_the_token_every_endpoint_answers_401(guarded):
    base, _ = guarded
    jpeg = (IMAGES / "camera_0.jpg").read_bytes()
    for token in (None, "", "door-camera-7f3a9c1e5c", VERIFY_TOKEN + "x"):
        for status, answer in (call(base + "/health", token=token), call(base + "/verify?name=younes", jpeg, token=token),
                               call(base + "/identify", jpeg, token=token)):
            assert status == 401 and "token" in answer["error"], (token, status, answer)
    request = urllib.request.Request(base + "/health")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.headers["WWW-Authenticate"] == 'Bearer realm="facegate"'
    status, answer = call(base + "/verify?name=younes", jpeg, token=VERIFY_TOKEN)
    assert status == 200 and answer["match"] is True
    assert call(base + "/verify?name=younes", jpeg, token=ADMIN_TOKEN)[0] == 200  # the desk may verify too


def test_the_enrollment_desk_needs_the_admin_token(guarded):
    base, db = guarded
    dan = (IMAGES / "dan.jpg").read_bytes()
    assert call(base + "/people", token=VERIFY_TOKEN) == (403, {"error": "this token cannot administer people"})
    assert call(base + "/people/dan", dan, token=VERIFY_TOKEN)[0] == 403
    assert call(base + "/people/dan", token=VERIFY_TOKEN, method="DELETE")[0] == 403
    assert call(base + "/people")[0] == 401
    assert call(base + "/people", token=ADMIN_TOKEN) == (200, {"people": [{"name": "younes", "photos": 1}]})

    status, answer = call(base + "/people/dan", dan, token=ADMIN_TOKEN)
    assert status == 200 and answer["added"] == 1 and answer["total"] == 1 and answer["refused"] == []
    assert call(base + "/verify?name=dan", (IMAGES / "camera_4.jpg").read_bytes(), token=VERIFY_TOKEN)[0] == 200
    boundary = "facegate-desk"
    form = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo{i}\"; filename=\"{name}\"\r\n"
                    f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n"
                    for i, (name, data) in enumerate([("dan at the desk.jpg", (IMAGES / "camera_4.jpg").read_bytes()),
                                                      ("rocket.jpg", (DATA / "negatives" / "rocket.jpg").read_bytes())]))
    status, answer = call(base + "/people/dan", form + f"--{boundary}--\r\n".encode(),
                          content_type=f"multipart/form-data; boundary={boundary}", token=ADMIN_TOKEN)
    assert status == 200 and answer["added"] == 1 and answer["total"] == 2
    assert answer["refused"] == [{"file": "rocket.jpg", "reason": "no face found"}]
    listed = json.loads(run_facegate("--db", db, "list", "--json").stdout)
    dan_photos = next(p["photos"] for p in listed["people"] if p["name"] == "dan")
    assert [photo["source"] for photo in dan_photos] == ["upload", "dan at the desk.jpg"]

    assert call(base + "/people/%20dan", dan, token=ADMIN_TOKEN)[0] == 400
    assert call(base + "/people/carl", b"not a picture", token=ADMIN_TOKEN)[0] == 422
    assert call(base + "/people/dan", token=ADMIN_TOKEN, method="DELETE") == (200, {"name": "dan", "removed": 2})
    assert call(base + "/people/dan", token=ADMIN_TOKEN, method="DELETE")[0] == 404
    assert call(base + "/verify?name=dan", dan, token=VERIFY_TOKEN)[0] == 404


def test_decisions_are_logged_with_the_caller_and_read_back_by_the_desk(guarded):
    base, _ = guarded
    assert call(base + "/verify?name=younes", (IMAGES / "camera_0.jpg").read_bytes(), token=VERIFY_TOKEN)[0] == 200
    assert call(base + "/log", token=VERIFY_TOKEN)[0] == 403
    status, answer = call(base + "/log?name=younes&decision=match&limit=1", token=ADMIN_TOKEN)
    assert status == 200 and answer["total"] >= 1 and len(answer["records"]) == 1
    (record,) = answer["records"]
    assert record["command"] == "verify" and record["caller"] == "127.0.0.1" and record["claim"] == "younes"
    assert record["distance"] == pytest.approx(0.4383, abs=1e-3)
    assert call(base + "/log?since=yesterday", token=ADMIN_TOKEN)[0] == 400


def test_tokens_from_the_environment_guard_the_service_and_never_reach_the_log(tmp_path):
    db = tmp_path / "db"
    assert run_facegate("--db", db, "enroll", "younes", IMAGES / "younes.jpg").returncode == 0
    secrets = {"FACEGATE_TOKEN": VERIFY_TOKEN, "FACEGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    base, process = start_service(db, token=VERIFY_TOKEN, environment=secrets)
    jpeg = (IMAGES / "camera_0.jpg").read_bytes()
    try:
        assert call(base + "/verify?name=younes", jpeg)[0] == 401
        assert call(base + "/verify?name=younes", jpeg, token=VERIFY_TOKEN)[1]["match"] is True
        assert call(base + "/people", token=VERIFY_TOKEN)[0] == 403
        assert call(base + "/log", token=ADMIN_TOKEN)[0] == 200
    finally:
        stop_service(process, VERIFY_TOKEN, ADMIN_TOKEN)  # nor in the service's output
    logged = b"".join(path.read_bytes() for path in (tmp_path / "db.log").rglob("*") if path.is_file())
    assert b"younes" in logged and VERIFY_TOKEN.encode() not in logged and ADMIN_TOKEN.encode() not in logged


def test_a_decision_that_cannot_be_logged_under_require_log_is_refused_with_503(tmp_path):
    db = tmp_path / "db"
    assert run_facegate("--db", db, "enroll", "younes", IMAGES / "younes.jpg").returncode == 0
    (tmp_path / "db.log").write_text("a file where the log folder would go")
    base, process = start_service(db, global_options=("--require-log",))
    try:
        status, answer = call(base + "/verify?name=younes", (IMAGES / "camera_0.jpg").read_bytes())
        assert status == 503 and "--require-log: the decision is refused" in answer["error"]
        assert "match" not in answer
        assert call(base + "/identify", (IMAGES / "camera_0.jpg").read_bytes())[0] == 503
    finally:
        stop_service(process)


def test_administration_is_off_without_an_admin_token(service):
    base, _ = service
    status, answer = call(base + "/people")
    assert status == 404 and "--admin-token-file" in answer["error"]


def test_serving_beyond_loopback_needs_a_token(tmp_path):
    for host in ("0.0.0.0", "::", "192.0.2.7"):  # refused before anything binds or the model loads
        result = run_facegate("--db", tmp_path / "db", "serve", "--host", host)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert f"--host {host} is reachable from the network: give a token" in result.stderr
    (tmp_path / "short").write_text("abc\n")
    short = run_facegate("--db", tmp_path / "db", "serve", "--token-file", tmp_path / "short")
    assert short.returncode == 2 and "16 characters" in short.stderr
    assert not (tmp_path / "db").exists()


def test_guessing_a_name_or_from_one_client_is_refused_and_logged(tmp_path):
    """--max-failures 2: two failed verifies of one name lock that name (429, Retry-After) for --lockout seconds; a
    match clears the count; eight failures from one client (four times the name's limit) lock the client for
    every name; refusals go to the access log. (The lockout's end: the next test, on the service's Throttle.)"""
    db = tmp_path / "db"
    for name, photo in (("kian", "kian.jpg"), ("k2", "kian.jpg"), ("k3", "kian.jpg"), ("k4", "kian.jpg"),
                        ("younes", "younes.jpg")):
        assert run_facegate("--db", db, "enroll", name, IMAGES / photo).returncode == 0
    base, process = start_service(db, "--max-failures", "2", "--lockout", "30")
    wrong, right = (IMAGES / "camera_2.jpg").read_bytes(), (IMAGES / "kian.jpg").read_bytes()
    younes = (IMAGES / "camera_0.jpg").read_bytes()
    try:
        assert call(base + "/verify?name=kian", wrong)[1]["match"] is False
        assert call(base + "/verify?name=kian", right)[1]["match"] is True  # a match clears kian's count
        assert call(base + "/verify?name=kian", wrong)[1]["match"] is False
        assert call(base + "/verify?name=kian", wrong)[1]["match"] is False  # second failure in a row: locked
        status, answer, retry_after = call_with_retry_after(base + "/verify?name=kian", right)
        assert status == 429 and "too many failed attempts for 'kian'" in answer["error"]
        assert 1 <= int(retry_after) <= 31
        assert call(base + "/verify?name=younes", younes)[0] == 200  # other names go on
        for name in ("k2", "k2", "k3", "k3", "k4"):  # failures 4 to 8 from this client, no name locked twice
            assert call(f"{base}/verify?name={name}", wrong)[1]["match"] is False
        status, answer, retry_after = call_with_retry_after(base + "/verify?name=younes", younes)
        assert status == 429 and "from this client" in answer["error"] and 1 <= int(retry_after) <= 31
    finally:
        stop_service(process)
    logged = [json.loads(line) for line in run_facegate("--db", db, "log", "--json").stdout.splitlines()]
    assert [r["decision"] for r in logged if r["claim"] == "kian"] == ["no-match", "match", "no-match", "no-match",
                                                                        "throttled"]
    assert [r["decision"] for r in logged if r["claim"] == "younes"] == ["match", "throttled"]


def call_with_retry_after(url, data):
    """(status, JSON answer, Retry-After header) of a POST."""
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read()), response.headers.get("Retry-After")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("Retry-After")


def test_a_lockout_ends_after_its_time_and_old_failures_are_forgotten():
    """The service's Throttle on a clock the test sets: locked for `lockout` seconds, then free; failures older
    than the window do not count; the client limit is four times the name's."""
    from facegate.service.auth import Throttle

    now = [1000.0]
    throttle = Throttle(failures=2, window=60, lockout=30, clock=lambda: now[0])
    name, client = ("name", "kian"), ("client", "10.0.0.1")
    throttle.failed(name, client)
    now[0] += 61  # outside the window: forgotten
    throttle.failed(name, client)
    assert throttle.refusal(name, client) == 0
    throttle.failed(name, client)
    assert throttle.refusal(name) == 30 and throttle.refusal(client) == 0
    now[0] += 29.5
    assert throttle.refusal(name, client) == 0.5
    now[0] += 0.5
    assert throttle.refusal(name, client) == 0
    for number in range(5):  # the client's failures within its window: 2 (at 1061) + 5 = 7, one below its limit
        throttle.failed(("name", f"n{number}"), client)
    assert throttle.refusal(client) == 0
    throttle.failed(("name", "n5"), client)  # the eighth
    assert throttle.refusal(client) == 30


def test_what_a_throttle_keeps_stays_bounded_by_the_last_window():
    """A flood of failures from ever new clients is forgotten once their window and lockouts are over: the maps
    were never emptied (every client ever seen stayed in memory)."""
    from facegate.service.auth import Throttle

    now = [0.0]
    throttle = Throttle(failures=2, window=60, lockout=30, clock=lambda: now[0])
    for number in range(10_000):
        throttle.failed(("client", f"10.0.{number // 256}.{number % 256}"))
        throttle.failed(("login", f"10.0.{number // 256}.{number % 256}"), ("login", "10.9.9.9"))
    assert throttle.kept() == 20_001
    now[0] += 61
    throttle.failed(("client", "10.1.0.1"))
    assert throttle.kept() == 1


def test_behind_a_proxy_serve_needs_a_token_and_never_opens_the_console_without_the_admin_token(tmp_path):
    """`serve --trusted-proxy` without a token started, and a request through the proxy from anywhere on the LAN
    got the console's people (200), could enroll and remove. Now it refuses to start, in one line, before the
    model loads; with only a verify token the console does not exist (404) through the proxy."""
    result = run_facegate("--db", tmp_path / "db", "serve", "--trusted-proxy", "127.0.0.1")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "--trusted-proxy 127.0.0.1: the network reaches serve through the proxy: give a token" in result.stderr
    assert not (tmp_path / "db").exists()
    (tmp_path / "token").write_text(VERIFY_TOKEN + "\n")
    assert run_facegate("--db", tmp_path / "db", "enroll", "younes", IMAGES / "younes.jpg").returncode == 0
    base, process = start_service(tmp_path / "db", "--token-file", tmp_path / "token", "--trusted-proxy",
                                  "127.0.0.1", token=VERIFY_TOKEN)
    try:
        for path in ("/console/people", "/"):
            request = urllib.request.Request(base + path, headers={"X-Forwarded-For": "10.0.0.66"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 404, path
    finally:
        stop_service(process, VERIFY_TOKEN)


def test_without_a_token_only_loopback_names_are_answered_and_no_proxy_is_believed(service):
    """A service open to the local user answered any Host: a DNS-rebinding page (its own name resolving to
    127.0.0.1) could read the console and enroll. Now another Host is refused (400) on every path; a request
    carrying X-Forwarded-For when no proxy is trusted is refused too (behind such a proxy every client is one
    client, and one of them could lock everyone out of the login)."""
    base, _ = service
    port = base.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "127.0.0.1"):
        request = urllib.request.Request(base + "/health", headers={"Host": host})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200, host
    for path, data in (("/console/people", None), ("/health", None), ("/console/people/remove", b"name=kian")):
        for headers in ({"Host": f"rebind.example:{port}"}, {"X-Forwarded-For": "10.0.0.66"}):
            request = urllib.request.Request(base + path, data=data, headers=headers)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 400, (path, headers)
            message = json.loads(refused.value.read())["error"]
            assert ("loopback names only" if "Host" in headers else "--trusted-proxy") in message
    assert call(base + "/health")[1]["people"] >= 1


def test_head_requests_never_take_a_live_views_place(service):
    """HEAD /console/events took one of the two live-view places and never gave it back (the place was given
    back by the body, which a HEAD never sends): two HEADs, and the live log was 503 until a restart."""
    base, _ = service
    for _ in range(4):
        request = urllib.request.Request(base + "/console/events", method="HEAD")
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
    views = []
    for _ in range(2):
        views.append(urllib.request.urlopen(base + "/console/events", timeout=30))
        assert views[-1].readline() == b"retry: 1000\n"
    for view in views:
        view.close()


def test_serve_require_liveness_refuses_a_verify_that_does_not_ask_for_it(tmp_path):
    """serve --require-liveness: a door script that forgets &liveness=1 gets 400 saying so, never an answer judged
    on identity alone; with it the picture is judged (`live` in the answer)."""
    db = tmp_path / "db"
    assert run_facegate("--db", db, "enroll", "kian", IMAGES / "kian.jpg").returncode == 0
    base, process = start_service(db, "--require-liveness")
    picture = (IMAGES / "kian.jpg").read_bytes()
    try:
        status, answer = call(base + "/verify?name=kian", picture)
        assert status == 400 and "--require-liveness" in answer["error"] and "&liveness=1" in answer["error"]
        status, answer = call(base + "/verify?name=kian&liveness=1", picture)
        assert status == 200 and "live" in answer
    finally:
        stop_service(process)
