"""Home Assistant's view of the doors over MQTT discovery, on a real broker (amqtt) and real watches: topics and ids
it accepts, each camera's own availability (two watches on one TOPIC), states rendered from the configs' own
templates with Jinja2 as Home Assistant renders them (a stranger, a spoof, a match), snapshots, retiring a camera,
and a broker that restarts. bench/homeassistant checks the same against Home Assistant itself."""
import io
import json
import re
import signal
import subprocess
import time

from conftest import DATA, one_error_line, run_facegate
from servers import MjpegCamera, MqttBroker
from watching import CLIP, clip_jpegs, events_of, facegate_command

RESERVED_STATES = {"unknown", "unavailable", "none", ""}
"""States Home Assistant keeps for itself ('no data'): a door's states are never one of them."""
DISCOVERY_TOPIC = re.compile(r"homeassistant/(sensor|binary_sensor|event|camera)/facegate_[a-z0-9_]+/[a-z0-9_]+/config")
PAD = DATA / "pad" / "replayattack-devel"
ATTACK = PAD / "videos" / "attack_print_client005_session01_highdef_photo_adverse__fixed.mp4"


def wait_until(read, wanted, seconds=90):
    """Poll `read()` until it returns `wanted` or `seconds` pass; what it returned last."""
    deadline, found = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        found = read()
        if found == wanted:
            break
    return found


def configs_of(broker, node):
    """{(component, entity name): config} retained for a device `node` (facegate_<camera id>)."""
    retained = broker.retained("homeassistant/#")
    return {tuple(topic.split("/")[1:4:2]): json.loads(payload) for topic, payload in retained.items()
            if topic.split("/")[2] == node and payload}


