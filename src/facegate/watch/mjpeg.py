"""An MJPEG camera over HTTP (multipart/x-mixed-replace: what most IP cameras, ESP32-CAMs, motion and Frigate's
debug streams serve), read without FFmpeg: each part's JPEG bytes are taken off the connection as they come and
only the frames a watcher wants are decoded. OpenCV's FFmpeg capture decodes every frame it grabs, which was most
of what a still 30 frames/s camera cost (docs/performance.md, "Several cameras"). It offers the part of
cv2.VideoCapture that VideoSource uses: grab, retrieve, read, get, isOpened, release."""
import base64
import ssl
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

MAX_HEADER_LINE = 8192
MAX_FRAME_BYTES = 32 * 2**20
"""A part larger than this is not a camera's frame: the stream is taken as broken (and reopened)."""


class NotMjpeg(Exception):
    """The URL answers, but not with a multipart stream (a video file or an HLS playlist: FFmpeg's to read)."""


class MjpegCapture:
    """One connection to an MJPEG stream. Raises NotMjpeg, or OSError when the camera cannot be reached."""

    def __init__(self, url, timeout):
        url, headers = _basic_authentication(url)
        try:
            self._response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as error:
            raise OSError(f"HTTP {error.code}") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, ssl.SSLError):  # a camera's own certificate: FFmpeg's, as before
                raise NotMjpeg(str(error.reason)) from None
            raise
        except ValueError as error:  # not a URL urllib can open
            raise NotMjpeg(str(error)) from None
        content_type = self._response.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/"):
            self._response.close()
            raise NotMjpeg(content_type)
        boundary = dict(_parameters(content_type)).get("boundary", "").strip('"').lstrip("-")
        self._marker = ("--" + boundary).encode("latin-1") if boundary else b"--"
        self._jpeg, self._at_headers = None, False

    def isOpened(self):  # noqa: N802 - cv2.VideoCapture's names
        return self._response is not None

    def get(self, _property):
        return 0.0  # a stream does not say its frame rate

    def grab(self):
        """Take the next frame's bytes off the connection, undecoded; False when the stream broke or ended."""
        try:
            length = self._part_length()
            self._jpeg = self._response.read(length) if length is not None else self._until_marker()
        except (OSError, ValueError, EOFError):
            self._jpeg = None
        return bool(self._jpeg)

    def retrieve(self):
        """(ok, the grabbed frame decoded to BGR)."""
        import cv2

        if not self._jpeg:
            return False, None
        pixels = cv2.imdecode(np.frombuffer(self._jpeg, np.uint8), cv2.IMREAD_COLOR)
        return pixels is not None, pixels

    def read(self):
        return self.retrieve() if self.grab() else (False, None)

    def release(self):
        response, self._response = self._response, None
        if response is not None:
            response.close()

    def _line(self):
        line = self._response.readline(MAX_HEADER_LINE)
        if not line:
            raise EOFError
        return line.strip()

    def _part_length(self):
        """Skip to the next part's headers and read them: its Content-Length, or None when it gives none."""
        if not self._at_headers:  # the previous part's delimiter line is still ahead
            line = self._line()
            while not line.startswith(b"--"):  # the CRLF ending the previous part, or preamble
                line = self._line()
        self._at_headers, length = False, None
        line = self._line()
        while line:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
                if not 0 < length <= MAX_FRAME_BYTES:
                    raise ValueError(f"part of {length} bytes")
            line = self._line()
        return length

    def _until_marker(self):
        """A part without Content-Length: its bytes up to the next boundary line (read too: the next part's
        headers come next)."""
        data = bytearray()
        while True:
            line = self._response.readline(MAX_FRAME_BYTES)
            if not line:
                raise EOFError
            if line.startswith(self._marker):
                self._at_headers = True
                return bytes(data)[:-2] if data.endswith(b"\r\n") else bytes(data)
            data += line
            if len(data) > MAX_FRAME_BYTES:
                raise ValueError("part without end")


def _parameters(content_type):
    for item in content_type.split(";")[1:]:
        key, _, value = item.partition("=")
        yield key.strip().lower(), value.strip()


def without_credentials(source):
    """A camera's source with a URL's user and password taken out (to connect with, or to show)."""
    parts = urllib.parse.urlsplit(str(source))
    if parts.scheme and "@" in parts.netloc:
        return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return str(source)


def _basic_authentication(url):
    """(the URL without user:password, headers with them as HTTP Basic authentication)."""
    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": "facegate"}
    if parts.username is None:
        return url, headers
    credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return without_credentials(url), headers
