"""Faults around the door camera's decisions: a database that stalls under the heartbeat, a face whose landmarks
cannot be aligned, one camera whose frames fail among others, and a camera's password, which must appear nowhere
a source is shown or stored."""
import json
import signal
import socket
import sys
import threading

import numpy as np

from servers import MjpegCamera, MqttBroker, WebhookReceiver
from watching import CLIP, HOOK, clip_jpegs, facegate_command, read_events_until


class StallingServer:
    """A 'database server' on loopback that accepts connections and never answers (a stalled PostgreSQL)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connected, self.held = threading.Event(), []

    def __enter__(self):
        def accept():
            while True:
                try:
                    connection, _ = self.listener.accept()
                except OSError:
                    return
                self.held.append(connection)
                self.connected.set()

        threading.Thread(target=accept, daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        self.release()

    def release(self):
        """Close everything: from now on a connection is refused at once."""
        self.listener.close()
        for connection in self.held:
            connection.close()


def test_a_stalled_database_delays_no_door_and_its_lost_beats_are_said_once():
    """The heartbeat of a PostgreSQL database whose server stalls: each beat would wait for the connect timeout
    (10 s) on the decision path, for every camera. Now frame() and event() return while the server still holds
    the beat's connection, nothing is said yet; once the server is gone the lost beats are said in one line."""
    from facegate.accesslog import log_of
    from facegate.watch.heartbeat import Heartbeat

    said = []
    with StallingServer() as server:
        store = log_of(f"postgresql://door@127.0.0.1:{server.port}/facegate")
        beat = Heartbeat(store, "front", "front", "http://door:s3cr3t@cam/stream", said.append, every=0)
        for _ in range(5):
            beat.frame()
        beat.event({"event": "match", "identity": "lin", "wall_time": "2026-12-07T09:00:00+00:00"})
        assert said == []  # every call returned before the beat's connection was answered or given up
        assert server.connected.wait(30)  # the beat is being written, by its own thread
        server.release()
        beat.stop()
    assert len(said) == 1 and "cannot write the door's heartbeat" in said[0] and "s3cr3t" not in said[0], said


def degenerate(face):
    """The face with all five landmarks on one point (what an alignment cannot work with)."""
    from dataclasses import replace

    point = face.keypoints["nose"]
    return replace(face, keypoints={name: point for name in face.keypoints})


def test_a_face_whose_landmarks_cannot_be_aligned_is_not_judged_and_stops_nothing(model):
    """The liveness crop raised on degenerate landmarks (the embedding's crop falls back to the box): now such
    a frame is no liveness evidence either way, and a still with such a face is not judged live."""
    from facegate.faces.imaging import load_image
    from facegate.liveness import Evidence, judge_still
    from facegate.liveness.motion import grey_of

    from conftest import IMAGES

    image = load_image(IMAGES / "camera_0.jpg")
    image = np.asarray(__import__("PIL.Image", fromlist=["Image"]).fromarray(image).resize((384, 384)))
    face = degenerate(model.detect(image)[0])
    evidence = Evidence()
    evidence.add(image, face, 0.0, grey_of(image))
    assert evidence.live_frames == 0 and evidence.attack_run == 0 and evidence.verdict().live is None
    verdict, probability = judge_still(image, face)
    assert verdict.live is None and probability is None and verdict.cues == ("unjudgeable",)


def test_one_cameras_failing_frames_are_its_own_and_the_other_camera_decides(model, video_db, tmp_path):
    """Two cameras on one model; every frame of one fails (a fault injected into its detector): said once, in
    its heartbeat and its summary, and the other camera's visit still matches (a failure ended every camera)."""
    from facegate.accesslog import log_of
    from facegate.matching import LiveGallery
    from facegate.watch.heartbeat import Heartbeat
    from facegate.watch.video import VideoSource
    from facegate.watch.watcher import Watcher, run_cameras

    class Failing:
        def __init__(self, model):
            self.model = model

        def detect(self, image, **options):
            raise RuntimeError("injected detector fault")

        def __getattr__(self, name):
            return getattr(self.model, name)

    said, events = [], []
    store = log_of(tmp_path / "db")
    live = LiveGallery(video_db, model.name)
    beats = {name: Heartbeat(store, name, name, str(CLIP), said.append) for name in ("broken", "door")}
    watchers = [Watcher(Failing(model), live, str(CLIP), lambda r, f: events.append(r), said.append,
                        camera="broken", heartbeat=beats["broken"]),
                Watcher(model, live, str(CLIP), lambda r, f: events.append(r), said.append, camera="door",
                        heartbeat=beats["door"])]
    broken, door = run_cameras([(VideoSource(str(CLIP), fps=5), watcher) for watcher in watchers])
    assert any(e["event"] == "match" and e["identity"] == "lin" and e["camera"] == "door" for e in events)
    assert not any(e["camera"] == "broken" for e in events)
    assert broken.failed == broken.frames - broken.undetected > 0 and door.failed == 0
    assert [m for m in said if "broken" in m] == [
        "broken: a frame could not be processed (RuntimeError: injected detector fault); the frame is skipped"]
    statuses = {status["camera"]: status for status in store.doors()}
    assert statuses["broken"]["error"] == "RuntimeError: injected detector fault"
    assert "error" not in statuses["door"] and statuses["door"]["state"] == "stopped"
    assert f"{broken.failed} failed" in broken.line("broken") and "failed" not in door.line("door")


def test_a_cameras_password_appears_in_no_event_log_output_or_warning(video_db, tmp_path):
    """A camera with its password in the URL's user part and its query (`?user=&pwd=`), which drops its viewer
    every 60 frames: the password is in no event (printed, webhook, MQTT, the door command's stdin), in neither
    the access log nor the heartbeat, nor in the summary or the reopen warnings. The source is shown as
    http://HOST:PORT/stream?user=***&pwd=***."""
    import subprocess

    secret = "pw-s3cr3t-4711"
    (tmp_path / "hook.py").write_text(HOOK)
    hooked = tmp_path / "hooked.jsonl"
    db = tmp_path / "db"
    subprocess.run(["cp", "-r", str(video_db), str(db)], check=True)
    with MjpegCamera(clip_jpegs(90, 200), fps=15, frames_per_connection=60, credentials=f"door:{secret}") as camera, \
            WebhookReceiver() as webhook, MqttBroker("door") as broker:
        url = camera.url.replace("http://", f"http://door:{secret}@") + f"?user=door&pwd={secret}"
        shown = camera.url + "?user=***&pwd=***"
        command, environment = facegate_command("--db", db, "watch", url, "--json", "--webhook", webhook.url,
                                                "--mqtt", f"mqtt://127.0.0.1:{broker.port}/door",
                                                "--on-match", f"{sys.executable} {tmp_path / 'hook.py'} {hooked}")
        process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        try:
            events = read_events_until(process, lambda e: any(x["event"] == "left" for x in e), 180)
            assert any(e["event"] == "match" for e in events), events
            broker.wait_for(len(events))
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 0 and "reopening" in stderr, stderr
    assert all(e["source"] == shown for e in events) and f"watched {shown}:" in stderr
    places = {"stdout": json.dumps(events) + stdout, "stderr": stderr, "webhook": json.dumps(webhook.bodies),
              "mqtt": json.dumps(broker.messages), "hook": hooked.read_text()}
    for path in (tmp_path / "db.log").rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes().decode("latin-1")
    assert any("doors" in place for place in places) and any("access" in place for place in places)
    assert webhook.bodies and broker.messages and places["hook"]
    assert [place for place, text in places.items() if secret in text] == []
