"""A camera that fails or lies, through a real socket (servers.ScriptedCamera): one rebooting mid-chunk, one
answering garbage, one trickling bytes, endless header lines, a boundary with dashes, a frame of too many pixels,
a redirect to another host, an https camera with a certificate nobody signed. Each must cost frames at most,
never the watch, the camera's credentials, or an unchecked certificate."""
import datetime
import ssl
import threading
import time

import pytest

from servers import MULTIPART_HEAD, ScriptedCamera, multipart_part
from watching import clip_jpegs

JPEGS = clip_jpegs(90, 96)


def streaming(frames=10_000, fps=30, length=True):
    """A script: a well-behaved MJPEG stream of the clip's frames."""
    def script(connection):
        connection.sendall(MULTIPART_HEAD + b"\r\n")
        for index in range(frames):
            connection.sendall(multipart_part(JPEGS[index % len(JPEGS)], length))
            time.sleep(1 / fps)
    return script


def chunked_then_dropped(connection):
    """Three frames in chunked transfer encoding, then a chunk cut short: a camera rebooting mid-frame
    (http.client raises IncompleteRead, which is not an OSError)."""
    connection.sendall(MULTIPART_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    for jpeg in JPEGS[:3]:
        part = multipart_part(jpeg)
        connection.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
    connection.sendall(b"%x\r\n" % 100_000 + JPEGS[3][:500])


def garbage(connection):
    """A camera still booting: no HTTP status line at all (http.client's BadStatusLine)."""
    connection.sendall(b"\x00\x17 booting\r\n\r\n")


def frames_of(source, count, seconds=60):
    """The first `count` frames of a VideoSource (fewer if it ends or the time is up), read in a thread."""
    got = []

    def read():
        for frame in source:
            got.append(frame)
            if len(got) == count:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(seconds)
    source.close()
    return got


def test_a_camera_rebooting_mid_chunk_and_answering_garbage_is_reopened_not_the_end():
    """The stream breaks inside a chunk, the camera then answers garbage once, then streams again: the source
    says each loss, reopens with its pauses and goes on delivering frames (it ended there, exit 0, before)."""
    from facegate.watch.video import VideoSource

    said = []
    with ScriptedCamera([chunked_then_dropped, garbage, streaming()]) as camera:
        source = VideoSource(camera.url, warn=said.append, reopen_pauses=(0.1,))
        frames = frames_of(source, 20)
    assert len(frames) == 20, said
    assert len(camera.requests) >= 3
    assert sum("reopening" in message for message in said) >= 2 and "source reopened" in said[-1], said


def test_a_watch_goes_on_through_a_camera_reboot(photo_db):
    """The command itself: `facegate watch` of a camera that drops mid-chunk and then answers garbage is still
    watching after both (the reader thread died and the watch exited 0 with its summary, before)."""
    import signal

    from watching import watching

    with ScriptedCamera([chunked_then_dropped, garbage, streaming()]) as camera:
        process = watching(photo_db, camera.url)
        lines, deadline = [], time.monotonic() + 120
        try:
            while time.monotonic() < deadline and not any("source reopened" in line for line in lines):
                line = process.stderr.readline()
                if not line:
                    break
                lines.append(line)
            time.sleep(1)
            assert process.poll() is None, lines + [process.stderr.read()]
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    assert any("source reopened" in line for line in lines), lines
    assert process.returncode == 0 and "Traceback" not in "".join(lines) + stderr


def test_a_trickling_camera_and_endless_header_lines_are_given_up_on():
    """A server that sends a frame a byte every 0.2 s is never stalled by a per-read timeout; one that sends
    header lines without end never reaches a frame: both fail within the whole-frame deadline or the header cap
    (grab returns False: the source then reopens), instead of holding the reader for good."""
    from facegate.watch.mjpeg import MjpegCapture

    def trickle(connection):
        connection.sendall(MULTIPART_HEAD + b"\r\n--frame\r\nContent-Length: %d\r\n\r\n" % len(JPEGS[0]))
        for byte in JPEGS[0]:
            connection.sendall(bytes([byte]))
            time.sleep(0.2)

    def endless_headers(connection):
        connection.sendall(MULTIPART_HEAD + b"\r\n--frame\r\n")
        for number in range(10 ** 6):
            connection.sendall(b"X-Padding-%d: nothing\r\n" % number)

    for script in (trickle, endless_headers):
        with ScriptedCamera([script]) as camera:
            capture = MjpegCapture(camera.url, timeout=2)
            outcome = []
            grabbing = threading.Thread(target=lambda: outcome.append(capture.grab()), daemon=True)
            grabbing.start()
            grabbing.join(60)
            capture.release()
        assert outcome == [False], script.__name__


def test_a_boundary_declared_with_dashes_and_parts_without_lengths_are_split_right():
    """`boundary=--x` means delimiter lines `----x` (RFC 2046); some cameras write `--x` instead. Both, with
    parts that say no Content-Length, give the camera's frames whole."""
    import cv2
    import numpy as np

    from facegate.watch.mjpeg import MjpegCapture

    def dashed(delimiter):
        def script(connection):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=--x\r\n\r\n")
            for jpeg in JPEGS:
                connection.sendall(multipart_part(jpeg, length=False, delimiter=delimiter))
            time.sleep(5)
        return script

    for delimiter in (b"----x", b"--x"):
        with ScriptedCamera([dashed(delimiter)]) as camera:
            capture = MjpegCapture(camera.url, timeout=10)
            grabbed = [capture.retrieve()[1] if capture.grab() else None for _ in JPEGS[:-1]]
            capture.release()
        expected = [cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) for jpeg in JPEGS[:-1]]
        assert all(g is not None and np.array_equal(g, e) for g, e in zip(grabbed, expected)), delimiter


