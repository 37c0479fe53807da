"""One decide-and-log path (facegate.decisions): the command line, the service and the door camera give the same
access-log record for the same picture."""
import cv2
from PIL import Image

from conftest import IMAGES, run_facegate
from facegate.accesslog import log_folder, read_log
from test_service import call, start_service, stop_service

SAME = ("claim", "identity", "distance", "threshold", "decision", "picture_sha256")
"""What a decision's record says of the picture, whoever decided it (time, door, caller and path aside)."""


def crop_size(db, record):
    with Image.open(log_folder(db) / record["face"]) as crop:
        return crop.size


def test_the_cli_and_the_service_log_the_same_record_for_the_same_picture(tmp_path):
    db = tmp_path / "db"
    for name in ("younes", "kian"):
        assert run_facegate("--db", db, "enroll", name, IMAGES / f"{name}.jpg").returncode == 0
    picture = IMAGES / "camera_0.jpg"
    assert run_facegate("--db", db, "--log-faces", "verify", picture, "younes").returncode == 0
    assert run_facegate("--db", db, "--log-faces", "verify", picture, "kian").returncode == 1
    assert run_facegate("--db", db, "--log-faces", "identify", picture).returncode == 0
    from_cli = list(read_log(db))
    base, process = start_service(db, global_options=("--log-faces",))
    try:
        assert call(f"{base}/verify?name=younes", picture.read_bytes())[1]["match"] is True
        assert call(f"{base}/verify?name=kian", picture.read_bytes())[1]["match"] is False
        assert call(f"{base}/identify", picture.read_bytes())[1]["faces"][0]["identity"] == "younes"
    finally:
        stop_service(process)
    from_service = list(read_log(db))[len(from_cli):]
    assert [r["command"] for r in from_cli] == [r["command"] for r in from_service] == ["verify", "verify", "identify"]
    assert [r["decision"] for r in from_cli] == ["match", "no-match", "match"]
    for cli_record, service_record in zip(from_cli, from_service):
        assert {k: cli_record[k] for k in SAME} == {k: service_record[k] for k in SAME}
        assert crop_size(db, cli_record) == crop_size(db, service_record)
        assert "caller" in service_record and "caller" not in cli_record
    assert from_cli[2]["path"] == str(picture)


def test_the_door_camera_logs_its_decision_through_the_same_path(tmp_path):
    db = tmp_path / "db"
    assert run_facegate("--db", db, "enroll", "younes", IMAGES / "younes.jpg").returncode == 0
    clip = tmp_path / "camera_0.avi"
    frame = cv2.imread(str(IMAGES / "camera_0.jpg"))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (frame.shape[1], frame.shape[0]))
    for _ in range(20):
        writer.write(frame)
    writer.release()
    # one still repeated is what a photo held up looks like: identity alone here, this is about the log's path
    watched = run_facegate("--db", db, "--log-faces", "watch", clip, "--json", "--liveness", "off")
    assert watched.returncode == 0, watched.stderr
    assert run_facegate("--db", db, "--log-faces", "verify", IMAGES / "camera_0.jpg", "younes").returncode == 0
    from_watch, from_verify = list(read_log(db))
    assert (from_watch["command"], from_watch["decision"], from_watch["identity"]) == ("watch", "match", "younes")
    assert from_watch["source"] == str(clip) and from_watch["track"] == 1
    assert abs(from_watch["distance"] - from_verify["distance"]) < 0.05  # the same face, through a video codec
    watch_crop, verify_crop = crop_size(db, from_watch), crop_size(db, from_verify)
    assert all(abs(a - b) <= 0.1 * b for a, b in zip(watch_crop, verify_crop))
