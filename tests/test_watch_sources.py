"""What `facegate watch` reads: files, files read as cameras, a network camera served by the test that drops and
returns, damaged sources, the fps limit, and the motion gate on still scenes."""
import signal
import time
from pathlib import Path

import pytest

from conftest import DATA, run_facegate, snapshot
from servers import MjpegCamera
from watching import (CLIP, VIDEO, CountingModel, clip_jpegs, events_of, read_events_until, still_scene,
                      unknown_until_enrolled_while_watching, watching)


@pytest.mark.parametrize("make_source, reason", [
    (lambda tmp: tmp / "missing.mp4", "no such file"),
    (lambda tmp: (tmp / "notes.mp4").write_text("not a video") and tmp / "notes.mp4", "not a video OpenCV can read"),
    (lambda tmp: "7", "cannot open the camera"),
    (lambda tmp: (tmp / "notes.jpg").write_text("hello") and tmp / "notes.jpg",
     "not a video OpenCV can read (no frame could be decoded)"),
])
def test_an_unusable_source_is_one_line_and_exit_2(photo_db, tmp_path, make_source, reason):
    source = make_source(tmp_path)
    result = run_facegate("--db", photo_db, "watch", source)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"facegate: error: {source}: {reason}\n"


def test_an_mjpeg_camera_is_read_without_ffmpeg_with_its_password_and_without_part_lengths():
    """An IP camera's MJPEG stream (parts without Content-Length, user and password in the URL) is read by
    facegate's own reader: the frames are the camera's JPEGs decoded; a wrong password cannot open it; an HTTP
    answer that is not a stream is left to FFmpeg (which cannot read a web page either)."""
    import cv2
    import numpy as np

    from facegate.watch.mjpeg import MjpegCapture
    from facegate.watch.video import SourceError, VideoSource

    jpegs = clip_jpegs(100, 104)
    with MjpegCamera(jpegs, fps=30, frames_per_connection=10 ** 6, credentials="door:s3cr3t", lengths=False) as cam:
        url = cam.url.replace("http://", "http://door:s3cr3t@")
        with VideoSource(url) as frames:
            assert isinstance(frames._capture, MjpegCapture)
            seen = [frame.image for _, frame in zip(range(8), frames)]
        decoded = [cv2.cvtColor(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                   for j in jpegs]
        assert len(seen) == 8 and all(any(np.array_equal(image, d) for d in decoded) for image in seen)
        with pytest.raises(SourceError, match="cannot open the camera"):
            VideoSource(cam.url.replace("http://", "http://door:wrong@"))
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class WebPage(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>the camera's settings page</html>")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), WebPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(SourceError, match="cannot open the camera"):  # not a stream: FFmpeg's, which refuses
            VideoSource(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()


def test_realtime_hands_a_slow_reader_the_newest_frame_and_drops_the_rest():
    """A reader taking 0.2 s a frame (slower than the clip's 30 frames/s, whatever the machine): each frame it gets
    is the newest, later than the last, and the frames it could not take are dropped, not queued."""
    from facegate.watch.video import VideoSource

    with VideoSource(str(CLIP), realtime=True) as frames:
        times, indices = [], []
        for frame in frames:
            times.append(frame.time)
            indices.append(frame.index)
            time.sleep(0.2)
    dropped = 275 - len(times)  # frames of the clip never handed out: replaced by a newer one
    assert dropped > 0 and indices == sorted(set(indices)) and max(b - a for a, b in zip(indices, indices[1:])) > 1
    assert times == sorted(set(times)) and times[-1] > 8.5


def test_realtime_watches_a_file_as_a_camera(video_db):
    result = run_facegate("--db", video_db, "watch", CLIP, "--json", "--realtime")
    assert result.returncode == 0, result.stderr
    frames = int(result.stderr.split("watched ")[1].split(": ")[1].split(" frame")[0])
    assert frames <= 275  # never a frame twice
    events = events_of(result.stdout)
    assert any(e["event"] == "match" and e["identity"] == "lin" for e in events)
    assert sum(e["event"] == "unknown" for e in events) >= 3


def test_a_network_camera_that_drops_is_reopened_and_enrolling_takes_effect_while_watching(photo_db, tmp_path):
    """The camera shows 3.3 s without a face, then Miranda close up for 8 s, over and over, and drops its viewer
    every 60 frames. Miranda is not enrolled at first (alex only): unknown; enrolled from video while the watch
    runs, his next visit is a match. Ctrl-C ends the watch with its summary and exit 0."""
    db = tmp_path / "db"
    assert run_facegate("--db", db, "enroll", "alex", VIDEO / "alex-lacamoire.png").returncode == 0
    with MjpegCamera(clip_jpegs(30, 210), fps=15, frames_per_connection=60) as camera:
        process = watching(db, camera.url)
        stderr = unknown_until_enrolled_while_watching(process, db)
    assert stderr.count("no frame from the source; reopening") >= 2 and stderr.count("source reopened") >= 2
    assert camera.connections >= 3
    assert stderr.splitlines()[-1].startswith(f"facegate: watched {camera.url}:")
    assert "Traceback" not in stderr


def test_sigterm_while_the_camera_is_lost_ends_the_watch_with_its_pending_decisions(video_db):
    """A service manager stops the watch while its camera has just gone silent: the visit in progress still gets
    its `left` event, the summary is written, exit 0 (the stop is taken at a frame boundary, not raised mid-frame)."""
    with MjpegCamera(clip_jpegs(90, 200), fps=15, frames_per_connection=10_000) as camera:
        process = watching(video_db, camera.url)
        try:
            first = read_events_until(process, lambda e: any(x["event"] == "match" for x in e), 120)
            assert [e["identity"] for e in first if e["event"] == "match"] == ["lin"], first
            camera.stop()
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 0, stderr
    assert [(e["event"], e["identity"]) for e in events_of(stdout)][-1:] == [("left", "lin")]
    assert stderr.splitlines()[-1].startswith(f"facegate: watched {camera.url}:")
    assert "Traceback" not in stderr and "interrupted" not in stderr


def test_enroll_from_video_refuses_a_video_without_one_clear_face(photo_db):
    before = snapshot(photo_db)
    result = run_facegate("--db", photo_db, "enroll", "duo", "--video", CLIP, "--seconds", "0.5")
    assert result.returncode == 2
    assert result.stderr == (f"facegate: error: {CLIP}: no frame in 0.5 s showed exactly one clear face; "
                             "nothing enrolled\n")
    assert snapshot(photo_db) == before
    assert Path(CLIP).exists()


def test_corrupt_frames_are_skipped_and_the_rest_is_watched(video_db, tmp_path):
    """The clip with 2 kB of noise every 50 kB through its middle third: undecodable frames are passed over,
    the video goes on (the strangers at the end are still seen)."""
    import random

    data, noise = bytearray(CLIP.read_bytes()), random.Random(1)
    for start in range(len(data) // 3, 2 * len(data) // 3, 50_000):
        data[start:start + 2000] = bytes(noise.randrange(256) for _ in range(2000))
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    result = run_facegate("--db", video_db, "watch", damaged, "--json", "--fps", "10")
    assert result.returncode == 0, result.stderr
    events = events_of(result.stdout)
    assert sum(e["event"] == "unknown" and e["time"] > 7.2 for e in events) >= 3
    assert not any(e["event"] == "match" and e["identity"] != "lin" for e in events)
    assert "Traceback" not in result.stderr
    from facegate.watch.video import VideoSource

    with VideoSource(str(CLIP)) as frames:
        whole = [frame.time for frame in frames]
    with VideoSource(str(damaged)) as frames:
        kept = [frame.time for frame in frames]
    assert len(whole) == 275 and 250 < len(kept) < 275  # frames OpenCV could not decode were passed over
    assert kept[-1] > 8.5  # and the video went on to its end


def test_fps_on_a_live_source_is_the_most_it_processes_per_second():
    """A network camera sending 15 frames/s, read with fps=3: no two frames handed out closer than 1/3 s (a
    lower bound: a slower machine only makes the gaps longer), and the stale frames in between dropped."""
    from facegate.watch.video import VideoSource

    with MjpegCamera(clip_jpegs(90, 150), fps=15, frames_per_connection=10_000) as camera:
        with VideoSource(camera.url, fps=3) as source:
            handed, frames = [], []
            for frame in source:
                handed.append((time.monotonic(), frame.time))
                frames.append(frame)
                if len(handed) == 7:
                    break
    gaps = [later[0] - earlier[0] for earlier, later in zip(handed, handed[1:])]
    assert min(gaps) >= 1 / 3 - 0.01, gaps
    # frame times (when the reader got them) may trail by one camera frame (1/15 s)
    assert all(later[1] - earlier[1] >= 1 / 3 - 1 / 15 - 0.02 for earlier, later in zip(handed, handed[1:]))
    # the frames in between were taken off the camera and dropped: the frame numbers skip them
    assert all(later.index - earlier.index >= 2 for earlier, later in zip(frames, frames[1:])), \
        [frame.index for frame in frames]


def test_a_lost_camera_is_reopened_with_growing_pauses_each_said_once():
    """The camera goes away for good: the source says so before each attempt, waiting longer each time (the
    last pause repeats), and each wait is at least as long as it says."""
    from facegate.watch.video import VideoSource

    said = []
    with MjpegCamera(clip_jpegs(90, 120), fps=15, frames_per_connection=10_000) as camera:
        source = VideoSource(camera.url, warn=lambda message: said.append((time.monotonic(), message)),
                             reopen_pauses=(0.2, 0.4, 0.8))
        frames = iter(source)
        next(frames)
    deadline = time.monotonic() + 60
    while sum("reopening" in message for _, message in said) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    source.close()
    attempts = [(moment, message) for moment, message in said if "reopening" in message]
    assert [message.split("reopening in ")[1] for _, message in attempts[:5]] == \
        ["0.2 s", "0.4 s", "0.8 s", "0.8 s", "0.8 s"]
    assert all(message.startswith(f"{camera.url}: no frame from the source") for _, message in attempts)
    for (moment, message), (later, _) in zip(attempts, attempts[1:5]):
        assert later - moment >= float(message.split("reopening in ")[1][:-2]) - 0.01
    assert not any("source reopened" in message for _, message in said)


@pytest.mark.parametrize("scene", ["empty corridor", "a person standing still"])
def test_a_still_scene_is_detected_at_a_glance_once_a_second_unless_a_face_is_followed(model, video_db, tmp_path,
                                                                                      scene):
    """3 s of a still, noisy scene at 30 frames/s (90 frames). Nobody in it: the motion gate lets through the
    first frame and one a second (the glance), not 90. A person standing still in it: found at once and
    detected in every frame from then on (a face followed is never gated), so the visit is decided."""
    from facegate.matching import LiveGallery
    from facegate.watch.gate import GLANCE_SECONDS
    from facegate.watch.video import VideoSource
    from facegate.watch.watcher import Watcher

    picture = DATA / "negatives" / "chessboard_RGB.png" if scene == "empty corridor" \
        else DATA / "pad" / "replayattack-devel" / "enroll" / "client005.jpg"
    clip = still_scene(picture, tmp_path / "still.avi", 3)
    counting, events = CountingModel(model), []
    watcher = Watcher(counting, LiveGallery(video_db, model.name), "still", lambda r, f: events.append(r),
                      lambda message: None, liveness=False)
    with VideoSource(str(clip)) as frames:
        for frame in frames:
            watcher.process(frame)
    watcher.finish()
    assert watcher.summary.frames == 90
    if scene == "empty corridor":
        assert counting.detections == 1 + int(3 / GLANCE_SECONDS - 1e-9)  # at 0, 1 and 2 s
        assert watcher.summary.undetected == 90 - counting.detections and not events
    else:
        assert counting.detections == 90 and watcher.summary.tracks == 1
        assert [e["event"] for e in events] == ["unknown", "left"]  # client005 is not in this database


def test_a_live_camera_showing_a_still_scene_is_looked_at_five_times_a_second_at_most(model, video_db, tmp_path):
    """An empty, noisy scene read live at 30 frames/s for 3 s: while nothing moves and no face is followed, the
    watcher is handed one frame per IDLE_SECONDS at most (a lower bound on the gaps: a slower machine only makes
    them longer), and the frames in between are dropped without being decoded into pictures."""
    from facegate.matching import LiveGallery
    from facegate.watch.video import VideoSource
    from facegate.watch.watcher import IDLE_SECONDS, Watcher, run_cameras

    clip = still_scene(DATA / "negatives" / "chessboard_RGB.png", tmp_path / "still.avi", 3)
    handed = []

    class Timed(Watcher):
        def process(self, frame):
            handed.append(time.monotonic())
            super().process(frame)

    class Decoding(VideoSource):
        decoded = 0

        def _retrieved(self):
            self.decoded += 1
            return super()._retrieved()

    watcher = Timed(model, LiveGallery(video_db, model.name), "still", lambda r, f: None, lambda message: None)
    source = Decoding(str(clip), realtime=True)
    summary, = run_cameras([(source, watcher)])
    gaps = [later - earlier for earlier, later in zip(handed[1:], handed[2:])]  # after the first look
    assert gaps and min(gaps) >= IDLE_SECONDS - 0.01, gaps
    # of the 90 frames, about one is decoded for each handed out (the one due, and at most one it replaced)
    assert summary.frames <= 3 / IDLE_SECONDS + 2 and source.decoded <= 2 * summary.frames + 2, source.decoded
