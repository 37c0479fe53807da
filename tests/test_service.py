"""`facegate serve`, started for real on a free loopback port and called over HTTP with real images."""
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import DATA, IMAGES, run_facegate


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(url, data=None, content_type="image/jpeg"):
    """(status, JSON answer) of a GET, or of a POST of `data`."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    db = tmp_path_factory.mktemp("service") / "db"
    for name in ("younes", "kian", "bertrand"):
        assert run_facegate("--db", db, "enroll", name, IMAGES / f"{name}.jpg").returncode == 0
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "facegate", "--db", str(db), "serve", "--port", str(port),
                                "--max-bytes", "2000000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if call(base + "/health")[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError):
            pass
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.5)
    yield base, db
    process.terminate()
    _, stderr = process.communicate(timeout=60)
    for noise in ("Traceback", "1/1", "━", "oneDNN"):
        assert noise not in stderr, stderr


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
