"""Who is in these photos: the faces of a folder (or of a scan's --output file) grouped into people, with the same
L2 distance and threshold as every decision of facegate.

The method is Chinese whispers (Biemann 2006; the graph clustering dlib uses for faces): two faces are joined by an
edge when their distance is below the threshold, and each face repeatedly takes the label that weighs most among
its neighbours. A face with no neighbour stays alone (cluster -1). Clusters are numbered by size, largest first,
so that the same faces and threshold always give the same numbers (`enroll --cluster N --from FILE` relies on it).
docs/accuracy.md ("Clustering") measures it against hierarchical clustering on the dev sets."""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FacegateError
from .files import vectors_from_text

ROUNDS = 30
"""Passes of Chinese whispers at most; it settles in a handful on face graphs."""
BLOCK_BYTES = 512 * 2**20
"""Memory for the block of faces compared with all others at a time when the graph is built (5 bytes a pair)."""
CANDIDATE_MARGIN = 1e-3
"""Distance added to the threshold when picking candidates from float32 dot products (their error is ~1e-5)."""


@dataclass
class ClusteredFace:
    """One face: the file it is in, its box, its unit embedding, and (once clustered) its cluster and distance to
    the cluster's centre (the normalised mean of its faces)."""

    path: str
    box: list
    embedding: np.ndarray
    cluster: int = -1
    distance_to_centre: float = None


