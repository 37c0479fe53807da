"""The People page's requests about one person's data (subjects.py): export it as a zip, or erase it all."""
import io
import tempfile
import zipfile
from pathlib import Path

from flask import Response, request

from ..errors import FacegateError
from ..subjects import erase, export
from .routes import _people_page, console, desk


@console.get("/console/people/export")
def export_subject():
    """Everything held about ?name=, as a zip (the folder `subject NAME --export` writes)."""
    name = request.args.get("name", "")
    database, _, _ = desk().state.current()
    with tempfile.TemporaryDirectory(prefix="facegate-subject-") as scratch:
        try:
            export(database, name, Path(scratch) / "export")
        except FacegateError as exc:
            return _people_page(errors=[str(exc)], status=404)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted((Path(scratch) / "export").rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(Path(scratch) / "export").as_posix())
    response = Response(buffer.getvalue(), mimetype="application/zip")
    response.headers["Content-Disposition"] = "attachment; filename=facegate-subject.zip"
    return response


@console.post("/console/people/erase")
def erase_subject():
    """Remove everything held about the form's name (enrollment, access-log records, face crops, snapshots)."""
    name = request.form.get("name", "")
    database, _, _ = desk().state.current()
    try:
        counts = erase(desk().state.live.db_path, database, name)
    except FacegateError as exc:
        return _people_page(errors=[str(exc)], status=400)
    return _people_page(notes=[f"{name}: erased: " + ", ".join(f"{n} {what.replace('_', ' ')}"
                                                              for what, n in counts.items())])
