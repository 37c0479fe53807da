"""What `facegate watch` tells the world: one event record per decision, and the places it goes.

Every sink but the printer works in a background thread behind a bounded queue, so a slow door script, web
server or broker never holds up the frame loop; what cannot be delivered is said on stderr in one line."""
import json
import os
import queue
import shlex
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

from .errors import FacegateError, printable
from .records import rounded

QUEUE_LIMIT = 100
"""Events waiting for one slow sink; past this the oldest are dropped (and said so)."""


def event_record(event, track, identity, distance, threshold, frames, time, box, source, claim=None, opens=False):
    """The JSON contract of watch's events (README, 'Watching a camera')."""
    record = {"event": event, "track": track, "identity": identity, "distance": rounded(distance),
              "threshold": threshold, "frames": frames, "time": round(float(time), 3),
              "wall_time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
              "box": [int(v) for v in box], "source": source, "opens": bool(opens)}
    if claim is not None:
        record["claim"] = claim
    return record


class Background:
    """A daemon thread that handles records one at a time from a bounded queue (see QUEUE_LIMIT)."""

    def __init__(self, name, handle, warn):
        self.name, self.handle, self.warn = name, handle, warn
        self._queue = queue.Queue(QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._run, name=f"facegate-{name}", daemon=True)
        self._thread.start()

    def __call__(self, record):
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

    def close(self, timeout):
        """Deliver what is queued (for up to `timeout` seconds), then stop."""
        self(None)
        self._thread.join(timeout)


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


class MqttPublisher:
    """--mqtt mqtt://[USER:PASSWORD@]HOST[:PORT]/TOPIC: publish each event (QoS 1) with paho-mqtt, which
    connects and reconnects in its own thread."""

    def __init__(self, url, warn):
        parts = urllib.parse.urlsplit(url)
        self.topic = urllib.parse.unquote(parts.path.lstrip("/"))
        if parts.scheme != "mqtt" or not parts.hostname or not self.topic:
            raise FacegateError(f"--mqtt {url}: expected mqtt://HOST[:PORT]/TOPIC")
        import paho.mqtt.client as mqtt

        self.warn, self.where = warn, f"{parts.hostname}:{parts.port or 1883}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"facegate-{os.getpid()}")
        if parts.username:
            self.client.username_pw_set(urllib.parse.unquote(parts.username),
                                        urllib.parse.unquote(parts.password or ""))
        self.client.on_connect = self._connected
        self.client.max_queued_messages_set(QUEUE_LIMIT)  # a broker that is down does not make memory grow
        self.client.reconnect_delay_set(1, 30)
        self.client.connect_async(parts.hostname, parts.port or 1883)
        self.client.loop_start()
        self._pending = []

    def _connected(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.warn(f"--mqtt {self.where}: connection refused ({reason_code})")

    def __call__(self, record):
        self._pending = [info for info in self._pending if not info.is_published()]
        info = self.client.publish(self.topic, json.dumps(record), qos=1)
        if info.rc == 0:
            self._pending.append(info)
        else:
            self.warn(f"--mqtt {self.where}: an event was dropped (broker unreachable, {QUEUE_LIMIT} waiting)")

    def close(self, timeout):
        for info in self._pending:
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                pass
        unsent = sum(1 for info in self._pending if not info.is_published())
        if unsent:
            self.warn(f"--mqtt {self.where}: {unsent} event(s) not delivered")
        self.client.disconnect()
        self.client.loop_stop()


class Dispatcher:
    """Where each event goes: `show` (the printer) at once, then the door command (events that open only), the
    webhook and the MQTT topic, each in the background."""

    def __init__(self, show, warn, on_match=None, hook_timeout=10.0, webhook=None, mqtt=None, access_log=None):
        self.show, self.hook_timeout, self.warn, self.access_log = show, hook_timeout, warn, access_log
        self.hook = Background("--on-match", CommandHook(on_match, hook_timeout, warn), warn) if on_match else None
        self.webhook = Background("--webhook", Webhook(webhook, 5.0, warn), warn) if webhook else None
        self.mqtt = MqttPublisher(mqtt, warn) if mqtt else None

    def __call__(self, record, frame=None):
        if self.access_log is not None and record["event"] != "left":
            self._log(record, frame)
        self.show(record)
        if self.hook and record["opens"]:
            self.hook(record)
        if self.webhook:
            self.webhook(record)
        if self.mqtt:
            self.mqtt(record)

    def _log(self, record, frame):
        """The decision into the access log first; one that cannot be logged under --require-log opens nothing."""
        from PIL import Image

        from .accesslog import LogError

        face = None
        if frame is not None and self.access_log.faces:
            x, y, w, h = record["box"]
            face = Image.fromarray(frame.image[y:y + h, x:x + w])
        try:
            self.access_log.record("watch", record["event"], identity=record["identity"], claim=record.get("claim"),
                                   distance=record["distance"], threshold=record["threshold"],
                                   picture=frame.image.tobytes() if frame is not None else None, face=face,
                                   source=record["source"], track=record["track"])
        except LogError as exc:
            record["opens"] = False
            self.warn(str(exc))

    def close(self):
        """Deliver what is still queued (a door command may take its whole timeout), then stop."""
        if self.hook:
            self.hook.close(self.hook_timeout + 1)
        if self.webhook:
            self.webhook.close(6.0)
        if self.mqtt:
            self.mqtt.close(5.0)


class Cooldown:
    """--cooldown: one opening per person per `seconds` (on the source's clock)."""

    def __init__(self, seconds):
        self.seconds, self._last = seconds, {}

    def allows(self, identity, time):
        last = self._last.get(identity)
        if last is not None and time - last < self.seconds:
            return False
        self._last[identity] = time
        return True
