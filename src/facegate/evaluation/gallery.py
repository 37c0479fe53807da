"""1:K open-set accuracy (enroll a gallery, identify probes) and calibration of the threshold."""
import csv
import itertools
import tempfile
from pathlib import Path

import numpy as np

from ..db import Database
from ..errors import FacegateError
from ..faces.imaging import find_images
from ..matching import Gallery, nearest
from .pairs import main_face_encodings
from .rates import _share, rates, roc_summary, round_down, threshold_for_far

def read_truth(truth_csv):
    """{probe file name: identity, or None for a stranger} from a 'file,identity' CSV."""
    try:
        with open(truth_csv, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FacegateError(f"{truth_csv}: cannot read ({exc})") from None
    if rows and not {"file", "identity"} <= set(rows[0]):
        raise FacegateError(f"{truth_csv}: expected the columns 'file,identity'")
    return {row["file"]: (row["identity"] or None) for row in rows}


def labelled_photos(folder):
    """{person: [photos]} for a folder with one sub-folder of photos per person."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FacegateError(f"{folder}: not a folder")
    people = {p.name: find_images(p) for p in sorted(folder.iterdir()) if p.is_dir()}
    people = {name: photos for name, photos in people.items() if photos}
    if not people:
        raise FacegateError(f"{folder}: no sub-folders of photos (one per person) found")
    return people


def encode_people(people, model):
    """{person: (source file names, (k, D) embeddings)} of the photos where a face was found; and the failures."""
    encodings, failures = main_face_encodings(list(itertools.chain(*people.values())), model)
    encoded = {}
    for name, photos in people.items():
        found = [str(p) for p in photos if str(p) in encodings]
        if found:
            encoded[name] = ([Path(p).name for p in found], np.stack([encodings[p] for p in found]))
    return encoded, failures


def evaluate_gallery(people, probes_dir, truth, model, threshold):
    """Enroll `people` ({person: photos}, see labelled_photos) into a temporary database, identify every probe
    of `truth` ({file: identity or None}, see read_truth) as who_is_it does, and count."""
    encoded, failures = encode_people(people, model)
    with tempfile.TemporaryDirectory(prefix="facegate-eval-") as scratch:
        database = Database(scratch)
        for name, (sources, vectors) in encoded.items():
            database.add(name, vectors, sources, model.name)
        database.save()
        gallery = Gallery.of(Database.load(scratch))
    probe_paths = [Path(probes_dir) / name for name in truth]
    probe_encodings, probe_failures = main_face_encodings(probe_paths, model)
    outcomes = []  # (true identity or None, predicted identity or None, distance)
    for path, true_identity in zip(map(str, probe_paths), truth.values()):
        if path in probe_encodings:
            match = nearest([probe_encodings[path]], gallery, threshold)[0]
            outcomes.append((true_identity, match.identity, match.distance))
        else:
            outcomes.append((true_identity, None, float("inf")))
    known = [o for o in outcomes if o[0] is not None]
    strangers = [o for o in outcomes if o[0] is None]
    accepted = [o for o in known if o[1] is not None]
    summary = {
        "threshold": threshold, "gallery_people": len(people), "gallery_photos": sum(map(len, people.values())),
        "gallery_detection_failures": len(failures), "known_probes": len(known), "stranger_probes": len(strangers),
        "probe_detection_failures": len(probe_failures),
        "known_accepted": _share(len(accepted), len(known)),
        "rank1_of_accepted": _share(sum(o[0] == o[1] for o in accepted), len(accepted)),
        "strangers_accepted": _share(sum(o[1] is not None for o in strangers), len(strangers)),
        "worst_identities": _worst_identities(known),
    }
    return summary


def _worst_identities(known, limit=5):
    """The identities refused or mistaken most often, with who they were mistaken for."""
    by_identity = {}
    for true_identity, predicted, _ in known:
        record = by_identity.setdefault(true_identity, {"identity": true_identity, "probes": 0, "refused": 0,
                                                         "mistaken_for": {}})
        record["probes"] += 1
        if predicted is None:
            record["refused"] += 1
        elif predicted != true_identity:
            record["mistaken_for"][predicted] = record["mistaken_for"].get(predicted, 0) + 1
    records = sorted(by_identity.values(),
                     key=lambda r: (-(r["refused"] + sum(r["mistaken_for"].values())), r["identity"]))
    return [r for r in records[:limit] if r["refused"] or r["mistaken_for"]]


def calibration_distances(embeddings_by_person):
    """Genuine distances (same person, every pair of photos) and impostor distances (every cross-person pair)."""
    names = [name for name, vectors in embeddings_by_person.items() for _ in vectors]
    vectors = np.concatenate([np.atleast_2d(v) for v in embeddings_by_person.values()]).astype(np.float32)
    if len(vectors) < 2:
        raise FacegateError("calibration needs at least two photos")
    labels = np.array(names, dtype=object)
    first, second = np.triu_indices(len(vectors), k=1)
    distances = np.linalg.norm(vectors[first] - vectors[second], axis=1).astype(float)
    same = labels[first] == labels[second]
    if not same.any():
        raise FacegateError("calibration needs at least one person with two or more photos")
    if same.all():
        raise FacegateError("calibration needs at least two people")
    return distances, same


def calibrate(embeddings_by_person, far, threshold):
    """The ROC summary over all pairs, with the threshold that keeps the false-accept rate at most `far`."""
    distances, same = calibration_distances(embeddings_by_person)
    summary = roc_summary(distances, same, threshold)
    summary["far_target"] = far
    summary["recommended_threshold"] = round_down(threshold_for_far(distances[~same], far))
    tar, measured_far = rates(distances, same, summary["recommended_threshold"])
    summary.update(tar_at_recommended=tar, far_at_recommended=measured_far,
                   people=len(embeddings_by_person), photos=int(sum(len(np.atleast_2d(v)) for v in embeddings_by_person.values())))
    summary["far_resolution"] = 1.0 / int((~same).sum())
    return summary, distances, same


def embeddings_of_database(database):
    """{person: (k, D) embeddings} of everyone enrolled (through the gallery's name index: one pass)."""
    gallery = Gallery.of(database)
    return {name: gallery.embeddings_of(name) for name in database.people()}