def test_a_frame_of_too_many_pixels_is_never_decoded():
    """A 7100x7100 JPEG (50.4 million pixels, a few hundred kB on the wire) is refused from its header; the
    camera's ordinary frames around it are decoded."""
    import cv2
    import numpy as np

    from facegate.watch.mjpeg import MAX_FRAME_PIXELS, MjpegCapture, picture_pixels

    huge = cv2.imencode(".jpg", np.zeros((7100, 7100), np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 10])[1].tobytes()
    assert picture_pixels(huge) == 7100 * 7100 > MAX_FRAME_PIXELS and len(huge) < 4 * 2 ** 20

    def script(connection):
        connection.sendall(MULTIPART_HEAD + b"\r\n")
        for jpeg in (JPEGS[0], huge, JPEGS[1]):
            connection.sendall(multipart_part(jpeg))
        time.sleep(5)

    with ScriptedCamera([script]) as camera:
        capture = MjpegCapture(camera.url, timeout=10)
        outcomes = []
        for _ in range(3):
            assert capture.grab()
            outcomes.append(capture.retrieve()[0])
        capture.release()
    assert outcomes == [True, False, True]


def test_credentials_follow_a_redirect_to_the_same_host_only():
    """The camera's user and password (HTTP Basic) are sent to the host they were given for, and to it again
    after a redirect to another of its paths, never to another host it redirects to (urllib forwarded them)."""
    from facegate.watch.mjpeg import MjpegCapture

    def redirect_to(url):
        return lambda connection: connection.sendall(
            b"HTTP/1.1 302 Found\r\nLocation: " + url.encode() + b"\r\nContent-Length: 0\r\n\r\n")

    with ScriptedCamera([streaming()], address="127.0.0.2") as other:
        with ScriptedCamera([redirect_to(other.url)]) as camera:
            MjpegCapture(camera.url.replace("http://", "http://door:s3cr3t@"), timeout=10).release()
    assert "Authorization: Basic" in camera.requests[0]
    assert other.requests and "Authorization" not in other.requests[0]

    with ScriptedCamera([None, streaming()]) as camera:
        camera.scripts[0] = redirect_to(camera.url + "2")
        MjpegCapture(camera.url.replace("http://", "http://door:s3cr3t@"), timeout=10).release()
    assert len(camera.requests) == 2 and all("Authorization: Basic" in r for r in camera.requests)
    assert camera.requests[1].startswith("GET /stream2 ")


def self_signed(folder):
    """An ssl server context with a certificate for 127.0.0.1 that nobody signed."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "camera")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    (folder / "camera.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "camera.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "camera.pem", folder / "camera.key")
    return context


def test_an_https_camera_whose_certificate_does_not_verify_is_refused_unless_named_insecure(tmp_path, photo_db):
    """Its credentials were handed to FFmpeg, which does not check certificates: now the camera is refused in one
    line naming --insecure-camera, and with that option (by the camera's name or host) it is read by facegate's
    own reader, its certificate unchecked, as its owner asked."""
    from conftest import run_facegate
    from facegate.watch.mjpeg import MjpegCapture
    from facegate.watch.video import SourceError, VideoSource

    with ScriptedCamera([streaming()], context=self_signed(tmp_path)) as camera:
        url = camera.url.replace("https://", "https://door:s3cr3t@")
        with pytest.raises(SourceError, match="certificate does not verify .*--insecure-camera"):
            VideoSource(url)
        assert not any("Authorization" in request for request in camera.requests)
        with VideoSource(url, insecure=True) as source:
            assert isinstance(source._capture, MjpegCapture)
            assert len(frames_of(source, 3)) == 3
        refused = run_facegate("--db", photo_db, "watch", url)
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.startswith(f"facegate: error: {camera.url}: its certificate does not verify")
        assert "s3cr3t" not in refused.stderr and len(refused.stderr.splitlines()) == 1
        wrong = run_facegate("--db", photo_db, "watch", f"front={url}", "--insecure-camera", "back")
        assert wrong.returncode == 2 and "--insecure-camera back: no camera" in wrong.stderr
