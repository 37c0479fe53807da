"""Real servers the tests start on loopback ports: an HTTP receiver for webhooks, an MQTT broker (amqtt) and an
MJPEG camera stream (frames of the dev clip) that can drop its viewers."""
import asyncio
import json
from pathlib import Path
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Served:
    """An HTTP server (self.server) run in a thread for the length of a `with` block."""

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        self.stop()
        self.server.shutdown()
        self.server.server_close()

    def stop(self):
        pass


class WebhookReceiver(_Served):
    """Collects the JSON bodies POSTed to http://127.0.0.1:PORT/ (answers 204)."""

    def __init__(self):
        self.bodies = []
        receiver = self

        class Handler(_Quiet):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"


class MqttBroker:
    """An amqtt broker on a free loopback port (or `port`: a broker restarted), in a thread of its own, with one
    subscriber to `topic` and everything under it (each camera's TOPIC/<camera id>)."""

    def __init__(self, topic, users=None, password_file=None, port=None):
        """`users` ({name: password}): only they may connect (Argon2 hashes in `password_file`); the test's own
        subscriber connects as the first of them."""
        self.port, self.topic, self.messages, self.topics = port or free_port(), topic, [], []
        self.payloads = []
        """(topic, payload bytes) of every message received, JSON or not (availability, snapshots)."""
        self.users, self.password_file = users or {}, password_file
        self._loop = asyncio.new_event_loop()

    def __enter__(self):
        from amqtt.broker import Broker
        import paho.mqtt.client as mqtt

        threading.Thread(target=self._loop.run_forever, daemon=True).start()

        config = {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}}}
        if self.users:
            from pwdlib import PasswordHash
            from pwdlib.hashers.argon2 import Argon2Hasher

            hasher = PasswordHash((Argon2Hasher(),))
            Path(self.password_file).write_text("".join(f"{name}:{hasher.hash(password)}\n"
                                                        for name, password in self.users.items()))
            config["plugins"] = {"amqtt.plugins.authentication.FileAuthPlugin":
                                 {"password_file": str(self.password_file)}}

        async def start():
            broker = Broker(config)
            await broker.start()
            return broker

        self._broker = asyncio.run_coroutine_threadsafe(start(), self._loop).result(30)
        self._subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self._subscriber.on_message = self._received
        subscribed = threading.Event()
        self._subscriber.on_subscribe = lambda *args: subscribed.set()
        if self.users:
            self._subscriber.username_pw_set(*next(iter(self.users.items())))
        self._subscriber.connect("127.0.0.1", self.port)
        self._subscriber.subscribe(f"{self.topic}/#", qos=1)
        self._subscriber.loop_start()
        assert subscribed.wait(30), "the test's MQTT subscriber did not get its subscription"
        return self

    def _received(self, client, userdata, message):
        """Events (JSON) into `messages`, with their topics in `topics`; every message into `payloads`."""
        self.payloads.append((message.topic, bytes(message.payload)))
        try:
            event = json.loads(message.payload)
        except ValueError:
            return
        self.messages.append(event)
        self.topics.append(message.topic)

    def __exit__(self, *exc_info):
        self._subscriber.disconnect()
        self._subscriber.loop_stop()
        asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}/{self.topic}"

    def retained(self, topic_filter, seconds=10):
        """{topic: payload text} of the retained messages under `topic_filter`, as a client connecting now sees them."""
        import paho.mqtt.client as mqtt

        found, reader = {}, mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if self.users:
            reader.username_pw_set(*next(iter(self.users.items())))
        reader.on_message = lambda client, userdata, message: found.__setitem__(message.topic,
                                                                                message.payload.decode())
        reader.connect("127.0.0.1", self.port)
        reader.subscribe(topic_filter, qos=1)
        reader.loop_start()
        time.sleep(seconds / 5)
        deadline = time.monotonic() + seconds
        while not found and time.monotonic() < deadline:
            time.sleep(0.1)
        reader.loop_stop()
        reader.disconnect()
        # amqtt also sends other retained topics
        return {t: payload for t, payload in found.items() if mqtt.topic_matches_sub(topic_filter, t)}

    def wait_for(self, count, seconds=30):
        deadline = time.monotonic() + seconds
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.messages


