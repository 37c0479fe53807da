"""evaluate pairs / evaluate gallery / calibrate on a small hand-made set of seed images with known answers."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from facegate import evaluation
from facegate.db import Database
from facegate.errors import FacegateError

from conftest import DATA, IMAGES, run_facegate

PHOTOS = {  # LFW-style name/name_000N.jpg -> seed picture
    "younes": ["younes.jpg", "camera_0.jpg"],
    "bertrand": ["bertrand.jpg", "camera_3.jpg", "camera_1.jpg"],
    "dan": ["dan.jpg", "camera_4.jpg"],
    "kian": ["kian.jpg"],
}
PAIRS = """4
younes\t1\t2
bertrand\t1\t2
bertrand\t1\t3
dan\t1\t2
younes\t1\tkian\t1
bertrand\t1\tdan\t1
kian\t1\tcoffee\t1
dan\t2\tyounes\t2
"""


@pytest.fixture(scope="module")
def lfw_style(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    for name, pictures in PHOTOS.items():
        (root / "images" / name).mkdir(parents=True)
        for number, picture in enumerate(pictures, start=1):
            shutil.copy(IMAGES / picture, root / "images" / name / f"{name}_{number:04d}.jpg")
    (root / "images" / "coffee").mkdir()
    Image.open(DATA / "negatives" / "coffee.png").convert("RGB").save(root / "images" / "coffee" / "coffee_0001.jpg")
    (root / "pairs.txt").write_text(PAIRS)
    return root


def test_read_pairs_understands_both_headers(lfw_style, tmp_path):
    pairs = evaluation.read_pairs(lfw_style / "pairs.txt", lfw_style / "images")
    assert pairs.same.tolist() == [True] * 4 + [False] * 4 and pairs.folds is None
    assert pairs.first[4].name == "younes_0001.jpg" and pairs.second[4].name == "kian_0001.jpg"
    folded = tmp_path / "folds.txt"
    folded.write_text("2 1\na 1 2\na 1 b 1\nc 1 2\nc 1 d 1\n")
    assert evaluation.read_pairs(folded, tmp_path).folds.tolist() == [0, 0, 1, 1]
    folded.write_text("3\na 1 2\n")
    with pytest.raises(FacegateError, match="promises 6 pairs"):
        evaluation.read_pairs(folded, tmp_path)


# The seed distances (tests/test_accuracy.py pins them): camera_0 as younes 0.438, camera_3 as bertrand 0.411,
# camera_1 as bertrand 0.621, camera_4 as dan 0.724. Every figure below follows from these by hand.


def test_evaluate_pairs_gives_the_figures_of_the_seed_pairs(lfw_style, tmp_path):
    plot = tmp_path / "roc.png"
    result = run_facegate("--db", tmp_path / "db", "evaluate", "pairs", lfw_style / "pairs.txt",
                          lfw_style / "images", "--json", "--plot", plot)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["threshold"] == 0.7 and summary["pairs"] == 8
    assert summary["tar_at_threshold"] == 0.75  # camera_4 (0.724) is the genuine pair refused
    assert summary["far_at_threshold"] == 0.0
    assert summary["accuracy_at_threshold"] == 7 / 8
    assert summary["best_accuracy"] == 1.0  # every genuine pair is closer than every impostor pair
    assert summary["detection_failures"] == 1 and summary["pairs_with_missing_face"] == 1
    assert {"tar_at_far_0.01", "tar_at_far_0.001"} <= set(summary)
    assert Image.open(plot).size == (600, 450)
    assert not (tmp_path / "db").exists()


def test_evaluate_gallery_gives_the_figures_of_the_seed_probes(tmp_path):
    gallery, probes = tmp_path / "gallery", tmp_path / "probes"
    for name in ("younes", "bertrand", "dan"):
        (gallery / name).mkdir(parents=True)
        shutil.copy(IMAGES / f"{name}.jpg", gallery / name)
    probes.mkdir()
    truth = {"camera_0.jpg": "younes", "camera_3.jpg": "bertrand", "camera_1.jpg": "bertrand",
             "camera_4.jpg": "dan", "kian.jpg": ""}
    for name in truth:
        shutil.copy(IMAGES / name, probes / name)
    (tmp_path / "truth.csv").write_text("file,identity\n" + "".join(f"{k},{v}\n" for k, v in truth.items()))
    result = run_facegate("--db", tmp_path / "db", "evaluate", "gallery", gallery, probes, tmp_path / "truth.csv",
                          "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["known_probes"] == 4 and summary["stranger_probes"] == 1
    assert summary["known_accepted"] == 0.75 and summary["rank1_of_accepted"] == 1.0
    assert summary["strangers_accepted"] == 0.0
    assert [(r["identity"], r["refused"], r["mistaken_for"]) for r in summary["worst_identities"]] == [("dan", 1, {})]


def test_calibrate_from_a_folder_and_save(lfw_style, tmp_path):
    labelled = lfw_style / "images"
    db = tmp_path / "db"
    result = run_facegate("--db", db, "calibrate", labelled, "--far", "0.05", "--save", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["people"] == 4 and summary["genuine_pairs"] == 5 and summary["detection_failures"] == 1
    recommended = summary["recommended_threshold"]
    assert 0.5 < recommended <= 1.5 and summary["far_at_recommended"] <= 0.05
    assert summary["tar_at_recommended"] == 1.0
    assert "cannot measure" not in result.stderr
    assert Database.load(db).threshold == recommended
    shown = run_facegate("--db", db, "threshold")
    assert shown.stdout.startswith(f"{recommended:.4f} (stored")


def test_calibration_arithmetic_on_hand_made_vectors():
    """Model-independent: checks the pair construction and FAR threshold on vectors chosen by hand."""
    e = np.eye(4, dtype=np.float32)
    close = (e[0] + 0.2 * e[1]) / np.linalg.norm(e[0] + 0.2 * e[1])
    summary, distances, same = evaluation.calibrate({"a": np.stack([e[0], close]), "b": e[2][None], "c": e[3][None]},
                                                    far=0.2, threshold=0.7)
    assert summary["genuine_pairs"] == 1 and summary["impostor_pairs"] == 5
    assert summary["tar_at_threshold"] == 1.0 and summary["far_at_threshold"] == 0.0
    assert summary["recommended_threshold"] == pytest.approx(np.floor(np.sqrt(2) * 1e4) / 1e4)
    with pytest.raises(FacegateError, match="two or more photos"):
        evaluation.calibrate({"a": e[0][None], "b": e[1][None]}, 0.1, 0.7)


def test_calibrate_without_enough_enrolled_photos_is_an_error(staff_db):
    result = run_facegate("--db", staff_db, "calibrate")
    assert result.returncode == 2 and "two or more photos" in result.stderr
