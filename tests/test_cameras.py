"""Several cameras in one `facegate watch`: named sources and a --config file, one model, events tagged with
their camera, each camera's door in the access log, one camera lost while the others keep deciding, Home
Assistant discovery per camera; real sources (files, network cameras served by the test) through the real model."""
import json
import shutil
import signal
import subprocess

import pytest

from conftest import one_error_line, run_facegate, snapshot
from servers import MjpegCamera, MqttBroker
from watching import CLIP, clip_jpegs, events_of, facegate_command, read_events_until


def watch_process(db, *args):
    command, environment = facegate_command("--db", db, "watch", "--json", *args)
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(process):
    """Ctrl-C: the watch ends with exit 0; (its events after those already read, its stderr)."""
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    return events_of(stdout), stderr


def matched(camera):
    return lambda events: any(e["event"] == "match" and e["camera"] == camera for e in events)


def strangers(events):
    """The file's strangers at its end (unknown, after 7.2 s)."""
    return [e for e in events if e["camera"] == "piano" and e["event"] == "unknown" and e["time"] > 7.2]


def test_a_file_and_a_network_camera_in_one_watch_each_decide_under_their_own_name(video_db, tmp_path):
    """`watch piano=CLIP street=http://...`: Miranda matches on both, each event names its camera, each camera's
    decisions are logged under its door (its name), and Ctrl-C ends both with one summary line each."""
    db = tmp_path / "db"
    shutil.copytree(video_db, db)
    with MjpegCamera(clip_jpegs(90, 200), fps=15, frames_per_connection=10_000) as camera:
        process = watch_process(db, f"piano={CLIP}", f"street={camera.url}", "--fps", "10")
        try:
            events = read_events_until(process, lambda e: matched("street")(e) and len(strangers(e)) >= 3, 180)
            more, stderr = stop(process)
        finally:
            process.kill()
    events += more
    assert matched("piano")(events) and matched("street")(events), (events, stderr)
    assert {e["camera"] for e in events} == {"piano", "street"}
    assert all(e["source"] == (str(CLIP) if e["camera"] == "piano" else camera.url) for e in events)
    assert len(strangers(events)) >= 3  # the file watched to its end while the camera went on
    summaries = [line for line in stderr.splitlines() if line.startswith("facegate: watched ")]
    assert [line.split(":")[1] for line in summaries] == [f" watched piano ({CLIP})", " watched street (http"]
    for door in ("piano", "street"):
        logged = [json.loads(line) for line in
                  run_facegate("--db", db, "log", "--json", "--door", door).stdout.splitlines()]
        decided = [e for e in events if e["camera"] == door and e["event"] != "left"]
        assert [(r["decision"], r["track"]) for r in logged] == [(e["event"], e["track"]) for e in decided]


def test_one_camera_lost_does_not_stop_the_other_from_deciding(video_db):
    """Two network cameras, both showing Miranda close up again and again; the first goes away for good: it is
    said lost and retried on its own, while the second's next visit is still decided."""
    loop = clip_jpegs(30, 210)  # 3.3 s without a face, then Miranda close up: a new visit each time round
    with MjpegCamera(loop, fps=15, frames_per_connection=10_000) as first, \
            MjpegCamera(loop, fps=15, frames_per_connection=10_000) as second:
        process = watch_process(video_db, f"first={first.url}", f"second={second.url}")
        try:
            before = read_events_until(process, lambda e: matched("first")(e) and matched("second")(e), 180)
            assert matched("first")(before) and matched("second")(before), before
            first.stop()
            seen = sum(e["camera"] == "second" and e["event"] == "match" for e in before)
            after = read_events_until(process, lambda e: sum(x["camera"] == "second" and x["event"] == "match"
                                                             for x in before + e) > seen, 120)
            more, stderr = stop(process)
        finally:
            process.kill()
    assert any(e["camera"] == "second" and e["event"] == "match" for e in after), after
    assert f"{first.url}: no frame from the source; reopening" in stderr
    assert second.url not in "".join(line for line in stderr.splitlines() if "reopening" in line)
    assert "Traceback" not in stderr


CONFIG = """
[defaults]
fps = 5
mqtt = "{mqtt}"

[cameras.front]
source = "{clip}"
door = "front door"

[cameras.back]
source = "{clip}"
claim = "alex"
liveness = false
"""


