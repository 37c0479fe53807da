"""facenet512 end to end: its weights cannot be downloaded here, so the test writes a weights file in the layout
keras-facenet caches (~/.keras-facenet/20180402-114759/20180402-114759-weights.h5: the network's layer names and
shapes, Keras 2 HDF5, random values) and runs the real path: find, hash-check, convert, load, embed, enroll.

The one thing changed is the pinned sha256 in the model table (random weights cannot have the published hash),
set in the process that runs facegate."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import facegate
from facegate.networks import models
from facegate.errors import DatabaseError

from conftest import DATA, IMAGES, run_facegate

WITH_WEIGHTS_HASH = """
import dataclasses, sys
from facegate.networks import models
models.MODELS["facenet512"] = dataclasses.replace(models.MODELS["facenet512"], weights_sha256=sys.argv[1])
from facegate.cli import main
main(sys.argv[2:])
"""


def write_keras_facenet_weights(path, seed=512):
    """Random weights for every layer of InceptionResNetV1(classes=512), saved as Keras 2's save_weights does."""
    import h5py

    from facegate.networks.quiet import import_tensorflow

    import_tensorflow()
    from keras_facenet.inception_resnet_v1 import InceptionResNetV1

    rng = np.random.default_rng(seed)
    network = InceptionResNetV1(input_shape=(160, 160, 3), classes=512)
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as handle:
        layers = [layer for layer in network.layers if layer.weights]
        handle.attrs["layer_names"] = [layer.name.encode() for layer in layers]
        handle.attrs["backend"], handle.attrs["keras_version"] = b"tensorflow", b"2.1.6"
        for layer in layers:
            group = handle.create_group(layer.name)
            names = [f"{weight.path}:0" for weight in layer.weights]
            group.attrs["weight_names"] = [name.encode() for name in names]
            for name, weight in zip(names, layer.weights):
                shape = tuple(weight.shape)
                if name.endswith("moving_variance:0"):
                    values = rng.uniform(0.5, 1.5, shape)
                elif len(shape) > 1:  # kernels: scaled to their fan-in
                    values = rng.normal(0, 1 / np.sqrt(np.prod(shape[:-1])), shape)
                else:
                    values = rng.normal(0, 0.05, shape)
                group.create_dataset(name, data=values.astype(np.float32))


@pytest.fixture(scope="module")
def facenet512_home(tmp_path_factory):
    """A HOME holding keras-facenet's cached weights file, and a facegate home for the converted networks."""
    root = tmp_path_factory.mktemp("facenet512")
    spec = models.MODELS["facenet512"]
    weights = root / "home" / ".keras-facenet" / "20180402-114759" / spec.weights_file
    write_keras_facenet_weights(weights)
    from facegate.networks.weights import sha256_of

    return root, sha256_of(weights)


def run_with_weights(root, digest, *args):
    """The real CLI in a subprocess whose HOME holds the weights file and whose model table pins its hash."""
    environment = {k: v for k, v in os.environ.items() if k not in ("FACEGATE_DB", "FACEGATE_WEIGHTS", "FACEGATE_DEBUG")}
    environment.update(HOME=str(root / "home"), FACEGATE_HOME=str(root / "facegate"))
    return subprocess.run([sys.executable, "-c", WITH_WEIGHTS_HASH, digest, *map(str, args)], capture_output=True,
                          text=True, env=environment, timeout=900)


def test_facenet512_converts_embeds_and_enrolls_through_the_real_path(facenet512_home, monkeypatch, tmp_path):
    root, digest = facenet512_home
    fetched = run_with_weights(root, digest, "--model", "facenet512", "fetch")
    assert fetched.returncode == 0, fetched.stderr
    # TensorFlow, Keras and the converter say nothing: only facegate's own lines reach stderr
    assert fetched.stderr and all(line.startswith("facegate: ") for line in fetched.stderr.splitlines()), \
        fetched.stderr
    assert "converting facenet512" in fetched.stderr
    converted = list((root / "facegate" / "cache" / "facenet512").glob(f"facenet512-{digest[:12]}-*.tflite"))
    assert len(converted) == 1

    monkeypatch.setenv("HOME", str(root / "home"))
    monkeypatch.setenv("FACEGATE_HOME", str(root / "facegate"))
    monkeypatch.delenv("FACEGATE_WEIGHTS", raising=False)
    monkeypatch.setitem(models.MODELS, "facenet512", dataclasses.replace(models.MODELS["facenet512"],
                                                                         weights_sha256=digest))
    model = facegate.load_model("facenet512")
    assert model.spec.standardisation == "fixed"
    first = facegate.img_to_encoding(IMAGES / "camera_0.jpg", model)
    again = facegate.img_to_encoding(IMAGES / "camera_0.jpg", facegate.load_model("facenet512"))
    assert first.shape == (512,) and first.dtype == np.float32 and np.isfinite(first).all()
    assert abs(np.linalg.norm(first) - 1) < 1e-5 and np.array_equal(first, again)
    other = facegate.img_to_encoding(DATA / "bbt" / "bbt1.jpg", model)
    assert np.linalg.norm(first - other) > 1e-3  # different faces, different embeddings

    db = tmp_path / "db512"
    enrolled = run_with_weights(root, digest, "--db", db, "--model", "facenet512", "enroll", "younes",
                                IMAGES / "younes.jpg")
    assert enrolled.returncode == 0, enrolled.stderr
    database = facegate.Database.load(db)
    assert database.model == "facenet512" and database.embeddings.shape == (1, 512)
    assert facegate.who_is_it(IMAGES / "younes.jpg", database, model) == (pytest.approx(0, abs=1e-5), "younes")


def test_a_facenet512_database_refuses_facenet128_and_the_reverse(facenet512_home, model, tmp_path, monkeypatch):
    root, digest = facenet512_home
    monkeypatch.setitem(models.MODELS, "facenet512", dataclasses.replace(models.MODELS["facenet512"],
                                                                         weights_sha256=digest))
    db512, db128 = tmp_path / "db512", tmp_path / "db128"
    assert run_with_weights(root, digest, "--db", db512, "--model", "facenet512", "enroll", "younes",
                            IMAGES / "younes.jpg").returncode == 0
    assert run_facegate("--db", db128, "enroll", "younes", IMAGES / "younes.jpg").returncode == 0

    refused = run_facegate("--db", db512, "--model", "facenet128", "verify", IMAGES / "camera_0.jpg", "younes")
    assert refused.returncode == 2 and "holds facenet512 embeddings" in refused.stderr, refused.stderr
    refused = run_with_weights(root, digest, "--db", db128, "--model", "facenet512", "verify",
                               IMAGES / "camera_0.jpg", "younes")
    assert refused.returncode == 2 and "holds facenet128 embeddings" in refused.stderr, refused.stderr
    with pytest.raises(DatabaseError, match="facenet512"):
        facegate.verify(IMAGES / "camera_0.jpg", "younes", facegate.Database.load(db512), model)
    listed = json.loads(run_facegate("--db", db512, "list", "--json").stdout)
    assert listed["model"] == "facenet512"
