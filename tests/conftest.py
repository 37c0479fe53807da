"""Shared fixtures: the real model (loaded once per session), the seed images and the shared dev data."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import facegate

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "images"
DATA = (ROOT / "../shared/data").resolve()  # the shared dev data beside the checkout (CI has it too)
STAFF = ["andrew", "arnaud", "benoit", "bertrand", "dan", "danielle", "felix", "kevin", "kian", "sebastiano",
         "tian", "younes"]


def staff_photo(name):
    return IMAGES / (f"{name}.png" if name == "danielle" else f"{name}.jpg")


@pytest.fixture(scope="session")
def model():
    return facegate.load_model()


@pytest.fixture(scope="session")
def staff_encodings(model):
    """{name: unit embedding} of the 12 seed staff photos, as the notebook's `database` dict."""
    results = facegate.encode_images([staff_photo(name) for name in STAFF], model)
    assert all(len(r.faces) == 1 and r.error is None for r in results), results
    return {name: r.faces[0].embedding for name, r in zip(STAFF, results)}


@pytest.fixture
def staff_db(tmp_path, staff_encodings, model):
    """A saved database folder with the 12 staff enrolled."""
    database = facegate.Database(tmp_path / "db")
    for name, encoding in staff_encodings.items():
        database.add(name, [encoding], [staff_photo(name).name], model.name)
    database.save()
    return database.path


def run_facegate(*args, check_stderr_clean=False, environment=None):
    """Run the real CLI in a subprocess, as a user would (with `environment`'s variables added, if given)."""
    env = {k: v for k, v in os.environ.items() if k not in ("FACEGATE_DB", "FACEGATE_DEBUG", "FACEGATE_DOOR")}
    env.update(environment or {})
    result = subprocess.run([sys.executable, "-m", "facegate", *map(str, args)], capture_output=True,
                            text=True, env=env, timeout=600)
    return result


def one_error_line(result, *words):
    """A command that failed as facegate fails: exit 2, one line `facegate: error: ...` naming each of `words`."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facegate: error:"), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def snapshot(folder):
    """Every file under `folder` with its bytes: a failed command must leave this unchanged."""
    folder = Path(folder)
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def shrunk_clip(source, target, scale_at, start=0.0, end=float("inf")):
    """`source`'s frames from `start` to `end` s (its own clock) written to `target` (MJPEG), each shrunk about the
    centre by scale_at(seconds since start, frame number), black around: a person far from the camera, coming up."""
    import cv2
    import numpy as np

    capture = cv2.VideoCapture(str(source))
    fps, writer, index, kept = capture.get(cv2.CAP_PROP_FPS), None, 0, 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        since = index / fps - start
        index += 1
        if not 0 <= since < end - start:
            continue
        scale = scale_at(since, kept)
        kept += 1
        height, width = frame.shape[:2]
        small = cv2.resize(frame, (int(width * scale), int(height * scale)), interpolation=cv2.INTER_AREA)
        frame = np.zeros_like(frame)
        y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
        frame[y:y + small.shape[0], x:x + small.shape[1]] = small
        if writer is None:
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
        writer.write(frame)
    writer.release()
    return target


@pytest.fixture(scope="session")
def photo_db(tmp_path_factory):
    """Miranda and Lacamoire enrolled from their reference photos (another occasion, other light)."""
    db = tmp_path_factory.mktemp("photo") / "db"
    for name, photo in (("lin", "lin-manuel-miranda.png"), ("alex", "alex-lacamoire.png")):
        assert run_facegate("--db", db, "enroll", name, DATA / "video" / photo).returncode == 0
    return db


@pytest.fixture(scope="session")
def video_db(tmp_path_factory):
    """Miranda enrolled from the dev clip's first five seconds (the close-up's first 2.3 s), Lacamoire from his
    photo."""
    db = tmp_path_factory.mktemp("video") / "db"
    enrolled = run_facegate("--db", db, "enroll", "lin", "--video", DATA / "video" / "short_hamilton_clip.mp4",
                            "--seconds", "5")
    assert enrolled.returncode == 0, enrolled.stderr
    assert enrolled.stdout.count("lin: enrolled frame short_hamilton_clip.mp4@") == 5
    assert run_facegate("--db", db, "enroll", "alex", DATA / "video" / "alex-lacamoire.png").returncode == 0
    return db
