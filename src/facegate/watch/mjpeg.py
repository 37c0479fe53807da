"""An MJPEG camera over HTTP (multipart/x-mixed-replace: what most IP cameras, ESP32-CAMs, motion and Frigate's
debug streams serve), read without FFmpeg: each part's JPEG bytes are taken off the connection as they come and
only the frames a watcher wants are decoded. OpenCV's FFmpeg capture decodes every frame it grabs, which was most
of what a still 30 frames/s camera cost (docs/performance.md, "Several cameras"). It offers the part of
cv2.VideoCapture that VideoSource uses: grab, retrieve, get, isOpened, release.

A camera is not trusted: a frame's pixels are capped before it is decoded, a part's header lines are capped in
length and number, every frame must arrive whole within the deadline (a server that trickles a byte at a time
is as stalled as one that sends nothing), credentials follow a redirect only to the same scheme, host and port,
and an https camera whose certificate does not verify is refused unless it is named insecure."""
import http.client
import ssl
import threading
import time
import urllib.parse

import numpy as np

from .credentials import basic_authentication

MAX_HEADER_LINE = 8192
MAX_HEADER_LINES = 64
"""Header lines of one part (or lines between parts) past which the stream is taken as broken."""
MAX_FRAME_BYTES = 32 * 2**20
"""A part larger than this is not a camera's frame: the stream is taken as broken (and reopened)."""
MAX_FRAME_PIXELS = 50_000_000
"""A frame claiming more pixels (8K is 33 million) is not decoded: it is skipped as a damaged one."""
MAX_REDIRECTS = 3


class NotMjpeg(Exception):
    """The URL answers, but not with a multipart stream (a video file or an HLS playlist: FFmpeg's to read)."""


class CertificateError(OSError):
    """An https camera whose certificate does not verify, not named insecure."""


class MjpegCapture:
    """One connection to an MJPEG stream. Raises NotMjpeg, CertificateError, or OSError when the camera cannot be
    reached or answers with an error. `timeout`: seconds for the connection and for each whole frame.
    `insecure`: an https camera's certificate is not checked (its owner said so, by name)."""

    def __init__(self, url, timeout, insecure=False):
        self.timeout = timeout
        self._response = self._jpeg = None
        self._at_headers = False
        self._deadline = None
        self._stopped = threading.Event()
        self._response, self._socket = _open(url, timeout, insecure)
        content_type = self._response.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/"):
            self.release()
            raise NotMjpeg(content_type)
        boundary = dict(_parameters(content_type)).get("boundary", "").strip('"').encode("latin-1")
        self._markers = {b"--" + boundary, boundary} if boundary.startswith(b"--") else {b"--" + boundary}
        threading.Thread(target=self._watchdog, name="facegate-mjpeg-deadline", daemon=True).start()

    def isOpened(self):  # noqa: N802 - cv2.VideoCapture's names
        return self._response is not None

    def get(self, _property):
        return 0.0  # a stream does not say its frame rate

    def grab(self):
        """Take the next frame's bytes off the connection, undecoded; False when the stream broke, ended, or
        did not deliver a whole frame within the deadline."""
        self._deadline = time.monotonic() + self.timeout
        try:
            length = self._part_length()
            self._jpeg = self._exactly(length) if length is not None else self._until_marker()
        except (OSError, ValueError, EOFError, http.client.HTTPException, AttributeError):
            self._jpeg = None  # AttributeError: http.client's reader after the watchdog closed its socket
        finally:
            self._deadline = None
        return bool(self._jpeg)

    def retrieve(self):
        """(ok, the grabbed frame decoded to BGR); not ok for a frame that is not a picture or is too large."""
        import cv2

        if not self._jpeg or not 0 < (picture_pixels(self._jpeg) or 0) <= MAX_FRAME_PIXELS:
            return False, None
        pixels = cv2.imdecode(np.frombuffer(self._jpeg, np.uint8), cv2.IMREAD_COLOR)
        return pixels is not None, pixels

    def release(self):
        self._stopped.set()
        response, self._response = self._response, None
        if response is not None:
            _shut(self._socket)
            response.close()

    def _watchdog(self):
        """Ends a grab that overruns its deadline: its socket is shut, so the read under way fails at once."""
        while not self._stopped.wait(0.25):
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                _shut(self._socket)
                return

    def _line(self):
        line = self._response.readline(MAX_HEADER_LINE + 1)
        if not line:
            raise EOFError
        if len(line) > MAX_HEADER_LINE:
            raise ValueError("header line too long")
        return line.strip()

    def _part_length(self):
        """Skip to the next part's headers and read them: its Content-Length, or None when it gives none."""
        if not self._at_headers:  # the previous part's delimiter line is still ahead
            for _ in range(MAX_HEADER_LINES):
                if self._line() in self._markers:  # after the CRLF ending the previous part, or a preamble
                    break
            else:
                raise ValueError("no part boundary")
        self._at_headers, length = False, None
        for _ in range(MAX_HEADER_LINES):
            line = self._line()
            if not line:
                return length
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
                if not 0 < length <= MAX_FRAME_BYTES:
                    raise ValueError(f"part of {length} bytes")
        raise ValueError("too many header lines")

    def _exactly(self, length):
        data = self._response.read(length)
        if len(data) < length:
            raise EOFError
        return data

    def _until_marker(self):
        """A part without Content-Length: its bytes up to the next boundary line (read too: the next part's
        headers come next)."""
        data = bytearray()
        while True:
            line = self._response.readline(MAX_FRAME_BYTES)
            if not line:
                raise EOFError
            if line.rstrip() in self._markers:
                self._at_headers = True
                return bytes(data)[:-2] if data.endswith(b"\r\n") else bytes(data)
            data += line
            if len(data) > MAX_FRAME_BYTES:
                raise ValueError("part without end")