def neighbour_graph(embeddings, threshold):
    """For each face, (indices, weights) of the other faces nearer than `threshold`; weight 1 - distance/threshold.
    Candidates come from blocks of dot products (for unit vectors d^2 = 2 - 2 a.b, taken with a margin for float32
    rounding); the distance that decides is the exact one, as everywhere in facegate."""
    embeddings = np.asarray(embeddings, np.float32)
    least_product = 1.0 - (threshold + CANDIDATE_MARGIN) ** 2 / 2
    graph, count = [], len(embeddings)
    rows_per_block = max(1, min(count, BLOCK_BYTES // (5 * max(count, 1))))
    products = np.empty((rows_per_block, count), np.float32)  # reused: fresh memory for each block
    candidates = np.empty(products.shape, bool)               # cost as much in page faults as the products
    for start in range(0, count, rows_per_block):
        block = embeddings[start:start + rows_per_block]
        np.matmul(block, embeddings.T, out=products[:len(block)])
        np.greater(products[:len(block)], least_product, out=candidates[:len(block)])
        rows, columns = np.nonzero(candidates[:len(block)])
        exact = np.linalg.norm(embeddings[columns] - block[rows], axis=1)
        keep = (exact < threshold) & (columns != start + rows)
        rows, columns, weights = rows[keep], columns[keep], 1.0 - exact[keep] / threshold
        bounds = np.searchsorted(rows, np.arange(1, len(block)))
        graph.extend(zip(np.split(columns, bounds), np.split(weights, bounds)))
    return graph


def chinese_whispers(graph, rounds=ROUNDS, seed=0):
    """A label per node of `graph` (from neighbour_graph); nodes without edges keep their own label."""
    labels = np.arange(len(graph))
    order = np.arange(len(graph))
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        changed = 0
        for node in order:
            neighbours, weights = graph[node]
            if not len(neighbours):
                continue
            totals = {}
            for label, weight in zip(labels[neighbours].tolist(), weights.tolist()):
                totals[label] = totals.get(label, 0.0) + weight
            best = max(totals.items(), key=lambda item: (item[1], -item[0]))[0]
            if best != labels[node]:
                labels[node] = best
                changed += 1
        if not changed:
            break
    return labels


def cluster_faces(faces, threshold):
    """Set `cluster` and `distance_to_centre` of each ClusteredFace; returns the clusters as lists of faces,
    largest first (cluster numbers 0, 1, ...; a face alone is -1 and in no list)."""
    if not faces:
        return []
    embeddings = np.stack([face.embedding for face in faces]).astype(np.float32)
    labels = chinese_whispers(neighbour_graph(embeddings, threshold))
    groups = {}
    for index, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(index)
    ordered = sorted((members for members in groups.values() if len(members) > 1),
                     key=lambda members: (-len(members), faces[members[0]].path, list(faces[members[0]].box)))
    clusters = []
    for number, members in enumerate(ordered):
        centre = embeddings[members].mean(axis=0)
        centre /= np.linalg.norm(centre)
        for index in members:
            faces[index].cluster = number
            faces[index].distance_to_centre = float(np.linalg.norm(embeddings[index] - centre))
        clusters.append(sorted((faces[i] for i in members), key=lambda face: face.distance_to_centre))
    for face in faces:
        if face.cluster == -1:
            face.distance_to_centre = 0.0
    return clusters


def faces_of_results(results_file, model_name):
    """The faces recorded in a scan's --output file (with their embeddings), in file order."""
    results_file = Path(results_file)
    faces = []
    try:
        lines = results_file.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError as exc:
        raise FacegateError(f"{results_file}: cannot read ({exc.strerror or exc})") from None
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a half-written last line of an interrupted scan
        if not isinstance(record, dict) or "path" not in record:
            raise FacegateError(f"{results_file}: line {number} is not a scan record")
        for face in record.get("faces") or []:
            if record.get("model") != model_name or "embedding" not in face:
                raise FacegateError(f"{results_file}: line {number} has no {model_name} embeddings "
                                    f"(a scan --output file of this model is needed)")
            try:
                embedding = vectors_from_text(face["embedding"])
            except (ValueError, TypeError):
                raise FacegateError(f"{results_file}: line {number}: damaged embedding") from None
            if embedding.ndim != 1 or not np.isfinite(embedding).all() or abs(np.linalg.norm(embedding) - 1) > 1e-3:
                raise FacegateError(f"{results_file}: line {number}: damaged embedding")
            faces.append(ClusteredFace(record["path"], face["box"], embedding))
    return faces


def faces_of_folder(paths, model):
    """Every face of every image in `paths`, encoded; the images that could not be read are skipped (returned)."""
    from .faces.pipeline import iter_encoded

    faces, errors = [], []
    for result in iter_encoded(paths, model):
        if result.error:
            errors.append(result)
        for face in result.faces:
            faces.append(ClusteredFace(result.path, [int(v) for v in face.box], face.embedding))
    return faces, errors


def contact_sheet(cluster, path, columns=8, side=112):
    """One picture of a cluster's face crops in a grid (nearest the centre first), written to `path` as JPEG."""
    from PIL import Image, ImageOps

    from .errors import ImageError
    from .faces.imaging import load_image

    crops = []
    opened = {}
    for face in cluster[:columns * 8]:
        if face.path not in opened:
            opened.clear()
            try:  # as the detector saw it (upright, RGB)
                opened[face.path] = Image.fromarray(load_image(face.path))
            except ImageError:
                continue
        x, y, w, h = face.box
        margin = max(w, h) // 5
        crop = opened[face.path].crop((x - margin, y - margin, x + w + margin, y + h + margin))
        crops.append(ImageOps.pad(crop, (side, side), color=(30, 30, 30)))
    rows = max(1, -(-len(crops) // columns))
    sheet = Image.new("RGB", (columns * side, rows * side), (30, 30, 30))
    for index, crop in enumerate(crops):
        sheet.paste(crop, ((index % columns) * side, (index // columns) * side))
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path, quality=90)
    except OSError as exc:
        raise FacegateError(f"{path}: cannot write the contact sheet ({exc.strerror or exc})") from None
    return path


def clusters_of(source, model, threshold, warn):
    """(faces, clusters) of a folder (encoded now; unreadable images said through `warn` and skipped) or of a
    scan's --output file (its embeddings), clustered at `threshold`."""
    from .faces.imaging import find_images

    source = Path(source)
    if source.is_dir():
        faces, errors = faces_of_folder(find_images(source), model)
        for result in errors:
            warn(f"{result.path}: error: {result.error} (skipped)")
    elif source.is_file():
        faces = faces_of_results(source, model.name)
    else:
        raise FacegateError(f"{source}: no such folder or file")
    return faces, cluster_faces(faces, threshold)
