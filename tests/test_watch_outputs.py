"""Where `facegate watch`'s events go, checked by real receivers: a door command, an HTTP server, an MQTT broker
(with a password, Home Assistant discovery, a last will), and the access log under --require-log."""
import json
import subprocess
import sys
import time

import pytest

from conftest import run_facegate
from servers import MjpegCamera, MqttBroker
from watching import CLIP, HOOK, clip_jpegs, events_of, facegate_command


SLOW_HOOK = """
import json, os, sys, time
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({k: os.environ[k] for k in ("FACEGATE_IDENTITY", "FACEGATE_TRACK", "FACEGATE_EVENT")}) + "\\n")
time.sleep(5)
"""


def test_failing_outputs_are_one_line_each_and_the_watch_goes_on(video_db, tmp_path):
    """A door command that hangs (killed after --hook-timeout), a webhook and a broker nobody answers, a snapshot
    folder that cannot be made: each said on stderr in one line, every decision still made and printed."""
    from servers import free_port

    (tmp_path / "hook.py").write_text(SLOW_HOOK)
    hooked, blocked = tmp_path / "hooked.jsonl", tmp_path / "snapshots"
    blocked.write_text("a file where the snapshot folder would go")
    webhook, broker = f"http://127.0.0.1:{free_port()}/events", f"mqtt://127.0.0.1:{free_port()}/door"
    result = run_facegate("--db", video_db, "watch", CLIP, "--json", "--fps", "5", "--on-match",
                          f"{sys.executable} {tmp_path / 'hook.py'} {hooked}", "--hook-timeout", "1",
                          "--webhook", webhook, "--mqtt", broker, "--snapshots", blocked)
    assert result.returncode == 0, result.stderr
    events = events_of(result.stdout)
    assert {e["identity"] for e in events if e["event"] == "match"} == {"lin"}
    assert sum(e["event"] == "unknown" for e in events) >= 3
    lines = result.stderr.splitlines()
    assert any(line.startswith("facegate: --on-match: ") and "killed after 1 s" in line for line in lines)
    assert any(line.startswith(f"facegate: --webhook {webhook}: ") for line in lines)
    assert any(line.startswith("facegate: --mqtt 127.0.0.1:") and "broker unreachable" in line for line in lines)
    assert any(str(blocked) in line for line in lines)
    assert "Traceback" not in result.stderr and lines[-1].startswith("facegate: watched ")
    (hook_environment,) = [json.loads(line) for line in hooked.read_text().splitlines()]
    match = next(e for e in events if e["event"] == "match")
    assert hook_environment == {"FACEGATE_IDENTITY": "lin", "FACEGATE_TRACK": str(match["track"]),
                                "FACEGATE_EVENT": "match"}


def test_mqtt_user_and_password_are_sent_to_a_broker_that_requires_them(video_db, tmp_path):
    """--mqtt mqtt://USER:PASS@HOST:PORT/TOPIC (percent-encoded): a broker that admits only that user gets every
    event; with a wrong password it refuses the connection, said in one line (without the password), and the
    watch goes on."""
    users = {"door": "s3cret pass"}
    with MqttBroker("door/front", users, tmp_path / "passwords") as broker:
        url = f"mqtt://door:s3cret%20pass@127.0.0.1:{broker.port}/door/front"
        result = run_facegate("--db", video_db, "watch", CLIP, "--json", "--fps", "2", "--mqtt", url)
        assert result.returncode == 0, result.stderr
        events = events_of(result.stdout)
        assert events and broker.wait_for(len(events)) == events
        assert "--mqtt" not in result.stderr
        wrong = run_facegate("--db", video_db, "watch", CLIP, "--json", "--fps", "2", "--mqtt",
                             f"mqtt://door:guess@127.0.0.1:{broker.port}/door/front")
        assert wrong.returncode == 0 and events_of(wrong.stdout) == [
            {**e, "wall_time": w["wall_time"]} for e, w in zip(events, events_of(wrong.stdout))]
        time.sleep(1)
        assert len(broker.messages) == len(events)  # nothing from the refused client
    refused = [line for line in wrong.stderr.splitlines() if line.startswith("facegate: --mqtt ")]
    assert refused and all("connection refused" in line or "not delivered" in line for line in refused)
    assert "guess" not in wrong.stderr and "s3cret" not in result.stderr