def render(configs, events):
    """{(component, name): [state after each event]}: each entity's value_template rendered with Jinja2 as Home
    Assistant renders it (value_json: the event; this: the entity's state before it). An event entity's
    rendering is its payload (empty: ignored); a binary sensor's is ON or OFF."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment()
    states = {}
    for key, config in configs.items():
        if "value_template" not in config:
            continue
        template, state, taken = environment.from_string(config["value_template"]), "unknown", []
        for event in events:
            rendered = template.render(value_json=event, this={"state": state}).strip()
            if key[0] != "event":
                state = rendered
            taken.append(rendered)
        states[key] = taken
    return states


def test_each_camera_of_each_watch_has_its_own_topics_availability_and_ids(video_db):
    """Two watches on one TOPIC: a door named 'Haustür' (a network camera, snapshots on) and `back` (the clip,
    ending first). Each camera's events are on TOPIC/<its id> alone, its availability its own: `back` ending
    leaves the door online; the door's ids are ASCII (haustur) as Home Assistant requires of discovery topics;
    configs carry default_entity_id (not the deprecated object_id) and an origin; the door's decisions' frames
    arrive as JPEGs on its snapshot topic (back has no camera entity). Stopped, the door says offline."""
    from PIL import Image

    with MjpegCamera(clip_jpegs(60, 150), fps=15, frames_per_connection=10_000) as camera, \
            MqttBroker("facegate") as broker:
        command, environment = facegate_command("--db", video_db, "--door", "Haustür", "watch", camera.url, "--json",
                                                "--mqtt", broker.url, "--mqtt-snapshots")
        door = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            online = wait_until(lambda: broker.retained("facegate/haustur/availability", seconds=2),
                                {"facegate/haustur/availability": "online"})
            back = run_facegate("--db", video_db, "watch", f"back={CLIP}", "--json", "--fps", "5", "--mqtt",
                                broker.url)
            assert back.returncode == 0, back.stderr
            availability = broker.retained("facegate/+/availability")
            door_configs, back_configs = configs_of(broker, "facegate_haustur"), configs_of(broker, "facegate_back")
            all_topics = set(broker.retained("homeassistant/#"))
        finally:
            door.send_signal(signal.SIGTERM)
            door_out, door_err = door.communicate(timeout=120)
        stopped = broker.retained("facegate/haustur/availability")
    assert online == {"facegate/haustur/availability": "online"}, door_err
    assert availability == {"facegate/haustur/availability": "online", "facegate/back/availability": "offline"}
    assert stopped == {"facegate/haustur/availability": "offline"}
    assert all_topics and all(DISCOVERY_TOPIC.fullmatch(topic) for topic in all_topics), all_topics
    assert ("camera", "snapshot") in door_configs and ("camera", "snapshot") not in back_configs
    for node, configs in (("facegate_haustur", door_configs), ("facegate_back", back_configs)):
        for (component, name), config in configs.items():
            assert "object_id" not in config and config["default_entity_id"] == f"{component}.{node}_{name}"
            assert config["unique_id"] == f"{node}_{name}" and config["device"]["identifiers"] == [node]
            assert config["origin"]["name"] == "facegate" and config["origin"]["sw_version"]
            assert config["availability_topic"] == f"facegate/{node[9:]}/availability"
    assert door_configs[("sensor", "last_person")]["device"]["name"] == "facegate Haustür"
    door_events, back_events = events_of(door_out), events_of(back.stdout)
    assert any(e["event"] == "match" for e in door_events) and back_events
    received = list(zip(broker.topics, broker.messages))
    assert sorted(m["track"] for t, m in received if t == "facegate/haustur") == sorted(e["track"] for e in door_events)
    assert [m for t, m in received if t == "facegate/back"] == back_events
    assert {t for t, _ in received} == {"facegate/haustur", "facegate/back"}
    snapshots = [payload for topic, payload in broker.payloads if topic == "facegate/haustur/snapshot"]
    assert len(snapshots) == sum(e["event"] != "left" for e in door_events)
    assert Image.open(io.BytesIO(snapshots[0])).format == "JPEG"


def test_home_assistant_states_show_a_match_a_stranger_and_a_spoof(video_db, tmp_path):
    """The configs' own templates over the events of two real watches: the dev clip (Miranda matches, the
    strangers at its end are not recognised) and a printed photo of an enrolled person (a spoof). Home Assistant
    would show the person, then `stranger`, never its reserved `unknown`; decisions `match`, `not_recognised`,
    `spoof`; an event entity payload for each decision (of its event_types) and none for a `left`; the door
    pulse on exactly when an event opens; the spoof pulse on exactly for the spoof."""
    attack_db = tmp_path / "attack"
    assert run_facegate("--db", attack_db, "enroll", "client005", PAD / "enroll" / "client005.jpg").returncode == 0
    with MqttBroker("facegate") as broker:
        watched = run_facegate("--db", video_db, "--door", "front", "watch", CLIP, "--json", "--fps", "5", "--mqtt",
                               broker.url)
        attacked = run_facegate("--db", attack_db, "--door", "front", "watch", ATTACK, "--json", "--mqtt",
                                broker.url)
        assert watched.returncode == 0 and attacked.returncode == 0, watched.stderr + attacked.stderr
        events = events_of(watched.stdout) + events_of(attacked.stdout)
        assert broker.wait_for(len(events)) == events
        configs = configs_of(broker, "facegate_front")
    assert {e["event"] for e in events} >= {"match", "unknown", "spoof", "left"}
    states = render(configs, events)
    people, decisions = states[("sensor", "last_person")], states[("sensor", "last_decision")]
    for event, person, decision in zip(events, people, decisions):
        if event["event"] == "match":
            assert person == event["identity"] and decision == "match"
        elif event["event"] == "unknown":
            assert person == "stranger" and decision == "not_recognised"
        elif event["event"] == "spoof":
            assert decision == "spoof"
    assert not RESERVED_STATES & set(people[people.index("lin"):]) and not RESERVED_STATES & set(decisions)
    event_types = configs[("event", "decision")]["event_types"]
    for event, payload in zip(events, states[("event", "decision")]):
        if event["event"] == "left":
            assert payload == ""
        else:
            fired = json.loads(payload)
            assert fired["event_type"] in event_types and fired["identity"] == event["identity"]
            assert fired["event_type"] == {"match": "match", "unknown": "not_recognised", "spoof": "spoof",
                                           "ambiguous": "ambiguous"}[event["event"]]
    assert [s == "ON" for s in states[("binary_sensor", "door_opened")]] == [e["opens"] for e in events]
    assert [s == "ON" for s in states[("binary_sensor", "spoof_attempt")]] == [e["event"] == "spoof" for e in events]


def test_a_retired_camera_is_cleared_from_the_broker_and_the_others_stay(video_db):
    """--retire-discovery NAME (with --mqtt and no source) clears that camera's retained configs and availability,
    so that Home Assistant removes its device; another camera's stay. A camera the same watch runs cannot be
    retired, nor one without --mqtt: one line each."""
    with MqttBroker("site") as broker:
        result = run_facegate("--db", video_db, "watch", f"front={CLIP}", f"Back-Door={CLIP}", "--fps", "2",
                              "--json", "--mqtt", broker.url)
        assert result.returncode == 0, result.stderr
        assert configs_of(broker, "facegate_back_door") and configs_of(broker, "facegate_front")
        running = run_facegate("--db", video_db, "watch", f"front={CLIP}", "--mqtt", broker.url,
                               "--retire-discovery", "front")
        retired = run_facegate("--db", video_db, "watch", "--mqtt", broker.url, "--retire-discovery", "Back-Door")
        left = broker.retained("homeassistant/#")
        availability = broker.retained("site/+/availability")
    one_error_line(running, "--retire-discovery front", "this watch runs that camera")
    assert retired.returncode == 0
    assert retired.stdout.strip() == "retired 'Back-Door' from Home Assistant (site/back_door)"
    assert left and all("/facegate_front/" in topic for topic in left)
    assert availability == {"site/front/availability": "offline"}
    one_error_line(run_facegate("watch", "--retire-discovery", "front"), "--retire-discovery", "--mqtt")


def test_two_cameras_of_one_id_are_refused_before_anything_is_published(video_db):
    """Front-Door and front_door would be one device in Home Assistant (and one snapshot file name): refused in
    one line naming both, before the model loads or the broker hears of them."""
    with MqttBroker("site") as broker:
        result = run_facegate("--db", video_db, "watch", f"Front-Door={CLIP}", f"front_door={CLIP}", "--mqtt",
                              broker.url)
        published = broker.retained("homeassistant/#", seconds=2)
    one_error_line(result, "'Front-Door'", "'front_door'", "front_door")
    assert published == {}


def test_after_the_broker_restarts_the_door_is_online_and_discovered_again(video_db):
    """A broker restarted without its retained messages (amqtt keeps none): the watch reconnects by itself and
    publishes its discovery configs and `online` again, so Home Assistant shows the door available."""
    with MjpegCamera(clip_jpegs(60, 150), fps=15, frames_per_connection=10_000) as camera:
        first = MqttBroker("facegate")
        with first:
            command, environment = facegate_command("--db", video_db, "--door", "front", "watch", camera.url,
                                                    "--json", "--mqtt", first.url)
            door = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
            try:
                online = {"facegate/front/availability": "online"}
                assert wait_until(lambda: first.retained("facegate/front/availability", seconds=2), online) == online
            except BaseException:
                door.kill()
                raise
        try:
            with MqttBroker("facegate", port=first.port) as second:
                again = wait_until(lambda: second.retained("facegate/front/availability", seconds=2),
                                   {"facegate/front/availability": "online"})
                rediscovered = configs_of(second, "facegate_front")
        finally:
            door.send_signal(signal.SIGTERM)
            _, stderr = door.communicate(timeout=120)
    assert again == {"facegate/front/availability": "online"}, stderr
    assert ("sensor", "last_person") in rediscovered and "Traceback" not in stderr
