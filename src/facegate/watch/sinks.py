"""Where watch's events go besides the printer: the door command, a webhook, an MQTT topic. Each sink is a Sink
(one base: receive a record, close); the slow ones work in a background thread behind a bounded queue, so a slow
door script, web server or broker never holds up the frame loop; what cannot be delivered is said on stderr in
one line. A new sink is a Sink subclass added to the lists sinks_for builds for each camera."""
import itertools
import json
import os
import queue
import shlex
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request

from ..errors import FacegateError, printable

QUEUE_LIMIT = 100
"""Events waiting for one slow sink; past this the oldest are dropped (and said so)."""


class Sink:
    """Receives event records. `wants(record)` says which (default: all); `close(timeout)` delivers what is
    still queued, for up to `timeout` seconds, then stops."""

    close_timeout = 5.0

    def wants(self, record):
        return True

    def __call__(self, record, frame=None):
        """Take one event record (`frame`: the watch.video.Frame it was decided on; None for `left`)."""
        raise NotImplementedError

    def close(self):
        pass


class Background(Sink):
    """A sink run by a daemon thread that handles records one at a time from a bounded queue (see QUEUE_LIMIT)."""

    def __init__(self, name, handle, warn, close_timeout=5.0, wants=None):
        self.name, self.handle, self.warn, self.close_timeout = name, handle, warn, close_timeout
        self._wants = wants or (lambda record: True)
        self._queue = queue.Queue(QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._run, name=f"facegate-{name}", daemon=True)
        self._thread.start()

    def __call__(self, record, frame=None):
        while True:
            try:
                self._queue.put_nowait(record)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.warn(f"{self.name}: falling behind; an event was dropped")
                except queue.Empty:
                    pass

    def _run(self):
        while True:
            record = self._queue.get()
            if record is None:
                return
            try:
                self.handle(record)
            except Exception as exc:  # noqa: BLE001 - a sink's failure is reported, never fatal to the loop
                self.warn(f"{self.name}: {printable(exc)}")

    def wants(self, record):
        return self._wants(record)

    def close(self):
        """Deliver what is queued (for up to close_timeout seconds), then stop."""
        self(None)
        self._thread.join(self.close_timeout)


