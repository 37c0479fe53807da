"""scan --ray: a pool of Ray actors encodes the images, on a local Ray cluster started by the tests (this machine's
two cores, one actor each): the same faces and embeddings as a local scan, every image once, also when an actor
is killed mid-scan; the command line's --ray with outputs and --resume."""
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import ray  # the test extra installs it (`facegate[ray]` for users): without it these tests fail, never skip

from facegate.faces.pipeline import iter_encoded
from facegate.scans.on_ray import RayEncoder

from conftest import DATA, one_error_line, run_facegate
from servers import free_port

@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archive")
    for person in ("howard", "sheldon", "penny"):
        for photo in sorted((DATA / "bbt" / person).glob("*.png")):
            shutil.copy(photo, folder / photo.name)
    for name in ("bbt1.jpg", "bbt3.jpg"):
        shutil.copy(DATA / "bbt" / name, folder / name)
    shutil.copy(DATA / "negatives" / "rocket.jpg", folder / "rocket.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not an image")
    return sorted(str(path) for path in folder.iterdir())


@pytest.fixture(scope="module")
def here(photos, model):
    return {result.path: result for result in iter_encoded(photos, model)}


def assert_same(results, here):
    paths = [result.path for result in results]
    assert sorted(paths) == sorted(here) and len(paths) == len(set(paths))  # every image, once
    for result in results:
        expected = here[result.path]
        assert result.error == expected.error
        assert [face.box for face in result.faces] == [face.box for face in expected.faces]
        for face, other in zip(result.faces, expected.faces):
            np.testing.assert_allclose(face.embedding, other.embedding, atol=1e-6)


def test_actors_encode_as_this_machine_does(cluster, photos, here):
    with RayEncoder("facenet128", actors=2, batch=4) as encoder:
        results = list(encoder.encode(photos))
    assert_same(results, here)
    assert sum(len(result.faces) for result in results) >= 20 and any(result.error for result in results)


def test_an_actor_killed_mid_scan_loses_nothing_and_repeats_nothing(cluster, photos, here):
    with RayEncoder("facenet128", actors=2, batch=2) as encoder:
        results = encoder.encode(photos)
        received = [next(results)]
        victim = encoder.actors[0]
        os.kill(ray.get(victim.pid.remote()), signal.SIGKILL)  # its batches in hand fail with it
        received.extend(results)
        assert encoder.replaced == 1 and victim not in encoder.actors
    assert_same(received, here)


def test_scan_with_ray_writes_the_same_outputs_and_resumes(photos, tmp_path):
    folder = os.path.dirname(photos[0])
    db = tmp_path / "db"
    assert run_facegate("--db", db, "enroll", "sheldon", DATA / "bbt" / "sheldon" / "sheldon1.png").returncode == 0
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert run_facegate("--db", db, "scan", folder, "--output", local).returncode == 0
    remote.write_text("".join(line + "\n" for line in local.read_text().splitlines()[:5]))  # an interrupted scan
    scanned = run_facegate("--db", db, "scan", folder, "--ray", "local", "--output", remote, "--resume", "--json")
    assert scanned.returncode == 0, scanned.stderr
    assert len(scanned.stdout.splitlines()) == len(photos) - 5 and "(5 already in" in scanned.stderr
    records = lambda path: {r["path"]: r for r in map(json.loads, path.read_text().splitlines())}  # noqa: E731
    mine, theirs = records(local), records(remote)
    assert mine.keys() == theirs.keys() and len(remote.read_text().splitlines()) == len(photos)
    for path, record in mine.items():
        assert [(f["box"], f["identity"]) for f in record["faces"]] == \
               [(f["box"], f["identity"]) for f in theirs[path]["faces"]]
        assert [f["distance"] for f in record["faces"]] == \
               pytest.approx([f["distance"] for f in theirs[path]["faces"]], abs=1e-6)
    assert any(f["identity"] == "sheldon" for r in theirs.values() for f in r["faces"])


def test_without_ray_installed_the_option_says_how_to_get_it(photos, tmp_path):
    hide_ray = "import sys; sys.modules['ray'] = None; from facegate.cli import main; sys.exit(main())"
    result = subprocess.run([sys.executable, "-c", hide_ray, "--db", str(tmp_path / "db"), "scan",
                             os.path.dirname(photos[0]), "--ray"], capture_output=True, text=True, timeout=120)
    one_error_line(result, "pip install 'facegate[ray]'")


def test_a_cluster_address_nobody_answers_is_one_line_at_once(photos, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    result = run_facegate("--db", str(tmp_path / "db"), "scan", os.path.dirname(photos[0]), "--ray", address)
    one_error_line(result, f"--ray {address}: cannot reach a Ray cluster")


def test_a_cluster_address_is_read_as_ray_client_or_host_and_port():
    """`ray://HOST:PORT` and `HOST:PORT` are tried at that port (a listener the test opens answers both); a
    `ray://HOST` without a port is tried at Ray's client port 10001, here with nobody there."""
    import socket

    from facegate.errors import FacegateError
    from facegate.scans.on_ray import _check_reachable

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        _check_reachable(f"ray://127.0.0.1:{port}")
        _check_reachable(f"127.0.0.1:{port}")
    with pytest.raises(FacegateError, match=r"--ray ray://127\.0\.0\.1: cannot reach a Ray cluster"):
        _check_reachable("ray://127.0.0.1")


def test_the_pool_has_one_single_core_actor_per_cluster_core_and_batches_of_eight(cluster):
    from facegate.scans.on_ray import BATCH, CPUS_PER_ACTOR

    with RayEncoder("facenet128") as encoder:
        assert (len(encoder.actors), CPUS_PER_ACTOR, encoder.batch, BATCH) == (2, 1, 8, 8)
