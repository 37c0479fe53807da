"""Labelled faces for the texture cue: the dev databases (what the shipped cue is fitted and measured on) and a
site's own recordings (what `liveness calibrate` fits a camera's profile on), read into one table of features.

A Sample is one file (a picture or a clip) with its label, its attack kind and the person it shows; FeatureRows
holds one row per face found in a sample's frames: its colour and grey features, as recorded (version 0) and,
when asked, after the JPEG round trips of training.JPEG_QUALITIES (versions 1..)."""
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FacegateError
from ..faces.imaging import is_image_name
from .texture import COLOUR_FEATURES, GREY_FEATURES, is_grey

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".3gp", ".webm")
FRAME_SECONDS = 0.2
"""A clip contributes a frame at most every this many seconds: neighbouring frames of a 30 frames/s clip are
nearly the same picture."""


@dataclass(frozen=True)
class Sample:
    """One labelled file: live or an attack of `kind` ('live' for live ones), showing `person`."""

    path: Path
    live: bool
    kind: str
    person: str


def attack_kind(detail):
    """The attack kind of a dev database's attack_detail: print, screen-photo or screen-video."""
    detail = detail.lower()
    if "print" in detail:
        return "print"
    return "screen-photo" if "photo" in detail else "screen-video"


def _table(folder, name="labels.csv"):
    with open(folder / name, newline="") as handle:
        return list(csv.DictReader(handle))


def _pad_samples(folder):
    """A pad/ database's labels.csv (phones-dev: a clip's middle still is left out, it is one of its frames)."""
    return [Sample(folder / row["file"], row["label"] == "live",
                   "live" if row["label"] == "live" else attack_kind(row["attack_detail"]), row["subject"])
            for row in _table(folder) if not row.get("from_clip")]


def _live_photos(folder, limit, per_person=2):
    """Live photos of many cameras (LFW, CelebA): at most `per_person` per person folder, `limit` in all."""
    chosen = []
    for person in sorted(p for p in folder.iterdir() if p.is_dir()):
        pictures = sorted(p for p in person.iterdir() if is_image_name(p))
        chosen += [Sample(p, True, "live", person.name) for p in pictures[:per_person]]
    return chosen[:limit]


DATABASES = {
    "replayattack-train": lambda data: _pad_samples(data / "pad" / "replayattack-train"),
    "replayattack-devel": lambda data: _pad_samples(data / "pad" / "replayattack-devel"),
    "nuaa-dev": lambda data: _pad_samples(data / "pad" / "nuaa-dev"),
    "phones-dev": lambda data: _pad_samples(data / "pad" / "phones-dev"),
    "lfw-devtrain": lambda data: _live_photos(data / "lfw-devtrain" / "images", 600),
    "celeba-dev": lambda data: _live_photos(data / "celeba-dev" / "gallery", 600),
}
"""{name: samples(data folder)}: every dev database; the last two hold live photos only."""


def site_samples(directory):
    """The Samples of a site's recordings: DIRECTORY/live/ and DIRECTORY/attack/, pictures and clips at any depth.
    Under attack/ a first folder named for a kind (print/, screen-photo/, screen-video/, or any name) gives the
    attack kind; the next folder down (under live/: the first) names the person, else each file is its own."""
    directory = Path(directory)
    samples = []
    for label in ("live", "attack"):
        root = directory / label
        for path in sorted(root.rglob("*")) if root.is_dir() else ():
            if not path.is_file() or not (path.suffix.lower() in VIDEO_SUFFIXES or is_image_name(path)):
                continue
            parts = path.relative_to(root).parts[:-1]
            kind = "live" if label == "live" else (parts[0] if parts else "attack")
            folders = parts if label == "live" else parts[1:]
            samples.append(Sample(path, label == "live", kind, folders[0] if folders else str(path)))
    return samples


def frames_of(path, every=FRAME_SECONDS):
    """The RGB frames a file contributes: the picture, or a clip's frames at most `every` seconds apart."""
    from ..faces.imaging import load_image

    if path.suffix.lower() not in VIDEO_SUFFIXES:
        return [load_image(path)]
    from ..watch.video import VideoSource

    kept, last = [], None
    with VideoSource(path) as source:
        for frame in source:
            if last is None or frame.time - last >= every - 1e-6:
                kept.append(frame.image)
                last = frame.time
    return kept


@dataclass
class FeatureRows:
    """Columns of feature rows: colour and grey features, and each row's label, kind, person, source file, version."""

    colour: np.ndarray
    grey: np.ndarray
    live: np.ndarray
    kind: np.ndarray
    person: np.ndarray
    source: np.ndarray
    version: np.ndarray
    grey_frame: np.ndarray
    """Whether the frame itself had no colour (an IR recording): its colour features say nothing."""

    def where(self, chosen):
        return FeatureRows(*(getattr(self, name)[chosen] for name in COLUMNS))

    def recorded(self):
        """The rows of frames as recorded (no JPEG round trip)."""
        return self.where(self.version == 0)

    def __len__(self):
        return len(self.live)

    def save(self, path):
        np.savez_compressed(path, **{name: getattr(self, name) for name in COLUMNS})

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as stored:
            return cls(*(stored[name] for name in COLUMNS))


