"""`facegate cluster`: the faces of a folder, or of a scan's --output file, grouped into people, on real face crops
of eight people (bbt, five each) through the real model; contact sheets; a cluster enrolled as a person."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from facegate.clustering import neighbour_graph
from facegate.db import Database
from facegate.evaluation import cluster_quality

from conftest import DATA, IMAGES, one_error_line, run_facegate, snapshot

PEOPLE = ("amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart")


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    """A folder of the 40 crops, and the --output file of its scan."""
    folder = tmp_path_factory.mktemp("crops") / "crops"
    folder.mkdir()
    for person in PEOPLE:
        for photo in sorted((DATA / "bbt" / person).glob("*.png")):
            shutil.copy(photo, folder / photo.name)
    results = folder.parent / "scan.jsonl"
    scanned = run_facegate("--db", folder.parent / "db", "scan", folder, "--output", results)
    assert scanned.returncode == 0, scanned.stderr
    return folder, results


def clustered(*args):
    result = run_facegate(*args, "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def person_of(face):
    return next(p for p in PEOPLE if face["path"].rsplit("/", 1)[-1].startswith(p))


def test_the_crops_of_eight_people_cluster_into_people_only(crops, tmp_path):
    folder, results = crops
    faces = clustered("--db", tmp_path / "db", "cluster", folder)
    assert len(faces) == 38  # two crops show no face the detector finds
    quality = cluster_quality([f["cluster"] for f in faces], [person_of(f) for f in faces])
    assert quality["pairwise_precision"] == 1.0  # no cluster mixes two people
    assert quality["pairwise_recall"] == pytest.approx(0.625, abs=0.03)  # 0.7 keeps people apart before together
    clusters = {}
    for face in faces:
        clusters.setdefault(face["cluster"], []).append(face)
    sizes = sorted((len(members) for number, members in clusters.items() if number != -1), reverse=True)
    assert sizes == [len(clusters[n]) for n in range(len(sizes))]  # numbered by size, largest first
    assert sizes == [5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2] and len(clusters[-1]) == 3
    assert all(0 < f["distance_to_centre"] < 0.7 for f in faces if f["cluster"] != -1)
    assert all(f["distance_to_centre"] == 0 for f in clusters[-1])


def test_a_scan_output_file_clusters_alike_without_the_images(crops, tmp_path):
    folder, results = crops
    from_folder = clustered("--db", tmp_path / "db", "cluster", folder)
    moved = tmp_path / "elsewhere"
    shutil.copytree(folder, moved)
    shutil.rmtree(folder)  # nothing left to encode: the embeddings come from the file
    try:
        from_file = clustered("--db", tmp_path / "db", "cluster", results)
    finally:
        shutil.copytree(moved, folder)
    assert [(f["path"], f["box"], f["cluster"]) for f in from_file] == \
           [(f["path"], f["box"], f["cluster"]) for f in from_folder]
    assert [f["distance_to_centre"] for f in from_file] == pytest.approx([f["distance_to_centre"] for f in from_folder],
                                                                         abs=1e-6)


def test_contact_sheets_show_each_cluster(crops, tmp_path):
    folder, results = crops
    result = run_facegate("--db", tmp_path / "db", "cluster", results, "--sheets", tmp_path / "sheets")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("38 face(s): 11 cluster(s), 3 face(s) alone\ncluster 0: 5 face(s), e.g. ")
    sheets = sorted((tmp_path / "sheets").iterdir())
    assert [s.name for s in sheets] == [f"cluster-{n:04d}.jpg" for n in range(11)]
    with Image.open(sheets[0]) as sheet:
        assert sheet.size == (8 * 112, 112)  # five crops in a row of eight
        assert sheet.crop((0, 0, 5 * 112, 112)).convert("L").getextrema()[1] > 100  # faces, not the background
        assert sheet.crop((5 * 112, 0, 8 * 112, 112)).convert("L").getextrema()[1] <= 40


def test_a_cluster_enrolled_as_a_person_is_recognised(crops, tmp_path):
    folder, results = crops
    db = tmp_path / "db"
    faces = clustered("--db", db, "cluster", results)
    sheldon = next(f["cluster"] for f in faces if f["path"].endswith("sheldon1.png"))
    members = [f for f in faces if f["cluster"] == sheldon]
    enrolled = run_facegate("--db", db, "enroll", "sheldon", "--cluster", str(sheldon), "--from", results)
    assert enrolled.returncode == 0, enrolled.stderr
    assert enrolled.stdout == f"sheldon: {len(members)} face(s) of cluster {sheldon} added ({len(members)} in it), " \
                              f"{len(members)} enrolled in all\n"
    sources = [entry.source for entry in Database.load(db).entries]
    assert sorted(s.split("#")[0] for s in sources) == sorted(f["path"] for f in members)
    for group_photo in ("bbt3.jpg", "bbt4.jpg"):  # found in group photos the clustering never saw
        identified = json.loads(run_facegate("--db", db, "identify", DATA / "bbt" / group_photo, "--json").stdout)
        assert [face["identity"] for face in identified["faces"]].count("sheldon") == 1


def test_bad_sources_and_clusters_are_one_line_and_change_nothing(crops, tmp_path):
    folder, results = crops
    db = tmp_path / "db"
    run_facegate("--db", db, "enroll", "younes", IMAGES / "younes.jpg")
    before = snapshot(db)
    one_error_line(run_facegate("--db", db, "cluster", tmp_path / "missing"), "no such folder or file")
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"path": "a.jpg", "faces": [{"box": [0, 0, 9, 9]}], "error": None}) + "\n")
    one_error_line(run_facegate("--db", db, "cluster", plain), "no facenet128 embeddings")
    one_error_line(run_facegate("--db", db, "enroll", "x", "--cluster", "99", "--from", results), "no cluster 99")
    usage = run_facegate("--db", db, "enroll", "x", "--cluster", "0")
    assert usage.returncode == 2 and "go together" in usage.stderr
    assert snapshot(db) == before


def test_cluster_quality_counts_pairs_and_bcubed_as_defined():
    quality = cluster_quality([0, 0, 0, 1, -1], ["a", "a", "b", "b", "b"])
    # pairs clustered: 3 (one same-person); same-person pairs: a 1 + b 3 = 4
    assert quality["pairwise_precision"] == pytest.approx(1 / 3)
    assert quality["pairwise_recall"] == pytest.approx(1 / 4)
    assert quality["bcubed_precision"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    assert quality["bcubed_recall"] == pytest.approx((1 + 1 + 1 / 3 + 1 / 3 + 1 / 3) / 5)


def test_pairs_of_strangers_are_not_counted_but_a_stranger_with_a_named_person_is_wrong():
    quality = cluster_quality([0, 0, 1, 1, 1], ["a", "a", None, None, "b"])
    # clustered pairs: (a, a) right; (None, None) not counted; (None, b) twice wrong
    assert quality["pairwise_precision"] == pytest.approx(1 / 3)
    assert quality["pairwise_recall"] == 1.0
    assert quality["bcubed_precision"] == pytest.approx((1 + 1 + 1 / 3) / 3)  # named faces only


@pytest.mark.parametrize("distance, linked", [(0.6999, True), (0.7001, False), (0.3, True), (1.2, False)])
def test_two_faces_are_linked_exactly_when_their_distance_is_under_the_threshold(distance, linked):
    angle = 2 * np.arcsin(distance / 2)  # two unit vectors this far apart, in float32, among unrelated ones
    pair = np.array([[1.0, 0.0], [np.cos(angle), np.sin(angle)]])
    faces = np.zeros((5, 128), np.float32)
    faces[:2, :2] = pair
    faces[2:, 2:5] = np.eye(3)
    graph = neighbour_graph(faces, 0.7)
    exact = float(np.linalg.norm(faces[0] - faces[1]))
    assert (exact < 0.7) == linked and (1 in graph[0][0]) == linked and (0 in graph[1][0]) == linked
    assert all(len(graph[i][0]) == 0 for i in (2, 3, 4))


def test_the_threshold_option_and_the_stored_threshold_decide_what_is_linked(crops, tmp_path):
    """--threshold 0.5 links fewer faces than 0.7 (smaller clusters, more faces alone); a threshold stored in the
    database is used when no option is given."""
    _, results = crops
    at = {value: clustered("--db", tmp_path / "db", "cluster", results, "--threshold", value) for value in ("0.5", "0.7")}
    alone = {value: sum(f["cluster"] == -1 for f in faces) for value, faces in at.items()}
    assert alone["0.5"] > alone["0.7"] == 3
    assert all(f["distance_to_centre"] < 0.5 for f in at["0.5"] if f["cluster"] != -1)
    assert run_facegate("--db", tmp_path / "db", "threshold", "set", "0.5").returncode == 0
    stored = clustered("--db", tmp_path / "db", "cluster", results)
    assert [f["cluster"] for f in stored] == [f["cluster"] for f in at["0.5"]]
