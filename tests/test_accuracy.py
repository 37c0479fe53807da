"""Accuracy regression gate: the figures of a fixed dev subset through the real model, pinned.

A change that moves the embeddings, the detector, the main-face rule or the threshold shows here first. The full
figures (bench/accuracy, docs/accuracy.md) take ~8 minutes; this subset about two."""
import numpy as np
import pytest

import facegate
from facegate import evaluation

from conftest import DATA, IMAGES

SEED_CLAIMS = {  # camera picture, claimed name: distance to the staff photo (the README quotes these)
    ("camera_0", "younes"): 0.4383,
    ("camera_1", "bertrand"): 0.6212,
    ("camera_3", "bertrand"): 0.4111,
    ("camera_5", "arnaud"): 0.6344,
    ("camera_4", "dan"): 0.7243,
    ("camera_2", "kian"): 1.2381,
}
LFW_STEP = 5
"""Every fifth pair of pairsDevTrain.txt: 220 genuine and 220 impostor pairs."""
LFW_TAR_AT_THRESHOLD = 0.7273  # 160 of 220 (full set: 68.8%)
CELEBA_PEOPLE = 25
"""The first 25 gallery people (by name) with all their probes, and the first 40 strangers."""
CELEBA_KNOWN_ACCEPTED = 0.655  # 131 of 200 (full set: 67.5%)
TOLERANCE = 0.03
"""How far an accept rate may move before the gate fails (a few pairs of a few hundred)."""


@pytest.mark.parametrize("camera, name", SEED_CLAIMS)
def test_the_seed_door_scenario_keeps_its_distances(camera, name, staff_encodings, model):
    distance, door_open = facegate.verify(IMAGES / f"{camera}.jpg", name, staff_encodings, model)
    assert distance == pytest.approx(SEED_CLAIMS[camera, name], abs=1e-3)
    assert door_open == (SEED_CLAIMS[camera, name] < 0.7)


def test_lfw_subset_accepts_as_many_genuine_pairs_and_no_impostor(model):
    pairs = evaluation.read_pairs(DATA / "lfw-devtrain" / "pairsDevTrain.txt", DATA / "lfw-devtrain" / "images")
    keep = np.concatenate([np.flatnonzero(pairs.same)[::LFW_STEP], np.flatnonzero(~pairs.same)[::LFW_STEP]])
    subset = evaluation.PairSet([pairs.first[i] for i in keep], [pairs.second[i] for i in keep], pairs.same[keep])
    summary, distances, same = evaluation.evaluate_pairs(subset, model, facegate.THRESHOLD)
    assert len(same) == 440 and same.sum() == 220
    assert summary["far_at_threshold"] == 0.0
    assert summary["tar_at_threshold"] == pytest.approx(LFW_TAR_AT_THRESHOLD, abs=TOLERANCE)
    assert summary["best_accuracy"] >= 0.98


def test_celeba_subset_names_the_accepted_right_and_lets_no_stranger_in(model):
    truth = evaluation.read_truth(DATA / "celeba-dev" / "truth.csv")
    people = dict(list(evaluation.labelled_photos(DATA / "celeba-dev" / "gallery").items())[:CELEBA_PEOPLE])
    strangers = [file for file, identity in truth.items() if identity is None][:40]
    probes = {file: identity for file, identity in truth.items() if identity in people or file in strangers}
    summary = evaluation.evaluate_gallery(people, DATA / "celeba-dev" / "probes", probes, model, facegate.THRESHOLD)
    assert summary["known_probes"] == 200 and summary["stranger_probes"] == 40 and summary["strangers_accepted"] == 0.0
    assert summary["rank1_of_accepted"] == 1.0
    assert summary["known_accepted"] == pytest.approx(CELEBA_KNOWN_ACCEPTED, abs=TOLERANCE)
