"""Enrollment from photos, shared by `facegate enroll` and the service's enrollment desk (POST /people/NAME)."""
import os
from dataclasses import dataclass, field

from .encoder import encode_images
from .errors import ImageError, NoFaceError
from .imaging import check_image


@dataclass
class Enrollment:
    """The photos' outcome: embeddings to add with their source names, refused photos (ImageError, each with its
    reason), and quality warnings (photo, reasons) about the accepted ones."""

    embeddings: list = field(default_factory=list)
    sources: list = field(default_factory=list)
    enrolled: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def enroll_photos(paths, load_model, largest=False, names=None):
    """Encode `paths` for enrollment: each photo must show exactly one face (with `largest`, its main face).

    `load_model()` gives the model; it is called only when a photo passes the header check, so clearly unusable
    files are refused before any model loads. `names` gives each path the name it is recorded under (default:
    the file's name)."""
    outcome, files, labels = Enrollment(), [], {}
    for index, path in enumerate(paths):  # clearly unusable files are refused before the model runs
        label = names[index] if names else os.path.basename(str(path))
        try:
            check_image(path)
            files.append(path)
            labels[str(path)] = label
        except ImageError as exc:
            outcome.refused.append(exc)
    model = load_model() if files else None
    for result in encode_images(files, model, assess_quality=True) if files else []:
        problem = result.error
        if not problem and not result.faces:
            result.faces = faces_with_border(result.path, model)
        if not problem and not result.faces:
            problem = NoFaceError(result.path).reason
        elif not problem and len(result.faces) > 1 and not largest:
            problem = f"{len(result.faces)} faces found; use --largest to enroll the main one"
        if problem:
            outcome.refused.append(ImageError(result.path, problem))
            continue
        outcome.embeddings.append(result.faces[0].embedding)
        outcome.sources.append(labels[result.path])
        outcome.enrolled.append(result.path)
        if result.faces[0].problems:
            outcome.warnings.append((result.path, result.faces[0].problems))
    return outcome


BORDER = 0.25
"""The border added on each side (a share of the photo's size) when a photo shows no face: badge and ID photos
are often cropped to the face, with no forehead or chin, and MTCNN finds nothing there (docs/accuracy.md)."""


def faces_with_border(path, model):
    """The faces of the photo at `path` padded with a border of its own edge pixels, quality assessed: a second
    look at a tight crop. Boxes are in the padded picture (enrollment needs only the embedding)."""
    import numpy as np

    from .imaging import load_image

    image = load_image(path)
    height, width = image.shape[:2]
    pad_y, pad_x = int(height * BORDER), int(width * BORDER)
    padded = np.pad(image, ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), mode="edge")
    return model.faces_in_arrays([padded], assess_quality=True)[0]