class MjpegCamera(_Served):
    """A network camera: http://127.0.0.1:PORT/stream serves JPEG frames (multipart/x-mixed-replace) at `fps`.

    Each viewer gets `frames_per_connection` frames, then the connection drops (a flaky network); the camera
    keeps serving from where the previous viewer was, so a reconnecting viewer sees the video go on."""

    def __init__(self, jpeg_frames, fps=15, frames_per_connection=40, credentials=None, lengths=True):
        """`credentials` "USER:PASSWORD": viewers must give them (HTTP Basic), else 401; `lengths` False: the parts
        say no Content-Length (as some cameras do) and the boundary is declared with leading dashes."""
        self.frames, self.fps, self.per_connection = jpeg_frames, fps, frames_per_connection
        self.connections, self.position, self.stopped = 0, 0, threading.Event()
        self.sent = []
        """(wall-clock time, position) of each frame sent: frame `position % len(jpeg_frames)` of the loop."""
        camera = self

        class Handler(_Quiet):
            def do_GET(self):
                import base64

                expected = "Basic " + base64.b64encode(credentials.encode()).decode() if credentials else None
                if expected and self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                    self.end_headers()
                    return
                camera.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=" +
                                 ("frame" if lengths else "--frame"))
                self.end_headers()
                try:
                    for _ in range(camera.per_connection):
                        if camera.stopped.is_set():
                            return
                        jpeg = camera.frames[camera.position % len(camera.frames)]
                        camera.sent.append((time.time(), camera.position))
                        camera.position += 1
                        length = b"Content-Length: %d\r\n" % len(jpeg) if lengths else b""
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n" + length + b"\r\n" + jpeg
                                         + b"\r\n")
                        time.sleep(1 / camera.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream"

    def stop(self):
        self.stopped.set()


class ScriptedCamera:
    """A camera that misbehaves on purpose, on a raw loopback socket: connection N (from 0) is answered by
    `scripts[min(N, len(scripts) - 1)](connection)`, which writes whatever bytes it likes and returns (the
    connection is then closed). `address` may be another loopback address (127.0.0.2). `context`, an
    ssl.SSLContext, makes it an https camera. `requests` keeps each request's header block as text."""

    def __init__(self, scripts, address="127.0.0.1", context=None, path="/stream"):
        self.scripts, self.context, self.requests = list(scripts), context, []
        self.listener = socket.create_server((address, 0))
        self.listener.settimeout(0.2)
        self.stopped = threading.Event()
        self.url = f"{'https' if context else 'http'}://{address}:{self.listener.getsockname()[1]}{path}"

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.listener.close()

    def _accept(self):
        number = 0
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            script = self.scripts[min(number, len(self.scripts) - 1)]
            number += 1
            threading.Thread(target=self._answer, args=(connection, script), daemon=True).start()

    def _answer(self, connection, script):
        try:
            connection.settimeout(30)
            if self.context is not None:
                connection = self.context.wrap_socket(connection, server_side=True)
            request = b""
            while b"\r\n\r\n" not in request:
                piece = connection.recv(4096)
                if not piece:
                    return
                request += piece
            self.requests.append(request.decode("latin-1"))
            script(connection)
        except (OSError, ValueError):
            pass  # the viewer went away, or refused the certificate
        finally:
            try:
                connection.close()
            except OSError:
                pass


MULTIPART_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n"


def multipart_part(jpeg, length=True, delimiter=b"--frame"):
    """One part of an MJPEG stream: its delimiter line, headers (with Content-Length unless `length` is False),
    the JPEG and its CRLF."""
    size = b"Content-Length: %d\r\n" % len(jpeg) if length else b""
    return delimiter + b"\r\nContent-Type: image/jpeg\r\n" + size + b"\r\n" + jpeg + b"\r\n"