def test_a_config_file_sets_up_each_camera_and_home_assistant_discovers_each(video_db, tmp_path):
    """Two cameras from --config on one broker: each camera's events on TOPIC/NAME, its own discovery configs
    and availability (a device per camera) retained, and its settings kept apart: `back` only opens for alex (who
    never comes), without liveness (said in its summary and heartbeat), `front` for anyone enrolled, logged as
    "front door"."""
    from facegate.accesslog import log_of

    db = tmp_path / "db"
    shutil.copytree(video_db, db)
    with MqttBroker("site/+") as broker:
        config = tmp_path / "cameras.toml"
        config.write_text(CONFIG.format(mqtt=f"mqtt://127.0.0.1:{broker.port}/site", clip=CLIP))
        result = run_facegate("--db", db, "watch", "--json", "--config", config)
        assert result.returncode == 0, result.stderr
        events = events_of(result.stdout)
        broker.wait_for(len(events))
        configs = broker.retained("homeassistant/#")
    assert all(topic == f"site/{message['camera']}" for message, topic in zip(broker.messages, broker.topics))
    assert sorted(broker.messages, key=json.dumps) == sorted(events, key=json.dumps)
    front = [e for e in events if e["camera"] == "front"]
    back = [e for e in events if e["camera"] == "back"]
    assert any(e["event"] == "match" and e["identity"] == "lin" and e["opens"] for e in front)
    assert back and all(e["claim"] == "alex" and not e["opens"] for e in back)
    for camera in ("front", "back"):
        node = f"facegate_{camera}"
        mine = {t: json.loads(p) for t, p in configs.items() if f"/{node}/" in t}
        assert len(mine) == 5 and all(c["state_topic"] == f"site/{camera}" for c in mine.values())
        assert all(c["availability_topic"] == f"site/{camera}/availability" for c in mine.values())
    logged = [json.loads(line) for line in run_facegate("--db", db, "log", "--json").stdout.splitlines()]
    assert {r["door"] for r in logged} == {"front door", "back"}
    summaries = {line.split()[2]: line for line in result.stderr.splitlines() if line.startswith("facegate: watched ")}
    assert "liveness was off" in summaries["back"] and "liveness was off" not in summaries["front"]
    assert {status["camera"]: status["liveness"] for status in log_of(db).doors()} == {"front": True, "back": False}


@pytest.mark.parametrize("text, where", [
    ('[cameras.front]\nsource = "a.mp4"\nsorce = "b.mp4"\n', "cameras.front.sorce: unknown key"),
    ('[cameras.front]\nsource = "a.mp4"\nfps = "ten"\n', "cameras.front.fps: expected a number above 0, got 'ten'"),
    ('[cameras.front]\nsource = "a.mp4"\nmin_face = 3\n', "cameras.front.min_face: expected a whole number"),
    ('[cameras.front]\nsource = "a.mp4"\nmqtt = "http://x/y"\n', "cameras.front.mqtt: expected an mqtt://"),
    ('[cameras.front]\nsource = "a.mp4"\nliveness = "off"\n', "cameras.front.liveness: expected true or false"),
    ('[defaults]\nsource = "a.mp4"\n[cameras.front]\nsource = "a.mp4"\n', "defaults.source: unknown key"),
    ('[camera.front]\nsource = "a.mp4"\n', "camera: unknown key"),
    ('[cameras.front]\ndoor = "x"\n', "cameras.front.source: missing"),
    ('[cameras."front door"]\nsource = "a.mp4"\n', "cameras.front door: not a camera name"),
    ('[defaults]\nfps = 2\n', "cameras: no camera"),
    ('[cameras.front\nsource = "a.mp4"\n', "not valid TOML"),
])
def test_a_bad_config_file_is_one_line_naming_the_key_and_exit_2(video_db, tmp_path, text, where):
    config = tmp_path / "cameras.toml"
    config.write_text(text)
    before = snapshot(video_db)
    result = run_facegate("--db", video_db, "watch", "--config", config)
    one_error_line(result, str(config), where)
    assert result.stdout == "" and snapshot(video_db) == before


@pytest.mark.parametrize("arguments, where", [
    ([f"{CLIP}", f"{CLIP}"], "with several sources each needs a name: NAME=SOURCE"),
    ([f"a={CLIP}", f"a={CLIP}"], "camera 'a' is named twice"),
    ([f"a={CLIP}", "--config", "cameras.toml"], "not both"),
    ([], "no source"),
])
def test_sources_on_the_command_line_are_named_once_each(video_db, arguments, where):
    one_error_line(run_facegate("--db", video_db, "watch", *arguments), where)


def test_cameras_sharing_the_model_are_served_in_turn(model, video_db):
    """The same clip as two live cameras (read at its own pace, 30 frames/s, whatever this machine's speed): both
    are served in turn, neither starved (their processed frames within a fifth of each other), and both see
    Miranda's close-up."""
    from facegate.matching import LiveGallery
    from facegate.watch.video import VideoSource
    from facegate.watch.watcher import Watcher, run_cameras

    live, events = LiveGallery(video_db, model.name), []
    cameras = [(VideoSource(str(CLIP), realtime=True),
                Watcher(model, live, str(CLIP), lambda record, frame: events.append(record), lambda message: None,
                        liveness=False, camera=name)) for name in ("one", "two")]
    one, two = run_cameras(cameras)
    assert min(one.frames, two.frames) >= 0.8 * max(one.frames, two.frames), (one, two)
    for name in ("one", "two"):
        assert any(e["camera"] == name and e["event"] == "match" and e["identity"] == "lin" and e["time"] > 2.5
                   for e in events)
