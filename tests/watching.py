"""What the watch tests share: the dev clip, the event contract, a door command that records what it was given,
and ways to run, feed and read a watch (a network camera's frames, events read as they come, a counted detector)."""
import json
import os
import signal
import subprocess
import sys
import time

from conftest import DATA, run_facegate

VIDEO = DATA / "video"

CLIP = VIDEO / "short_hamilton_clip.mp4"

CONTRACT = {"event", "track", "identity", "distance", "threshold", "frames", "time", "wall_time", "box", "source",
            "camera", "opens", "live", "cues"}

HOOK = """
import json, os, sys
event = json.load(sys.stdin)
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"event": event, "identity": os.environ["FACEGATE_IDENTITY"],
                          "distance": os.environ["FACEGATE_DISTANCE"]}) + "\\n")
"""


def facegate_command(*args):
    environment = {k: v for k, v in os.environ.items() if k not in ("FACEGATE_DB", "FACEGATE_DEBUG")}
    return [sys.executable, "-m", "facegate", *map(str, args)], environment


def events_of(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def clip_jpegs(first, last):
    import cv2

    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    for index in range(last):
        ok, pixels = capture.read()
        assert ok
        if index >= first:
            frames.append(cv2.imencode(".jpg", pixels)[1].tobytes())
    capture.release()
    return frames


def read_events_until(process, wanted, seconds):
    """Events from the watch's stdout until `wanted(events)` holds (or the time is up)."""
    import selectors

    events, deadline = [], time.monotonic() + seconds
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    while not wanted(events) and time.monotonic() < deadline and process.poll() is None:
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            if line:
                events.append(json.loads(line))
    return events


def watching(db, source):
    """`facegate watch SOURCE --json` running, its stdout and stderr in pipes."""
    command, environment = facegate_command("--db", db, "watch", source, "--json")
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def unknown_until_enrolled_while_watching(process, db):
    """Miranda's visits are unknown until he is enrolled from video into `db` while `process` watches him; then his
    next visit matches. Ctrl-C ends the watch, exit 0; its stderr."""
    try:
        first = read_events_until(process, lambda e: any(x["event"] == "unknown" for x in e), 120)
        assert any(e["event"] == "unknown" for e in first), process.stderr.read() if process.poll() else first
        assert not any(e["event"] == "match" for e in first)
        enrolled = run_facegate("--db", db, "enroll", "lin", "--video", CLIP, "--seconds", "5")
        assert enrolled.returncode == 0, enrolled.stderr
        later = read_events_until(process, lambda e: any(x["event"] == "match" for x in e), 120)
        assert [e["identity"] for e in later if e["event"] == "match"][:1] == ["lin"]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    return stderr


class CountingModel:
    """The real model, counting its detector calls (the test hook for the motion gate)."""

    def __init__(self, model):
        self.model, self.detections = model, 0

    def detect(self, image, **options):
        self.detections += 1
        return self.model.detect(image, **options)

    def __getattr__(self, name):
        return getattr(self.model, name)


def still_scene(picture, target, seconds, fps=30, noise=3.0):
    """A camera looking at `picture` for `seconds`: the same frame with fresh sensor noise each time (MJPEG)."""
    import cv2
    import numpy as np

    frame = cv2.imread(str(picture))
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), fps, (frame.shape[1], frame.shape[0]))
    for _ in range(int(seconds * fps)):
        writer.write(np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8))
    writer.release()
    return target
