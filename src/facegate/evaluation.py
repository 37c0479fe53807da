"""Accuracy that users can measure, through the same matching code as verify and who_is_it.

- pairs (1:1): LFW-style pairs files; ROC summary, TAR at fixed FAR, 10-fold accuracy when the file has folds.
- gallery (1:K, open set): enroll a gallery, identify probes, count the right, the refused and the strangers let in.
- calibration: the threshold that holds a target false-accept rate on labelled photos or the enrolled people.
- visits (watch): frames of one person decided once, as the door camera decides; genuine, impostor and
  stranger visits, in identify and in claim mode.

A pair or probe whose face is not detected counts as refused: that is what the door would do.
"""
import csv
import itertools
import math
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .db import Database
from .faces.pipeline import encode_images
from .errors import FacegateError
from .faces.imaging import find_images
from .matching import Gallery, distance_to_enrolled, nearest

FAR_TARGETS = (0.01, 0.001)


@dataclass
class PairSet:
    """Image pairs with whether each shows one person; `folds[i]` is pair i's fold (None: no folds)."""

    first: list
    second: list
    same: np.ndarray
    folds: np.ndarray = None


def read_pairs(pairs_file, images_dir, suffix=".jpg"):
    """Read an LFW pairs file: a header 'N' (N same then N different pairs) or 'FOLDS N' (per fold, N + N)."""
    pairs_file, images_dir = Path(pairs_file), Path(images_dir)
    try:
        lines = [line.split() for line in pairs_file.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise FacegateError(f"{pairs_file}: cannot read ({exc})") from None
    if not lines or not all(field.isdigit() for field in lines[0]) or len(lines[0]) not in (1, 2):
        raise FacegateError(f"{pairs_file}: not an LFW pairs file (the first line must be 'N' or 'FOLDS N')")
    fold_count, per_side = (1, int(lines[0][0])) if len(lines[0]) == 1 else map(int, lines[0])

    def image(name, number):
        return images_dir / name / f"{name}_{int(number):04d}{suffix}"

    first, second, same = [], [], []
    for number, fields in enumerate(lines[1:], start=2):
        try:
            if len(fields) == 3:
                first.append(image(fields[0], fields[1]))
                second.append(image(fields[0], fields[2]))
                same.append(True)
            elif len(fields) == 4:
                first.append(image(fields[0], fields[1]))
                second.append(image(fields[2], fields[3]))
                same.append(False)
            else:
                raise ValueError
        except ValueError:
            raise FacegateError(f"{pairs_file}:{number}: expected 'name i j' or 'name1 i name2 j'") from None
    if len(same) != 2 * fold_count * per_side:
        raise FacegateError(f"{pairs_file}: header promises {2 * fold_count * per_side} pairs, found {len(same)}")
    folds = np.repeat(np.arange(fold_count), 2 * per_side) if fold_count > 1 else None
    return PairSet(first, second, np.array(same), folds)


def main_face_encodings(paths, model):
    """{path: unit embedding of its main face, chosen as verify chooses it} where a face was found; and the
    failures."""
    encodings, failures = {}, {}
    for result in encode_images(sorted(set(map(str, paths))), model):
        if result.faces:
            encodings[result.path] = result.faces[0].embedding
        else:
            failures[result.path] = result.error or "no face found"
    return encodings, failures


def pair_distances(pairs, model):
    """Distance of each pair as verify computes it (inf where a face is missing), and the detection failures."""
    encodings, failures = main_face_encodings(pairs.first + pairs.second, model)
    distances = np.full(len(pairs.same), np.inf)
    for index, (a, b) in enumerate(zip(map(str, pairs.first), map(str, pairs.second))):
        if a in encodings and b in encodings:
            distances[index] = distance_to_enrolled(encodings[a], encodings[b][None])
    return distances, failures


def rates(distances, same, threshold):
    """(TAR, FAR) when pairs closer than `threshold` are accepted."""
    accepted = distances < threshold
    return float(accepted[same].mean()) if same.any() else float("nan"), \
        float(accepted[~same].mean()) if (~same).any() else float("nan")


def accuracy(distances, same, threshold):
    return float(((distances < threshold) == same).mean())


def best_threshold(distances, same):
    """The threshold with the highest accuracy, among midpoints between consecutive finite distances."""
    finite = np.unique(distances[np.isfinite(distances)])
    candidates = np.concatenate([[1e-6], (finite[:-1] + finite[1:]) / 2, [finite[-1] + 1e-6]]) if len(finite) else [1.0]
    scores = [accuracy(distances, same, t) for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def threshold_for_far(impostor_distances, far):
    """The largest threshold whose false-accept rate on these impostor distances is at most `far`."""
    ordered = np.sort(np.asarray(impostor_distances, float))
    if not len(ordered):
        raise FacegateError("no impostor pairs: a false-accept rate cannot be measured")
    allowed = int(np.floor(far * len(ordered)))
    return float(ordered[min(allowed, len(ordered) - 1)])


def roc_summary(distances, same, threshold, folds=None):
    """The figures `evaluate pairs` and `calibrate` print (see the module doc)."""
    tar, far = rates(distances, same, threshold)
    summary = {
        "pairs": int(len(same)), "genuine_pairs": int(same.sum()), "impostor_pairs": int((~same).sum()),
        "threshold": threshold, "accuracy_at_threshold": accuracy(distances, same, threshold),
        "tar_at_threshold": tar, "far_at_threshold": far,
    }
    if folds is not None:
        fold_scores = []
        for fold in np.unique(folds):
            train, test = folds != fold, folds == fold
            fold_scores.append(accuracy(distances[test], same[test], best_threshold(distances[train], same[train])))
        summary.update(best_accuracy=float(np.mean(fold_scores)), best_accuracy_std=float(np.std(fold_scores)),
                       best_accuracy_method=f"{len(fold_scores)}-fold")
    else:
        best = best_threshold(distances, same)
        summary.update(best_accuracy=accuracy(distances, same, best), best_threshold=best,
                       best_accuracy_method="threshold chosen on the same pairs")
    for target in FAR_TARGETS:
        limit = threshold_for_far(distances[~same], target)
        summary[f"tar_at_far_{target:g}"] = rates(distances, same, limit)[0]
        summary[f"threshold_at_far_{target:g}"] = limit
    return summary


def roc_curve(distances, same):
    """(FAR, TAR, thresholds) at every distinct finite distance."""
    thresholds = np.unique(distances[np.isfinite(distances)])
    points = np.array([rates(distances, same, t + 1e-9) for t in thresholds]).reshape(-1, 2)
    return points[:, 1], points[:, 0], thresholds


def plot_roc(path, distances, same, threshold, title):
    """Write the ROC curve (TAR against FAR, log scale) with the operating point marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    far, tar, _ = roc_curve(distances, same)
    point_tar, point_far = rates(distances, same, threshold)
    floor = 0.5 / max(int((~same).sum()), 1)
    figure, axes = plt.subplots(figsize=(6, 4.5), dpi=100)
    axes.plot(np.maximum(far, floor), tar, label="ROC")
    axes.plot([max(point_far, floor)], [point_tar], "o", color="red",
              label=f"threshold {threshold:.3f}: TAR {point_tar:.1%}, FAR {point_far:.2%}")
    axes.set_xscale("log")
    axes.set_xlim(floor, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("false accept rate (impostors let in)")
    axes.set_ylabel("true accept rate (genuine people let in)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    try:
        figure.savefig(path)
    except OSError as exc:
        raise FacegateError(f"{path}: cannot write the plot ({exc.strerror or exc})") from None
    finally:
        plt.close(figure)


def evaluate_pairs(pairs, model, threshold):
    """Summary dict for a PairSet (see read_pairs), plus the distances and labels for plotting."""
    distances, failures = pair_distances(pairs, model)
    summary = roc_summary(distances, pairs.same, threshold, pairs.folds)
    summary["detection_failures"] = len(failures)
    summary["pairs_with_missing_face"] = int(np.isinf(distances).sum())
    return summary, distances, pairs.same


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


def _share(count, total):
    return float(count / total) if total else None


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


def round_down(value, places=4):
    return float(np.floor(value * 10 ** places) / 10 ** places)


def embeddings_of_database(database):
    """{person: (k, D) embeddings} of everyone enrolled (through the gallery's name index: one pass)."""
    gallery = Gallery.of(database)
    return {name: gallery.embeddings_of(name) for name in database.people()}



@dataclass
class VisitFrames:
    """The frames of one visit: who it is (None: a stranger), unit embeddings (n, D) and quality scores."""

    identity: str
    embeddings: np.ndarray
    scores: list


def decide_visit(frames, gallery, threshold, claim=None, spacing=0.1):
    """The visits.Decision of a visit whose frames arrive `spacing` seconds apart, decided after each frame as
    `facegate watch` decides; None when the frames end first."""
    from .watch.visits import Visit

    visit = Visit(0.0)
    for index, (embedding, score) in enumerate(zip(frames.embeddings, frames.scores)):
        visit.add(embedding, score)
        decision = visit.decide(gallery, threshold, index * spacing, claim)
        if decision is not None:
            return decision
    return None


def without(gallery, identity):
    """The gallery with `identity` removed: whoever that person's visits now match is a false accept."""
    keep = gallery.names != identity
    return Gallery(gallery.names[keep], gallery.embeddings[keep], gallery.model)


def evaluate_visits(visits, gallery, threshold):
    """Accept rates of genuine visits and false accepts of impostor visits, in identify and in claim mode.

    Impostors are measured as hard as genuine visits: each genuine visit is decided again against the gallery
    without its person (identify) and claiming every other enrolled person (claim); each stranger visit against
    the gallery and claiming every enrolled person. Single frames of the same visits are counted too."""
    genuine = [v for v in visits if v.identity is not None]
    strangers = [v for v in visits if v.identity is None]
    people = sorted(set(gallery.names))
    outcome = {"match": 0, "wrong": 0, "ambiguous": 0, "unknown": 0, "undecided": 0}
    impostor_identify = stranger_identify = claims = impostor_claims = false_claims = 0
    frames_right = frames_total = stranger_frames_in = stranger_frames = 0
    closest_impostor = float("inf")
    for visit in genuine:
        decision = decide_visit(visit, gallery, threshold)
        kind = "undecided" if decision is None else decision.event
        outcome["wrong" if kind == "match" and decision.identity != visit.identity else kind] += 1
        others = without(gallery, visit.identity)
        closest_impostor = min(closest_impostor, _template_distance(visit, others))
        impostor = decide_visit(visit, others, threshold)
        impostor_identify += impostor is not None and impostor.event == "match"
        own = decide_visit(visit, gallery, threshold, claim=visit.identity)
        claims += own is not None and own.event == "match"
        for person in people:
            if person != visit.identity:
                claimed = decide_visit(visit, gallery, threshold, claim=person)
                impostor_claims += 1
                false_claims += claimed is not None and claimed.event == "match"
        matches = nearest(visit.embeddings, gallery, threshold)
        frames_right += sum(m.identity == visit.identity for m in matches)
        frames_total += len(matches)
    for visit in strangers:
        closest_impostor = min(closest_impostor, _template_distance(visit, gallery))
        decision = decide_visit(visit, gallery, threshold)
        stranger_identify += decision is not None and decision.event == "match"
        for person in people:
            claimed = decide_visit(visit, gallery, threshold, claim=person)
            impostor_claims += 1
            false_claims += claimed is not None and claimed.event == "match"
        stranger_frames_in += sum(m.identity is not None for m in nearest(visit.embeddings, gallery, threshold))
        stranger_frames += len(visit.embeddings)
    return {
        "threshold": threshold, "people": len(people), "genuine_visits": len(genuine),
        "stranger_visits": len(strangers),
        "genuine_accepted": _share(outcome["match"], len(genuine)),
        "genuine_outcomes": outcome,
        "genuine_claims_accepted": _share(claims, len(genuine)),
        "single_frames_accepted": _share(frames_right, frames_total),
        "impostor_visits_accepted": f"{impostor_identify}/{len(genuine)}",
        "stranger_visits_accepted": f"{stranger_identify}/{len(strangers)}",
        "impostor_claims_accepted": f"{false_claims}/{impostor_claims}",
        "stranger_single_frames_accepted": f"{stranger_frames_in}/{stranger_frames}",
        "closest_impostor_template_distance": round(closest_impostor, 4),
    }


def _template_distance(frames, gallery):
    """The distance of a visit's whole template (all its best frames) to the nearest person of `gallery`."""
    from .watch.visits import Visit

    visit = Visit(0.0)
    for embedding, score in zip(frames.embeddings, frames.scores):
        visit.add(embedding, score)
    return nearest([visit.template()], gallery, threshold=math.inf)[0].distance


def cluster_quality(predicted, truth):
    """Pairwise precision and recall, and BCubed precision, recall and F, of a clustering: `predicted` a cluster
    per face (-1: alone), `truth` the person of each face, or None for a face known only to be none of the named
    people (a stranger of celeba-dev: two strangers may be one person, so a pair of them is not counted; a stranger
    with a named person is a wrong pair). Pairwise precision: of the pairs put in one cluster, the share that are one
    person; recall: of the pairs of one person, the share put in one cluster. BCubed averages over named faces."""
    predicted = [label if label != -1 else ("alone", index) for index, label in enumerate(predicted)]
    together, strangers = {}, Counter()
    for label, person in zip(predicted, truth):
        if person is None:
            strangers[label] += 1
        else:
            together.setdefault(label, Counter())[person] += 1
    per_person = Counter(person for person in truth if person is not None)
    per_cluster = Counter(predicted)
    pairs = lambda n: n * (n - 1) // 2  # noqa: E731
    pairs_same = sum(pairs(n) for counts in together.values() for n in counts.values())
    pairs_clustered = sum(pairs(n) - pairs(strangers[label]) for label, n in per_cluster.items())
    pairs_person = sum(pairs(n) for n in per_person.values())
    precision = pairs_same / pairs_clustered if pairs_clustered else 1.0
    recall = pairs_same / pairs_person if pairs_person else 1.0
    # BCubed: per named face, the share of its cluster that is its person, and of its person that is in its cluster
    named = [(label, person) for label, person in zip(predicted, truth) if person is not None]
    b_precision = float(np.mean([together[label][person] / per_cluster[label] for label, person in named]))
    b_recall = float(np.mean([together[label][person] / per_person[person] for label, person in named]))
    return {"pairwise_precision": precision, "pairwise_recall": recall, "bcubed_precision": b_precision,
            "bcubed_recall": b_recall, "bcubed_f": 2 * b_precision * b_recall / (b_precision + b_recall)}