def _open(url, timeout, insecure):
    """(the response of a GET of `url`, its socket), following up to MAX_REDIRECTS redirects; the camera's
    credentials (HTTP Basic from the URL) go only to the scheme, host and port they were given for."""
    url, headers = basic_authentication(url)
    origin = _origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotMjpeg(f"not an http(s) URL: {parts.scheme}")
        if _origin(url) != origin:
            headers.pop("Authorization", None)
        connection = _connection(parts, timeout, insecure)
        try:
            connection.request("GET", urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")),
                               headers=headers)
            sock = connection.sock  # (getresponse lets go of it when the answer has no length, as a stream's)
            response = connection.getresponse()
        except ssl.SSLCertVerificationError as exc:
            connection.close()
            raise CertificateError(f"its certificate does not verify ({exc.verify_message}); name it with "
                                   f"--insecure-camera to read it anyway") from None
        except (http.client.HTTPException, ssl.SSLError) as exc:
            connection.close()
            raise OSError(f"not an HTTP answer ({type(exc).__name__})") from None
        if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
            url = urllib.parse.urljoin(url, response.getheader("Location"))
            connection.close()
            continue
        if response.status != 200:
            connection.close()
            raise OSError(f"HTTP {response.status}")
        return response, sock
    raise OSError("too many redirects")


def _connection(parts, timeout, insecure):
    if parts.scheme == "http":
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)


def _origin(url):
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _shut(sock):
    import socket

    try:
        sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError):
        pass


def _parameters(content_type):
    for item in content_type.split(";")[1:]:
        key, _, value = item.partition("=")
        yield key.strip().lower(), value.strip()


def picture_pixels(data):
    """Width x height of a JPEG (from its frame header) or a PNG (its IHDR), read without decoding; None when
    `data` is neither or says no size."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big") * int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        length = int.from_bytes(data[at + 2:at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if at + 9 > len(data):
                return None
            return int.from_bytes(data[at + 5:at + 7], "big") * int.from_bytes(data[at + 7:at + 9], "big")
        if marker == 0xDA or length < 2:  # the scan began before any frame header
            return None
        at += 2 + length
    return None
