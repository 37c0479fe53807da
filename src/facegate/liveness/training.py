"""Training the texture cue: `scripts/train-liveness DATA [OUT]` fits texture.npz from labelled live and attack
clips and stills (the dev sets: Replay-Attack's train split and NUAA's dev stills; or a site's own camera's).
Deterministic: the same data gives the same parameters (tests/test_liveness.py checks the shipped ones)."""
import csv
import sys
from pathlib import Path

import numpy as np

from .datasets import VIDEO_SUFFIXES
from .texture import PARAMETERS, crops, features, fit, grey_features

TRAINING_SETS = (("replayattack-train", "labels.csv"), ("nuaa-dev", "labels.csv"))
"""(folder under DATA, its table): rows with `file` (a video or a picture) and `label` (live, or an attack kind)."""
FRAME_STEP = 2
"""Every second frame of a clip: its neighbours add little that is new."""
L2 = 10.0
JPEG_QUALITIES = (30, 50, 75)
"""Each training frame also counts as a camera would send it, JPEG-compressed at these qualities: a door camera's
codec (MJPEG, or an H.264 stream re-encoded) must not make live faces look like prints. Without them Miranda's
close-up in the dev clip's MJPEG copy had 29% of its frames at a live probability >= 0.9 (63% with them)."""


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


def compressed(image, quality):
    """An RGB frame after a JPEG round trip at `quality` (libjpeg, as OpenCV's imencode and imdecode do it)."""
    import cv2

    encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def grey(image):
    """An RGB frame as a camera in IR night mode sends it: its luminance in all three channels."""
    import cv2

    return np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)


def feature_rows(image, keypoints, qualities=JPEG_QUALITIES):
    """The training rows of one face, (colour rows, grey rows): its features as recorded, then at each of
    `qualities`; the same of its grey copy for the grey cue."""
    versions = [image] + [compressed(image, quality) for quality in qualities]
    grey_image = grey(image)
    grey_versions = [grey_image] + [compressed(grey_image, quality) for quality in qualities]
    return ([features(crops(version, keypoints)) for version in versions],
            [grey_features(crops(version, keypoints)) for version in grey_versions])


def training_features(data, model):
    """(colour features, grey features, labels): rows for each frame whose main face was found, as recorded and
    at JPEG_QUALITIES (the face found once, on the frame as recorded), in colour and as a grey copy."""
    vectors, grey_vectors, labels = [], [], []
    for path, is_live in labelled_files(data):
        for image in frames_of(path):
            faces = model.detect(image)
            if not faces:
                continue
            rows, grey_rows = feature_rows(image, faces[0].keypoints)
            vectors.extend(rows)
            grey_vectors.extend(grey_rows)
            labels.extend([1 if is_live else 0] * len(rows))
    return np.stack(vectors), np.stack(grey_vectors), np.asarray(labels)


def grey_path(out):
    """Where the grey cue is saved beside the colour one `out` (texture.npz: texture-grey.npz)."""
    out = Path(out)
    return out.with_name(f"{out.stem}-grey{out.suffix}")


def train(data, out=PARAMETERS, model=None):
    """Fit the texture cues on the training sets under `data` and save them to `out` and grey_path(out); (the
    colour model, the grey model, row count)."""
    from ..faces.pipeline import load_model

    vectors, grey_vectors, labels = training_features(data, model or load_model())
    texture, grey_texture = fit(vectors, labels, l2=L2), fit(grey_vectors, labels, l2=L2)
    texture.save(out)
    grey_texture.save(grey_path(out))
    return texture, grey_texture, len(labels)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or len(argv) > 2:
        sys.exit("usage: train-liveness DATA_DIR [OUT.npz]   (DATA_DIR holds replayattack-train/ and nuaa-dev/, "
                 "or a labels.csv of its own: file,label)")
    out = Path(argv[1]) if len(argv) > 1 else PARAMETERS
    texture, grey_texture, rows = train(argv[0], out)
    print(f"{out}: texture cue fitted on {rows} rows ({rows // (1 + len(JPEG_QUALITIES))} frames, each as "
          f"recorded and at JPEG qualities {', '.join(map(str, JPEG_QUALITIES))}; {len(texture.weights)} features); "
          f"{grey_path(out)}: the grey cue on their grey copies ({len(grey_texture.weights)} features)")


if __name__ == "__main__":
    main()
