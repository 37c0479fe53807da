"""The converted networks (conversion.py, run by runtime.py) against the Keras networks they come from: same
faces, same embeddings; a process that verifies never imports TensorFlow; a damaged conversion is redone."""
import subprocess
import sys

import numpy as np
import pytest

from facegate.networks import conversion
from facegate.errors import ModelError
from facegate.faces.imaging import load_image
from facegate.networks.runtime import Network

from conftest import DATA, IMAGES

PICTURES = [DATA / "bbt" / "bbt1.jpg", IMAGES / "camera_0.jpg", IMAGES / "danielle.png",
            DATA / "lfw-devtrain" / "images" / "Princess_Masako" / "Princess_Masako_0001.jpg",
            DATA / "lfw-devtrain" / "images" / "Alex_Barros" / "Alex_Barros_0001.jpg"]


def test_the_detector_finds_what_the_mtcnn_package_finds(model):
    from mtcnn import MTCNN

    reference = MTCNN()
    for path in PICTURES:
        image = load_image(path)
        expected = sorted(reference.detect_faces(image.copy()), key=lambda item: item["box"])
        found = sorted(model.detector.detect(image), key=lambda item: item.box)
        assert found and len(found) == len(expected), path
        for mine, theirs in zip(found, expected):
            assert list(mine.box) == list(theirs["box"]), path
            assert mine.keypoints == {k: tuple(v) for k, v in theirs["keypoints"].items()}, path
            assert abs(mine.confidence - float(theirs["confidence"])) < 1e-4, path


def test_the_converted_facenet_embeds_like_the_keras_network(model):
    """Every view of every face of four pictures (9 faces, 2 views and their mirrors): within 1e-6 of Keras (README; 5e-7 seen)."""
    from facegate.networks.weights import weights_path

    keras_network = conversion._facenet(model.spec, weights_path(model.spec, fetch=False))
    crops = []
    for path in PICTURES[:4]:
        image = load_image(path)
        crops.extend(model.crop(image, face) for face in model.detect(image))
    crops = np.concatenate(crops)
    crops = np.concatenate([crops, crops[:, :, ::-1]])  # and their mirror images, as embed() runs them
    assert len(crops) == 36
    expected = keras_network(crops, training=False).numpy()
    (converted,) = model.network(crops)
    assert np.abs(converted - expected).max() < 1e-6
    assert np.abs(expected).max() > 0.1  # the comparison is between real outputs, not zeros


def test_verifying_a_photo_never_imports_tensorflow():
    code = ("import sys, facegate; model = facegate.load_model(); "
            f"facegate.img_to_encoding({str(IMAGES / 'camera_0.jpg')!r}, model); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'tensorflow imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # nor does LiteRT say anything


def test_a_damaged_conversion_is_redone(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("FACEGATE_HOME", str(tmp_path))
    paths = conversion.detector_network_paths()
    assert "converting the MTCNN face detector" in capfd.readouterr().err
    pnet = paths[0]
    original = pnet.read_bytes()
    pnet.write_bytes(original[:-100] + bytes(100))
    assert conversion.detector_network_paths() == paths
    assert "converting" in capfd.readouterr().err
    before = tmp_path / "before.tflite"
    before.write_bytes(original)
    probe = np.random.default_rng(0).uniform(-1, 1, (1, 31, 37, 3)).astype(np.float32)
    for again, first in zip(Network(pnet)(probe), Network(before)(probe)):
        assert np.array_equal(again, first)  # whole again: the network it was
    assert conversion.detector_network_paths() == paths and capfd.readouterr().err == ""  # kept from now on


def test_an_unwritable_cache_gives_one_clear_error(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "home"
    not_a_folder.write_text("a file where the cache folder would go")
    monkeypatch.setenv("FACEGATE_HOME", str(not_a_folder))
    with pytest.raises(ModelError, match="cannot write the converted network"):
        conversion.detector_network_paths()
    assert not_a_folder.read_text() == "a file where the cache folder would go"


def test_a_network_keeps_recurring_shapes_and_answers_alike():
    from facegate.networks.conversion import detector_network_paths

    pnet = detector_network_paths()[0]
    rng = np.random.default_rng(2)
    sides = ((31, 37), (40, 24), (48, 52), (70, 70))  # 1147, 960, 2496 and 4900 pixels
    probes = [rng.uniform(-1, 1, (1, h, w, 3)).astype(np.float32) for h, w in sides]
    expected = [Network(pnet)(probe) for probe in probes]
    network = Network(pnet, kept_elements=4000 * 3)  # room for two of the first three, never for the fourth
    network.SHAPES_REMEMBERED = 4
    # first sightings run on the shared interpreter; a shape seen again gets its own if it fits the budget, or
    # once kept shapes unused for 4 calls are dropped; a shape in use is never dropped for another
    for index in (0, 1, 0, 2, 1, 2, 2, 3, 3, 0, 0):
        for output, reference in zip(network(probes[index]), expected[index]):
            assert np.array_equal(output, reference)
    assert list(network._kept) == [probes[2].shape, probes[0].shape]