COLUMNS = ("colour", "grey", "live", "kind", "person", "source", "version", "grey_frame")


def concatenate(tables):
    return FeatureRows(*(np.concatenate([getattr(t, name) for t in tables]) for name in COLUMNS))


def readable_frames(path, on_unreadable=None):
    """frames_of(path); for a file that cannot be read, [] after on_unreadable(path, error) (None: raise)."""
    try:
        return frames_of(path)
    except FacegateError as exc:
        if on_unreadable is None:
            raise
        on_unreadable(path, exc)
        return []


def feature_rows(samples, model, qualities=(), on_frame=None, on_unreadable=None):
    """FeatureRows of the main face of every frame of `samples` (frames without a face add none); with
    `qualities`, each face also after a JPEG round trip at each (the face found once, on the frame as recorded).
    on_frame(done, total samples) is called after each sample; files that cannot be read are skipped after
    on_unreadable(path, error) when it is given."""
    from .training import feature_rows as rows_of_face

    columns = {name: [] for name in COLUMNS}
    for done, sample in enumerate(samples, start=1):
        for image in readable_frames(sample.path, on_unreadable):
            faces = model.detect(image)
            if not faces:
                continue
            colourless = is_grey(image)
            colour_rows, grey_rows = rows_of_face(image, faces[0].keypoints, tuple(qualities))
            for version, (colour, grey) in enumerate(zip(colour_rows, grey_rows)):
                columns["colour"].append(colour)
                columns["grey"].append(grey)
                for name, value in (("live", sample.live), ("kind", sample.kind), ("person", sample.person),
                                    ("source", str(sample.path)), ("version", version),
                                    ("grey_frame", colourless)):
                    columns[name].append(value)
        if on_frame:
            on_frame(done, len(samples))
    if not columns["live"]:
        return FeatureRows(np.zeros((0, COLOUR_FEATURES), np.float32), np.zeros((0, GREY_FEATURES), np.float32),
                           *(np.array([], dtype) for dtype in (bool, str, str, str, int, bool)))
    return FeatureRows(np.asarray(columns["colour"], np.float32), np.asarray(columns["grey"], np.float32),
                       np.asarray(columns["live"], bool), np.asarray(columns["kind"]),
                       np.asarray(columns["person"]), np.asarray(columns["source"]), np.asarray(columns["version"]),
                       np.asarray(columns["grey_frame"], bool))


def grouped_by_face(samples, model, threshold=None, on_unreadable=None):
    """`samples` whose files say nobody's name (no person folder) given the person their face shows: the main
    face of each such file's first frame with one, embedded and clustered (clustering.chinese_whispers, at the
    decisions' threshold), so that cross-validation never fits on one person and measures on the same person. A
    photo held up of someone who also walked up is that person's (held out with them, which is the fair test). A
    file with no face, or a face like nobody else's, stays its own."""
    from ..clustering import chinese_whispers, neighbour_graph
    from ..matching import THRESHOLD

    unnamed = [i for i, sample in enumerate(samples) if sample.person == str(sample.path)]
    embedded, faces = [], []
    for index in unnamed:
        for image in readable_frames(samples[index].path, on_unreadable)[:5]:
            found = model.detect(image)
            if found:
                faces.append(model.embed([model.crop(image, found[0])])[0])
                embedded.append(index)
                break
    if not embedded:
        return list(samples)
    labels = chinese_whispers(neighbour_graph(np.stack(faces).astype(np.float32), threshold or THRESHOLD))
    people = {index: f"face-{label}" for index, label in zip(embedded, labels.tolist())}
    return [Sample(s.path, s.live, s.kind, people.get(i, s.person)) for i, s in enumerate(samples)]


def cached_rows(name, data, cache, model=None):
    """The FeatureRows of dev database `name` under `data` (as recorded and at training.JPEG_QUALITIES), read from
    `cache`/NAME.npz when there, else extracted and saved there."""
    from .training import JPEG_QUALITIES

    path = Path(cache) / f"{name}.npz"
    if path.exists():
        return FeatureRows.load(path)
    if model is None:
        from ..faces.pipeline import load_model

        model = load_model()
    rows = feature_rows(DATABASES[name](Path(data)), model, JPEG_QUALITIES,
                        lambda done, total: print(f"{name}: {done}/{total}", end="\r", flush=True))
    rows.save(path)
    return rows
