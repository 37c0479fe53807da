"""What Home Assistant sees of a door camera over MQTT discovery (docs/homeassistant.md): one device per camera
with its last person, its last decision, a 'door opened' and a 'spoof attempt' pulse, a decision event entity
for automations and, when asked, the frame of the last decision as a camera entity.

Every id and topic is built from the camera's slug ([a-z0-9_], watch.cameras.slug): its events are on
TOPIC/<slug> and its availability on TOPIC/<slug>/availability, its own (never shared with another camera or
another watch on the same TOPIC). States are never Home Assistant's reserved `unknown`/`unavailable`: a person
not recognised is `stranger`, the decision `not_recognised`."""
from dataclasses import dataclass

DISCOVERY_PREFIX = "homeassistant"
DECISIONS = {"match": "match", "unknown": "not_recognised", "ambiguous": "ambiguous", "spoof": "spoof"}
"""A watch event's name in Home Assistant (`left` is no decision: it changes nothing there)."""
STRANGER = "stranger"
PULSE_SECONDS = 5
"""How long 'door opened' and 'spoof attempt' stay on after their event (Home Assistant's off_delay)."""
ENTITIES = (("sensor", "last_person"), ("sensor", "last_decision"), ("binary_sensor", "door_opened"),
            ("binary_sensor", "spoof_attempt"), ("event", "decision"), ("camera", "snapshot"))
"""Every entity a camera's device may have, as (component, name): also what retiring a camera clears."""

_DECISION_MAP = "{" + ", ".join(f"'{event}': '{state}'" for event, state in DECISIONS.items()) + "}"


@dataclass(frozen=True)
class CameraTopics:
    """The MQTT topics of one camera of a watch publishing under `base` (the --mqtt URL's TOPIC)."""

    base: str
    slug: str

    @property
    def events(self):
        return f"{self.base}/{self.slug}"

    @property
    def availability(self):
        return f"{self.events}/availability"

    @property
    def snapshot(self):
        return f"{self.events}/snapshot"

    @property
    def node(self):
        return f"facegate_{self.slug}"

    def config_topic(self, component, name):
        return f"{DISCOVERY_PREFIX}/{component}/{self.node}/{name}/config"


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("facegate")
    except PackageNotFoundError:
        return "unknown"


def _templates():
    """{(component, name): the entity's own keys}: names, icons and the value templates (Jinja2, rendered by Home
    Assistant with `value_json`, the event, and `this`, the entity's state before it)."""
    decision = f"{_DECISION_MAP}.get(value_json.event)"
    event_payload = ("{%% if value_json.event in %s %%}{{ {'event_type': %s, 'identity': value_json.identity, "
                     "'opens': value_json.opens, 'distance': value_json.distance, 'track': value_json.track, "
                     "'cues': value_json.cues} | tojson }}{%% endif %%}") % (list(DECISIONS), decision)
    return {
        ("sensor", "last_person"): {
            "name": "Last person", "icon": "mdi:account",
            "value_template": "{{ value_json.identity if value_json.event == 'match' else "
                              f"('{STRANGER}' if value_json.event in ['unknown', 'ambiguous'] else this.state) }}}}"},
        ("sensor", "last_decision"): {
            "name": "Last decision", "icon": "mdi:door",
            "value_template": f"{{{{ {_DECISION_MAP}.get(value_json.event, this.state) }}}}"},
        ("binary_sensor", "door_opened"): {
            "name": "Door opened", "device_class": "door", "off_delay": PULSE_SECONDS,
            "value_template": "{{ 'ON' if value_json.opens else 'OFF' }}", "payload_on": "ON", "payload_off": "OFF"},
        ("binary_sensor", "spoof_attempt"): {
            "name": "Spoof attempt", "device_class": "problem", "icon": "mdi:incognito", "off_delay": PULSE_SECONDS,
            "value_template": "{{ 'ON' if value_json.event == 'spoof' else 'OFF' }}", "payload_on": "ON",
            "payload_off": "OFF"},
        ("event", "decision"): {
            "name": "Decision", "icon": "mdi:face-recognition", "event_types": list(DECISIONS.values()),
            "value_template": event_payload},
    }


def discovery_configs(topics, camera, snapshots=False):
    """{config topic: payload (a dict, or None: clear a retained one)}: the discovery of `camera` (its name)
    publishing on `topics` (CameraTopics). Without `snapshots` the camera entity is cleared (it may be left from
    a watch that had them)."""
    version = _version()
    device = {"identifiers": [topics.node], "name": f"facegate {camera}", "manufacturer": "facegate",
              "model": "door camera", "sw_version": version}
    common = {"availability_topic": topics.availability, "device": device,
              "origin": {"name": "facegate", "sw_version": version}}
    configs = {}
    for (component, name), own in _templates().items():
        configs[topics.config_topic(component, name)] = {
            **common, "state_topic": topics.events, **own, "unique_id": f"{topics.node}_{name}",
            "default_entity_id": f"{component}.{topics.node}_{name}"}
    camera_topic = topics.config_topic("camera", "snapshot")
    configs[camera_topic] = None
    if snapshots:
        configs[camera_topic] = {**common, "topic": topics.snapshot, "name": "Snapshot",
                                 "unique_id": f"{topics.node}_snapshot",
                                 "default_entity_id": f"camera.{topics.node}_snapshot"}
    return configs


def retired_topics(topics):
    """The retained topics to clear so that Home Assistant forgets `topics`' camera: every config, and its
    availability."""
    return [topics.config_topic(component, name) for component, name in ENTITIES] + [topics.availability]


def snapshot_jpeg(record, frame):
    """The JPEG of a decision's frame with its face boxed and labelled, for the camera entity."""
    import io

    from ..faces.annotate import annotated, label_for

    state = record["event"]
    face = (record["box"], label_for(record["identity"], record["distance"], state), state)
    buffer = io.BytesIO()
    annotated(frame.image, [face]).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
