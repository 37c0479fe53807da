"""1:1 accuracy on LFW-style pairs files, through the main face of each picture as verify decides."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FacegateError
from ..faces.pipeline import encode_images
from ..matching import distance_to_enrolled
from .rates import roc_summary

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


def evaluate_pairs(pairs, model, threshold):
    """Summary dict for a PairSet (see read_pairs), plus the distances and labels for plotting."""
    distances, failures = pair_distances(pairs, model)
    summary = roc_summary(distances, pairs.same, threshold, pairs.folds)
    summary["detection_failures"] = len(failures)
    summary["pairs_with_missing_face"] = int(np.isinf(distances).sum())
    return summary, distances, pairs.same
