"""The scan loop's decisions: each encoded image matched, logged (--log), annotated (--annotate) and written to
the --output file (--resume), whoever prints it."""
from dataclasses import dataclass, field
from pathlib import Path

from ..decisions import identify_faces
from ..faces.annotate import save_annotated_result
from ..records import image_record


@dataclass
class Scan:
    """Decides on each image of a scan. `access_log` (or None) logs each face as `scan`; `annotate_to` (a folder)
    gets each image with faces drawn, under its path relative to `folder`; `results` (a ResultFile) each record."""

    gallery: object
    threshold: float
    model_name: str
    access_log: object = None
    annotate_to: Path = None
    folder: Path = None
    results: object = None
    counts: dict = field(default_factory=lambda: {"images": 0, "faces": 0, "identified": 0, "errors": 0})

    def __post_init__(self):
        self.anyone_enrolled = not self.gallery.is_empty()

    def decide(self, result):
        """The matches of the image's faces (None each when nobody is enrolled), after its side effects."""
        if self.anyone_enrolled:
            matches = identify_faces(result, self.gallery, self.threshold, self.access_log, "scan", path=result.path)
        else:
            matches = [None] * len(result.faces)
        self.counts["images"] += 1
        self.counts["faces"] += len(result.faces)
        self.counts["identified"] += sum(1 for m in matches if m and m.identity)
        self.counts["errors"] += result.error is not None
        if self.annotate_to and result.faces:
            relative = Path(result.path).relative_to(self.folder)
            save_annotated_result(result, matches, self.annotate_to / relative.with_name(relative.name + ".jpg"))
        if self.results:
            self.results.write(image_record(result, matches, self.model_name))
        return matches
