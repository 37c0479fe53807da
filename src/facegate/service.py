"""`facegate serve`: the model and database kept warm behind a small HTTP API (Flask app, waitress server).

    GET  /health                  {"status": "ok", "model", "people", "threshold"}
    POST /verify?name=NAME        body: the image file  -> the `facegate verify --json` record
    POST /identify                body: the image file  -> the `facegate identify --json` record

The body is the image itself (Content-Type anything, e.g. image/jpeg) or a multipart form with one file.
Errors answer {"error": "<one line>"} with 400 (unusable image), 404 (unknown name), 413 (too large),
422 (no face, or several with require_single_face=1). The database is re-read when it changes on disk, so
enrolling with the command line while the service runs takes effect at the next request.
"""
import os
import tempfile
import threading

from flask import Flask, jsonify, request

from .encoder import encode_images
from .errors import (DatabaseError, FacegateError, ImageError, MultipleFacesError, NoFaceError, UnknownIdentityError,
                     printable)
from .matching import LiveGallery, verify_main_face
from .records import image_record, match_faces, verify_record

DEFAULT_PORT = 8080
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class WarmState:
    """The loaded model and the database as last read (a LiveGallery); the model runs one request at a time."""

    def __init__(self, db_path, model, threshold=None):
        self.model = model
        self.lock = threading.Lock()
        self.live = LiveGallery(db_path, model.name, threshold)

    def current(self):
        """(database, gallery, threshold in force), read again when the index file has changed on disk."""
        return self.live.current()


def create_app(state, max_upload_bytes=MAX_UPLOAD_BYTES):
    app = Flask("facegate")
    app.config["MAX_CONTENT_LENGTH"] = max_upload_bytes

    def failure(status, message):
        return jsonify({"error": message}), status

    @app.errorhandler(FacegateError)
    def facegate_error(exc):
        if isinstance(exc, UnknownIdentityError):
            return failure(404, str(exc))
        if isinstance(exc, ImageError):  # name the upload, not the temporary file it was decoded from
            message = printable(f"{_upload_name()}: {exc.reason}")
            return failure(422 if isinstance(exc, (NoFaceError, MultipleFacesError)) else 400, message)
        return failure(500 if isinstance(exc, DatabaseError) else 400, str(exc))

    @app.errorhandler(413)
    def too_large(_exc):
        return failure(413, f"request body larger than {max_upload_bytes:,} bytes")

    @app.errorhandler(404)
    def not_found(_exc):
        return failure(404, "no such endpoint: use /health, /verify?name=NAME or /identify")

    @app.errorhandler(405)
    def wrong_method(_exc):
        return failure(405, "method not allowed: POST the image to /verify or /identify, GET /health")

    @app.get("/health")
    def health():
        database, _, limit = state.current()
        return jsonify({"status": "ok", "model": state.model.name, "people": len(database.people()),
                        "threshold": limit})

    @app.post("/verify")
    def verify():
        name = request.args.get("name")
        if name is None:
            return failure(400, "missing ?name= (the claimed identity)")
        single = request.args.get("require_single_face", "0").lower() in ("1", "true", "yes")
        _, gallery, limit = state.current()
        gallery.embeddings_of(name)  # unknown names are refused before the upload is stored
        with _uploaded_image() as path, state.lock:
            distance, door_open, face_count = verify_main_face(path, name, gallery, state.model, limit, single)
        return jsonify(verify_record(_upload_name(), name, distance, door_open, limit, face_count))

    @app.post("/identify")
    def identify():
        _, gallery, limit = state.current()
        if not len(gallery.names):
            raise DatabaseError("the database is empty: enroll someone first")
        with _uploaded_image() as path, state.lock:
            result = encode_images([path], state.model)[0]
        if result.error:
            raise ImageError(_upload_name(), result.error)
        if not result.faces:
            raise NoFaceError(_upload_name())
        record = image_record(result, match_faces(result, gallery, limit))
        return jsonify({**record, "path": _upload_name()})

    return app


def _form_upload():
    """The file of a multipart form, or None: any other body is the image itself, whatever its Content-Type
    says (curl --data-binary sends application/x-www-form-urlencoded)."""
    if request.mimetype != "multipart/form-data":
        return None
    return next(iter(request.files.values()), None)


def _upload_name():
    upload = _form_upload()
    return (upload.filename if upload and upload.filename else None) or "upload"


class _uploaded_image:
    """The request's image written to a private temporary file (the decoders read files), removed after."""

    def __enter__(self):
        upload = _form_upload()
        data = upload.read() if upload else request.get_data(cache=False)
        if not data:
            raise ImageError("upload", "empty request body: POST the image file")
        descriptor, self.path = tempfile.mkstemp(prefix="facegate-upload-")
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return self.path

    def __exit__(self, *exc_info):
        os.unlink(self.path)


def serve(state, host, port, max_upload_bytes=MAX_UPLOAD_BYTES, threads=4):
    """Run the service until interrupted (waitress, a production WSGI server)."""
    import waitress

    waitress.serve(create_app(state, max_upload_bytes), host=host, port=port, threads=threads,
                   # Flask answers 413 in JSON first; waitress's cap (with room for multipart framing) guards
                   # bodies sent without a length.
                   max_request_body_size=2 * max_upload_bytes + 65536, ident="facegate")
