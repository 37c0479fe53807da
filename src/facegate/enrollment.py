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
    for result in encode_images(files, load_model(), assess_quality=True) if files else []:
        problem = result.error
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
