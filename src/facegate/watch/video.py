"""Video sources for `facegate watch` and `enroll --video`: cameras, devices, files and streams, read with OpenCV
(an MJPEG stream over HTTP by mjpeg.py, which decodes only the frames wanted).

A live source (camera, device, stream URL, or a file read with `realtime`) is read by a thread of its own that
keeps only the newest frame: the consumer always works on the present, stale frames are dropped, no queue grows.
A file is otherwise read at the consumer's pace, every frame (or `fps` of them per second of video). A live
source that stops delivering, or fails in any way, is reopened with growing pauses; a file ends at its end.
The source is named everywhere (warnings, errors) without its credentials (credentials.shown_source)."""
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FacegateError
from .credentials import shown_source
from .mjpeg import CertificateError, MjpegCapture, NotMjpeg

os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")      # OpenCV's and FFmpeg's own chatter stays off the terminal;
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # problems reach the user as facegate's one-line messages

STREAM_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")
REOPEN_PAUSES = (0.5, 1, 2, 5, 10, 30)
"""Seconds to wait before each attempt to reopen a lost live source; the last repeats."""
STALL_SECONDS = 10
"""A stream that delivers no frame (or does not open) for this long is treated as lost and reopened."""
STOP_CHECK_SECONDS = 0.2
"""How often a consumer waiting for a live frame looks whether it was asked to stop."""
CORRUPT_RUN = 50
"""Undecodable frames in a row after which a file is taken to have ended."""


class SourceError(FacegateError):
    """A video source that cannot be opened or read."""

    def __init__(self, source, reason):
        super().__init__(f"{source}: {reason}")


@dataclass
class Frame:
    """One RGB frame: its number among the frames read, and its time in seconds from the start of the source
    (the video's own clock for a file, the wall clock since opening for a live source)."""

    image: np.ndarray
    time: float
    index: int


def describe(source):
    """How a SOURCE argument is opened: (what OpenCV is given, whether it is live)."""
    text = str(source)
    if text.isdigit():
        return int(text), True
    if text.lower().startswith(STREAM_PREFIXES) or text.startswith("/dev/"):
        return text, True
    return text, False