class CommandHook:
    """--on-match: run the door's command for each event that opens, the event as JSON on its stdin and
    FACEGATE_IDENTITY, FACEGATE_DISTANCE, FACEGATE_TRACK in its environment; killed after `timeout` seconds."""

    def __init__(self, command, timeout, warn):
        self.argv = shlex.split(command)
        if not self.argv:
            raise FacegateError("--on-match: empty command")
        self.timeout, self.warn = timeout, warn
        self.runs = 0

    def __call__(self, record):
        environment = {**os.environ, "FACEGATE_IDENTITY": record["identity"] or "",
                       "FACEGATE_DISTANCE": str(record["distance"]), "FACEGATE_TRACK": str(record["track"]),
                       "FACEGATE_EVENT": record["event"]}
        try:
            completed = subprocess.run(self.argv, input=json.dumps(record) + "\n", text=True, env=environment,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.warn(f"--on-match: {self.argv[0]} killed after {self.timeout:g} s")
            return
        except OSError as exc:
            self.warn(f"--on-match: cannot run {self.argv[0]} ({exc.strerror or exc})")
            return
        self.runs += 1
        if completed.returncode != 0:
            last = (completed.stderr.strip().splitlines() or [""])[-1]
            self.warn(f"--on-match: {self.argv[0]} exited with {completed.returncode} {printable(last)}".rstrip())


class Webhook:
    """--webhook URL: POST each event as JSON (timeout `timeout` seconds)."""

    def __init__(self, url, timeout, warn):
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise FacegateError(f"--webhook {url}: not an http:// or https:// URL")
        self.url, self.timeout, self.warn = url, timeout, warn

    def __call__(self, record):
        request = urllib.request.Request(self.url, data=json.dumps(record).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            self.warn(f"--webhook {self.url}: answered {exc.code}")
        except (urllib.error.URLError, OSError) as exc:
            self.warn(f"--webhook {self.url}: {getattr(exc, 'reason', exc)}")


def mqtt_client(url):
    """(paho client with the URL's user and password, host, port, TOPIC) of an --mqtt URL; one line naming the
    URL (without its password) when it is not one."""
    from .credentials import shown_source

    parts = urllib.parse.urlsplit(url)
    base = urllib.parse.unquote(parts.path.strip("/"))
    if parts.scheme != "mqtt" or not parts.hostname or not base:
        raise FacegateError(f"--mqtt {shown_source(url)}: expected mqtt://HOST[:PORT]/TOPIC")
    if "+" in base or "#" in base or "//" in base:
        raise FacegateError(f"--mqtt {shown_source(url)}: TOPIC {base!r} cannot be published to (no +, # or "
                            "empty level)")
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"facegate-{os.getpid()}-{next(_CLIENTS)}")
    if parts.username:
        client.username_pw_set(urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
    return client, parts.hostname, parts.port or 1883, base


_CLIENTS = itertools.count(1)


def retire_discovery(url, names, warn, watched=(), timeout=10.0):
    """--retire-discovery: clear the retained discovery configs and availability of the cameras `names` under the
    --mqtt URL's TOPIC, so that Home Assistant removes their devices; never one of the `watched` cameras (its
    device would vanish while it runs). One line per camera retired; one error line when the broker cannot be
    reached in `timeout` seconds."""
    from .cameras import slug, slugs_of
    from .homeassistant import CameraTopics, retired_topics

    running = {slug(name) for name in watched}
    for name in names:
        if slug(name) in running:
            raise FacegateError(f"--retire-discovery {name}: this watch runs that camera")
    client, host, port, base = mqtt_client(url)
    where = f"{host}:{port}"
    try:
        client.connect(host, port, keepalive=int(timeout) + 5)
    except OSError as exc:
        raise FacegateError(f"--mqtt {where}: cannot retire cameras: {exc.strerror or exc}") from None
    client.loop_start()
    try:
        for name, camera_id in slugs_of(names, "--retire-discovery").items():
            topics = retired_topics(CameraTopics(base, camera_id))
            sent = [client.publish(topic, "", qos=1, retain=True) for topic in topics]
            for info in sent:
                info.wait_for_publish(timeout)
            if not all(info.is_published() for info in sent):
                raise FacegateError(f"--mqtt {where}: cannot retire {name!r}: the broker did not take it in "
                                    f"{timeout:g} s")
            warn(f"retired {name!r} from Home Assistant ({base}/{camera_id})")
    finally:
        client.disconnect()
        client.loop_stop()


class MqttPublisher(Sink):
    """--mqtt mqtt://[USER:PASSWORD@]HOST[:PORT]/TOPIC for one camera: publish each of its events (QoS 1) on
    TOPIC/<camera slug> with paho-mqtt, which connects and reconnects in its own thread. Each camera has its own
    connection, so its own last will: on every (re)connection it publishes (retained) its Home Assistant
    discovery configs (homeassistant.py) and `online` on its availability topic; the broker says `offline` when
    the watch is gone, and so does the watch when it ends. With `snapshots`, each decision's frame goes to the
    camera entity's topic (not retained)."""

    def __init__(self, url, warn, camera="door", slug="door", snapshots=False):
        from .homeassistant import CameraTopics

        self.client, host, port, base = mqtt_client(url)
        self.where = f"{host}:{port}"
        self.camera, self.snapshots, self.warn = camera, snapshots, warn
        self.topics = CameraTopics(base, slug)
        self._closed = False
        self.client.will_set(self.topics.availability, "offline", qos=1, retain=True)
        self.client.on_connect = self._connected
        self.client.on_connect_fail = self._unreachable
        self.client.max_queued_messages_set(QUEUE_LIMIT)  # a broker that is down does not make memory grow
        self.client.reconnect_delay_set(1, 30)
        self.client.connect_async(host, port)
        self._pending = []
        self._refused = self._dropping = False
        """Said once per outage: a refused connection (retried every few seconds), events dropped."""
        self.client.loop_start()

    def _connected(self, client, userdata, flags, reason_code, properties):
        from .homeassistant import discovery_configs

        if reason_code.is_failure:
            if not self._refused:
                self.warn(f"--mqtt {self.where}: connection refused ({reason_code}); still trying")
            self._refused = True
            return
        self._refused = self._dropping = False
        for config_topic, config in discovery_configs(self.topics, self.camera, self.snapshots).items():
            client.publish(config_topic, "" if config is None else json.dumps(config), qos=1, retain=True)
        client.publish(self.topics.availability, "online", qos=1, retain=True)

    def _unreachable(self, client, userdata):
        if not self._refused:
            self.warn(f"--mqtt {self.where}: broker unreachable; still trying (events wait, up to {QUEUE_LIMIT})")
        self._refused = True

    def __call__(self, record, frame=None):
        self._publish(self.topics.events, json.dumps(record))
        if self.snapshots and frame is not None and record["event"] != "left":
            from .homeassistant import snapshot_jpeg

            self._publish(self.topics.snapshot, snapshot_jpeg(record, frame))

    def _publish(self, topic, payload):
        import paho.mqtt.client as mqtt

        self._pending = [info for info in self._pending if not _published(info)]
        info = self.client.publish(topic, payload, qos=1)
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # sent, or queued until connected
            self._pending.append(info)
        elif not self._dropping:
            self._dropping = True
            self.warn(f"--mqtt {self.where}: events dropped: the broker cannot be reached and {QUEUE_LIMIT} "
                      f"are already waiting")

    def close(self):
        """Deliver what is pending and say offline."""
        if self._closed:
            return
        self._closed = True
        for info in self._pending:
            try:
                info.wait_for_publish(self.close_timeout)
            except (RuntimeError, ValueError):
                pass
        unsent = sum(1 for info in self._pending if not _published(info))
        if unsent:
            self.warn(f"--mqtt {self.where}: {unsent} event(s) not delivered")
        if self.client.is_connected():
            try:
                self.client.publish(self.topics.availability, "offline", qos=1, retain=True).wait_for_publish(
                    self.close_timeout)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()


def _published(info):
    """Whether paho delivered a message (one queued while disconnected raises until it is sent: not yet)."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return False


def sinks_for(cameras, warn):
    """{camera name: its sinks} for watch.cameras.CameraSpecs: the door command (events that open only), the
    webhook, MQTT (a connection of its own per camera). Two cameras whose names give one id are refused."""
    from .cameras import slugs_of

    slugs = slugs_of([camera.name for camera in cameras], "watch")
    sinks = {}
    try:
        for camera in cameras:
            chosen = sinks[camera.name] = []
            if camera.on_match:
                chosen.append(Background("--on-match", CommandHook(camera.on_match, camera.hook_timeout, warn),
                                         warn, camera.hook_timeout + 1, wants=lambda record: record["opens"]))
            if camera.webhook:
                chosen.append(Background("--webhook", Webhook(camera.webhook, 5.0, warn), warn, 6.0))
            if camera.mqtt:
                chosen.append(MqttPublisher(camera.mqtt, warn, camera.name, slugs[camera.name],
                                            camera.mqtt_snapshots))
    except FacegateError:
        for sink in (sink for chosen in sinks.values() for sink in chosen):
            sink.close()
        raise
    return sinks
