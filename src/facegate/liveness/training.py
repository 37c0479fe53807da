"""Training the texture cue: `scripts/train-liveness DATA [OUT]` fits texture.npz from labelled live and attack
clips and stills (the dev sets: Replay-Attack's train split and NUAA's dev stills; or a site's own camera's).
Deterministic: the same data gives the same parameters (tests/test_liveness.py checks the shipped ones)."""
import csv
import sys
from pathlib import Path

import numpy as np

from .texture import PARAMETERS, crops, features, fit

TRAINING_SETS = (("replayattack-train", "labels.csv"), ("nuaa-dev", "labels.csv"))
"""(folder under DATA, its table): rows with `file` (a video or a picture) and `label` (live, or an attack kind)."""
FRAME_STEP = 2
"""Every second frame of a clip: its neighbours add little that is new."""
L2 = 10.0
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


def labelled_files(data):
    """(path, is_live) of every row of the training sets under `data`; or of `data`/labels.csv when there is one
    (a site's own recordings: columns file, a video or a picture relative to `data`, and label, live or not)."""
    data = Path(data)
    sets = [(".", "labels.csv")] if (data / "labels.csv").is_file() else TRAINING_SETS
    for folder, table in sets:
        with open(data / folder / table, newline="") as handle:
            for row in csv.DictReader(handle):
                yield data / folder / row["file"], row["label"] == "live"


def frames_of(path):
    """The RGB frames a file contributes: every FRAME_STEP-th of a video, or the picture."""
    from ..faces.imaging import load_image

    if path.suffix.lower() not in VIDEO_SUFFIXES:
        return [load_image(path)]
    from ..watch.video import VideoSource

    with VideoSource(path) as source:
        return [frame.image for frame in source][::FRAME_STEP]


def training_features(data, model):
    """(features, labels): one row per frame whose main face was found."""
    vectors, labels = [], []
    for path, is_live in labelled_files(data):
        for image in frames_of(path):
            faces = model.detect(image)
            if faces:
                vectors.append(features(crops(image, faces[0].keypoints)))
                labels.append(1 if is_live else 0)
    return np.stack(vectors), np.asarray(labels)


def train(data, out=PARAMETERS, model=None):
    """Fit the texture cue on the training sets under `data` and save it to `out`; (the model, frame count)."""
    from ..faces.pipeline import load_model

    vectors, labels = training_features(data, model or load_model())
    texture = fit(vectors, labels, l2=L2)
    texture.save(out)
    return texture, len(labels)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or len(argv) > 2:
        sys.exit("usage: train-liveness DATA_DIR [OUT.npz]   (DATA_DIR holds replayattack-train/ and nuaa-dev/, "
                 "or a labels.csv of its own: file,label)")
    out = Path(argv[1]) if len(argv) > 1 else PARAMETERS
    texture, frames = train(argv[0], out)
    print(f"{out}: texture cue fitted on {frames} frames ({len(texture.weights)} features)")


if __name__ == "__main__":
    main()