def test_home_assistant_discovers_the_door_camera_over_mqtt(video_db):
    """With --mqtt, Home Assistant's discovery configs for the door (last person, last decision, a 'door opened'
    and a 'spoof attempt' pulse, a decision event; one device named after --door) are retained on the broker,
    its events are on TOPIC/<door id> and its availability topic is left saying offline: read back by a client
    that connects after the watch has ended. (tests/test_homeassistant.py: what Home Assistant makes of them.)"""
    with MqttBroker("door/front") as broker:
        result = run_facegate("--db", video_db, "--door", "front door", "watch", CLIP, "--json", "--fps", "2",
                              "--mqtt", broker.url)
        assert result.returncode == 0, result.stderr
        events = events_of(result.stdout)
        assert broker.wait_for(len(events)) == events
        configs = broker.retained("homeassistant/#")
        availability = broker.retained("door/front/#")
    node = "facegate_front_door"
    assert set(broker.topics) == {"door/front/front_door"}
    assert set(configs) == {f"homeassistant/sensor/{node}/last_person/config",
                            f"homeassistant/sensor/{node}/last_decision/config",
                            f"homeassistant/binary_sensor/{node}/door_opened/config",
                            f"homeassistant/binary_sensor/{node}/spoof_attempt/config",
                            f"homeassistant/event/{node}/decision/config"}
    for topic, payload in configs.items():
        config = json.loads(payload)
        assert config["state_topic"] == "door/front/front_door"
        assert config["availability_topic"] == "door/front/front_door/availability"
        assert config["device"]["identifiers"] == [node] and config["device"]["name"] == "facegate front door"
        assert config["unique_id"] == f"{node}_{topic.split('/')[3]}"
    assert availability == {"door/front/front_door/availability": "offline"}


def test_a_watch_that_dies_is_shown_offline_by_the_brokers_last_will(video_db):
    """Home Assistant sees the door camera online while the watch runs; killed (SIGKILL: no goodbye), the broker
    publishes its last will and the availability topic says offline."""
    with MjpegCamera(clip_jpegs(90, 150), fps=15, frames_per_connection=10_000) as camera, \
            MqttBroker("door/front") as broker:
        command, environment = facegate_command("--db", video_db, "--door", "front", "watch", camera.url, "--json",
                                                "--mqtt", broker.url)
        process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline, online = time.monotonic() + 120, {}
            while online != {"door/front/front/availability": "online"} and time.monotonic() < deadline:
                assert process.poll() is None, process.stderr.read()
                online = broker.retained("door/front/front/availability", seconds=2)
        finally:
            process.kill()
            process.wait(timeout=60)
        assert online == {"door/front/front/availability": "online"}
        deadline, offline = time.monotonic() + 60, {}
        while offline != {"door/front/front/availability": "offline"} and time.monotonic() < deadline:
            offline = broker.retained("door/front/front/availability", seconds=2)
    assert offline == {"door/front/front/availability": "offline"}


def test_require_log_keeps_the_door_shut_when_the_log_cannot_be_written(video_db, tmp_path):
    import shutil

    db = tmp_path / "db"
    shutil.copytree(video_db, db)
    (tmp_path / "db.log").write_text("a file where the log folder would go")
    (tmp_path / "hook.py").write_text(HOOK)
    result = run_facegate("--db", db, "--require-log", "watch", CLIP, "--json", "--fps", "5", "--on-match",
                          f"{sys.executable} {tmp_path / 'hook.py'} {tmp_path / 'hooked.jsonl'}")
    assert result.returncode == 0, result.stderr
    matches = [e for e in events_of(result.stdout) if e["event"] == "match"]
    assert matches and {e["identity"] for e in matches} == {"lin"} and not any(e["opens"] for e in matches)
    assert "--require-log: the decision is refused" in result.stderr
    assert not (tmp_path / "hooked.jsonl").exists()  # the door command never ran


def test_the_door_command_runs_once_per_person_per_cooldown_with_the_event(video_db, tmp_path):
    """With liveness off (identity alone, as before liveness), both of Miranda's visits match; the second falls
    within the 10 s cooldown and opens nothing. The summary warns that liveness was off."""
    hook_log = tmp_path / "hook.jsonl"
    (tmp_path / "hook.py").write_text(HOOK)
    result = run_facegate("--db", video_db, "watch", CLIP, "--json", "--fps", "10", "--liveness", "off",
                          "--on-match", f"{sys.executable} {tmp_path / 'hook.py'} {hook_log}")
    assert result.returncode == 0, result.stderr
    events = events_of(result.stdout)
    matches = [e for e in events if e["event"] == "match"]
    opening = [e for e in matches if e["opens"]]
    assert len(opening) == 1 and len(matches) >= 2 and {e["identity"] for e in matches} == {"lin"}
    assert matches[0]["time"] < 0.5  # the first, distant visit matches on identity alone
    assert all(e["live"] is None and e["cues"] == [] for e in events)
    hooked = [json.loads(line) for line in hook_log.read_text().splitlines()]
    (ran,) = hooked
    assert ran["event"] == opening[0] and ran["identity"] == "lin"
    assert float(ran["distance"]) == pytest.approx(opening[0]["distance"])
    assert "liveness was off" in result.stderr.splitlines()[-1]