class VideoSource:
    """Frames of one source (see the module docstring); iterate it once, close it after (or use `with`)."""

    def __init__(self, source, fps=None, realtime=False, warn=None, reopen_pauses=REOPEN_PAUSES, must_open=True,
                 insecure=False):
        """`must_open` False: a live source that does not open now is said once and opened in the background
        (one camera of several, still booting, must not keep the others from watching). `insecure`: an https
        camera's certificate is not checked (watch --insecure-camera)."""
        self.name = shown_source(source)
        self.target, self.live = describe(source)
        self.insecure = insecure
        self.fps = fps
        self.realtime = realtime and not self.live
        self.warn = warn or (lambda message: None)
        self.reopen_pauses = reopen_pauses
        self.reopened = 0
        self.stopping = False
        """Set by request_stop (from a signal handler): the frames end at the next one."""
        self.ended = False
        """No frame will come any more (the file's end, a stop, or close)."""
        self.idle_interval = None
        """Seconds, set by the consumer while its camera shows nothing worth a look: a live source then hands out
        at most one frame per interval (as with fps), and its reader grabs the frames in between without
        decoding them into pictures. A file read at the consumer's pace ignores it (every frame is processed)."""
        self._closed = threading.Event()
        self._reader = self._slot = self._files = self._handed_at = None
        self._release_lock = threading.Lock()
        self._capture = self._open(first=must_open or not self.live)
        if self._capture is None:
            self.warn(f"{self.name}: cannot open the camera; trying again in the background")
        self.native_fps = self._capture.get(_cv2().CAP_PROP_FPS) if self._capture is not None else 0.0
        if not 1 <= self.native_fps <= 240:
            self.native_fps = 25.0  # files and streams that do not say: their frame times are counted at 25/s

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def request_stop(self):
        """End the frames at the next one. Safe in a signal handler: it takes no lock (a handler runs in the middle
        of whatever the main thread does, maybe while it holds the lock the handler would wait for)."""
        self.stopping = True

    def close(self):
        self._closed.set()
        self.ended = True
        if self._reader is not None and self._reader.is_alive():
            self._reader.join(timeout=5)
            if self._reader.is_alive():
                return  # the reader releases the capture when its read returns: OpenCV's capture is not thread-safe
        self._release()

    def _release(self):
        with self._release_lock:
            capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    def __iter__(self):
        """Every frame to process, waiting for each (see `poll`)."""
        wake = threading.Event()
        self.start(wake)
        try:
            while True:
                wake.clear()
                frame = self.poll()
                if frame is not None:
                    yield frame
                elif self.ended:
                    return
                else:
                    wake.wait(self.wait_hint())
        finally:
            self.close()

    def start(self, wake=None):
        """Begin reading: a live source's reader thread starts. `wake` (a threading.Event), if given, is set each
        time a new frame is there, so that one consumer can wait for several sources at once."""
        if self.live or self.realtime:
            self._slot = _NewestFrame(wake)
            self._reader = threading.Thread(target=self._read_into, args=(self._slot,), name="facegate-video",
                                            daemon=True)
            self._reader.start()
        else:
            self._files = self._file_frames()

    def poll(self):
        """The frame to process now, without waiting: a file's next frame; a live source's newest, if there is
        one not yet taken and it is due (at most `fps` a second). None otherwise; `ended` then says whether
        that is for good."""
        if self.stopping or self._closed.is_set():
            self.ended = True
        if self.ended:
            return None
        if self._files is not None:
            frame = next(self._files, None)
            self.ended = frame is None
            return frame
        if self._due_in() > 0:
            return None
        frame, finished = self._slot.take_nowait()
        if frame is not None:
            self._handed_at = time.monotonic()
        self.ended = frame is None and finished
        return frame

    def wait_hint(self):
        """Seconds a consumer with nothing to do may wait for this source (it is woken early by a new frame)."""
        due_in = self._due_in()
        return min(STOP_CHECK_SECONDS, due_in) if due_in > 0 else STOP_CHECK_SECONDS

    def _due_in(self):
        interval = max(1 / self.fps if self.fps else 0.0, self.idle_interval or 0.0)
        if not interval or self._handed_at is None:
            return 0.0
        return self._handed_at + interval - time.monotonic()

    def _open(self, first=False):
        cv2 = _cv2()
        if not self.live and not Path(self.target).is_file():
            raise SourceError(self.name, "no such file" if not Path(self.target).exists() else "not a file")
        if isinstance(self.target, str) and self.target.lower().startswith(("http://", "https://")):
            try:
                return MjpegCapture(self.target, STALL_SECONDS, self.insecure)  # frames decoded only when wanted
            except CertificateError as exc:  # never handed to FFmpeg, which would not check it
                if first:
                    raise SourceError(self.name, str(exc)) from None
                return None
            except OSError:
                if first:
                    raise SourceError(self.name, "cannot open the camera") from None
                return None
            except NotMjpeg:
                pass  # a video over HTTP: FFmpeg's
        if isinstance(self.target, str) and self.target.lower().startswith(STREAM_PREFIXES):
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STALL_SECONDS * 1000, cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                        STALL_SECONDS * 1000]
            capture = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, timeouts)
        else:
            capture = cv2.VideoCapture(self.target)
        if not capture.isOpened():
            capture.release()
            if first:
                reason = "cannot open the camera" if self.live else "not a video OpenCV can read"
                raise SourceError(self.name, reason)
            return None
        return capture

    def _file_frames(self):
        """Every frame of a file, in order, at the consumer's pace; with `fps`, the first frame of each 1/fps.
        A frame that cannot be decoded is skipped (up to CORRUPT_RUN in a row); its time is kept by position. A
        file that OpenCV opens but from which no frame at all can be read (a damaged picture named .jpg) is a
        SourceError."""
        cv2 = _cv2()
        index, next_due, failures, decoded = 0, 0.0, 0, False
        while not self._closed.is_set() and not self.stopping:
            ok, pixels = self._capture.read()
            position = int(self._capture.get(cv2.CAP_PROP_POS_FRAMES) or index + 1)
            image = _rgb(pixels) if ok else None
            if image is None:
                failures += 1
                if failures > CORRUPT_RUN or not ok and position >= self._frame_count():
                    if not decoded:
                        raise SourceError(self.name, "not a video OpenCV can read (no frame could be decoded)")
                    return
                index = max(index + 1, position)
                continue
            failures, index, decoded = 0, position, True
            moment = (position - 1) / self.native_fps
            if self.fps and moment + 1e-9 < next_due:
                continue
            next_due = moment + 1 / self.fps if self.fps else 0
            yield Frame(image, moment, position - 1)

    def _frame_count(self):
        count = self._capture.get(_cv2().CAP_PROP_FRAME_COUNT)
        return count if count and count > 0 else 0

    def _read_into(self, slot):
        """The reader thread: put every frame in the slot (replacing an unused one) until the source ends."""
        started, index = time.monotonic(), 0
        try:
            while not self._closed.is_set():
                if self.realtime:  # a file read as if live: each frame is there at its own time
                    due = started + index / self.native_fps
                    if self._closed.wait(max(0.0, due - time.monotonic())):
                        return
                if not self._grab_or_reopen():
                    return
                moment = index / self.native_fps if self.realtime else time.monotonic() - started
                index += 1
                if self._due_in() > 1.5 / self.native_fps:
                    continue  # the consumer will not want it (a newer one comes before it is due)
                image = self._retrieved()
                if image is not None:
                    slot.put(Frame(image, moment, index - 1))
        finally:
            slot.finish()
            if self._closed.is_set():
                self._release()

    def _retrieved(self):
        """The grabbed frame as RGB, or None when it is not a picture (a live source's failure is its frame's)."""
        try:
            ok, pixels = self._capture.retrieve()
            return _rgb(pixels) if ok else None
        except Exception:  # noqa: BLE001 - whatever a camera sends, it costs one frame, never the watch
            if not self.live:
                raise
            return None

    def _grabbed(self):
        """Whether the next frame was grabbed; any error of a live source (a camera rebooting mid-frame, an
        answer that is not HTTP) counts as a lost frame, to be reopened, never as the end of the watch."""
        try:
            return self._capture is not None and self._capture.grab()
        except Exception:  # noqa: BLE001
            if not self.live:
                raise
            return False

    def _grab_or_reopen(self):
        """Whether the next frame was grabbed (to be retrieved, or not); a lost live source is reopened, with
        pauses, until closed."""
        if self._grabbed():
            return True
        if not self.live:
            return False
        attempt = 0
        while not self._closed.is_set():
            pause = self.reopen_pauses[min(attempt, len(self.reopen_pauses) - 1)]
            self.warn(f"{self.name}: no frame from the source; reopening in {pause:g} s")
            if self._closed.wait(pause):
                break
            attempt += 1
            if self._capture is not None:
                self._capture.release()
            try:
                self._capture = self._open()
            except Exception:  # noqa: BLE001 - a camera answering garbage is one that is not back yet
                self._capture = None
            if self._grabbed():
                self.reopened += 1
                self.warn(f"{self.name}: source reopened")
                return True
        return False


class _NewestFrame:
    """A one-frame mailbox: put replaces what is there, take_nowait empties it; `wake`, if
    given, is set at each put and at the end."""

    def __init__(self, wake=None):
        self._lock = threading.Lock()
        self._frame, self._finished = None, False
        self._wake = wake

    def put(self, frame):
        with self._lock:
            self._frame = frame
        if self._wake is not None:
            self._wake.set()

    def finish(self):
        with self._lock:
            self._finished = True
        if self._wake is not None:
            self._wake.set()

    def take_nowait(self):
        """(the newest frame not taken yet or None, whether the source has ended with nothing left)."""
        with self._lock:
            frame, self._frame = self._frame, None
            return frame, self._finished and frame is None


def _rgb(pixels):
    """OpenCV's BGR frame as RGB uint8; None for a frame that is not a picture (a corrupt one is skipped)."""
    if pixels is None or pixels.ndim not in (2, 3) or pixels.size == 0 or min(pixels.shape[:2]) < 2:
        return None
    cv2 = _cv2()
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    if pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)  # 50 times faster than NumPy's reversed-stride copy


def _cv2():
    import cv2

    return cv2
