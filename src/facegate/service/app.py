"""`facegate serve`: the model and database kept warm behind a small HTTP API (Flask app, waitress server).

    GET  /health                  {"status": "ok", "model", "people", "threshold"}
    POST /verify?name=NAME        body: the image file  -> the `facegate verify --json` record
                                  (&liveness=1: judged live or not, as `verify --liveness`;
                                  &camera=NAME: by that camera's liveness profile, as `verify --camera`)
    POST /identify                body: the image file  -> the `facegate identify --json` record
    GET  /people                  (admin) {"people": [{"name", "photos"}]}
    GET  /log?since=&name=&door=&decision=&limit=   (admin) {"records": [...], "total"}
    POST /people/NAME             (admin) body: a photo, or a multipart form of photos -> {"name", "added", ...}
    DELETE /people/NAME           (admin) {"name", "removed"}
    GET  /                        the web console (facegate.console), with an admin token or without any token

With a verify token (--token-file / FACEGATE_TOKEN) every request needs `Authorization: Bearer TOKEN` (401
otherwise); the /people and /log endpoints exist only with an admin token (--admin-token-file / FACEGATE_ADMIN_TOKEN),
which they require (the verify token gets 403). Tokens are compared in constant time and never logged.

The body is the image itself (Content-Type anything, e.g. image/jpeg) or a multipart form with one file.
Errors answer {"error": "<one line>"} with 400 (unusable image), 404 (unknown name), 413 (too large),
422 (no face, or several with require_single_face=1), 429 (too many failed verifies for a name or from a client:
the guessing defence, see Throttle). The database is re-read when it changes on disk, so
enrolling with the command line while the service runs takes effect at the next request.
"""
import contextlib
import os
import threading

from flask import Flask, g, jsonify, request

from ..accesslog import LogError, parse_since
from ..audit import begin_acting, end_acting
from ..db import check_name, transaction
from ..decisions import identify_faces, verify_picture
from ..enrollment import add_person, enroll_photos
from ..errors import (DatabaseError, FacegateError, ImageError, MultipleFacesError, NoFaceError, UnknownIdentityError,
                      printable)
from ..faces.pipeline import encode_images
from ..files import private_files
from ..matching import LiveGallery
from ..records import image_record, verify_record
from ..console import is_console_path, register_console
from .auth import Tokens, caller_of, check_exposure, refusal_of, refusal_of_forwarding, refusal_of_host

DEFAULT_PORT = 8080
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class WarmState:
    """The loaded model and the database as last read (a LiveGallery); the model runs one request at a time."""

    def __init__(self, db_path, model, threshold=None, access_log=None, require_liveness=False):
        self.model, self.access_log, self.require_liveness = model, access_log, require_liveness
        self.lock = threading.Lock()
        self.live = LiveGallery(db_path, model.name, threshold)

    def current(self):
        """(database, gallery, threshold in force), read again when the index file has changed on disk."""
        return self.live.current()

    def log_refusal(self, command, **fields):
        """A request refused by the guessing defence, into the access log (decision `throttled`)."""
        if self.access_log is not None:
            self.access_log.record(command, "throttled", caller=request.remote_addr, **fields)


def create_app(state, max_upload_bytes=MAX_UPLOAD_BYTES, tokens=Tokens(), throttle=None, trusted_proxy=None):
    """The Flask app of the API over `state` (a WarmState): who may call is auth.py's, what is answered here."""
    app = Flask("facegate")
    app.config["MAX_CONTENT_LENGTH"] = max_upload_bytes

    _authorise_requests(app, tokens, trusted_proxy)
    _answer_errors(app, max_upload_bytes)
    _route_decisions(app, state, throttle)
    _route_administration(app, state)
    register_console(app, state, tokens, throttle)
    return app


def failure(status, message):
    """An error answer: {"error": message} with `status`."""
    return jsonify({"error": message}), status


def _authorise_requests(app, tokens, trusted_proxy):
    @app.teardown_request
    def forget_caller(_exc=None):
        if g.get("acting") is not None:
            end_acting(g.pop("acting"))

    @app.before_request
    def authorise():
        refused = refusal_of_forwarding(request.headers, trusted_proxy)
        if refused is None and tokens.verify is None:  # open to the local user: to loopback names only
            refused = refusal_of_host(request.host)
        if refused is not None:
            return failure(400, refused)
        if is_console_path(request.path):
            return None  # the console checks its callers itself (a session cookie or the admin token)
        refusal = refusal_of(tokens, request.path, request.headers.get("Authorization", ""))
        if refusal is None:
            g.acting = begin_acting(caller_of(tokens, request.headers.get("Authorization", "")),
                                    request.remote_addr)
            return None
        status, message = refusal
        if status == 401:
            response, status = failure(401, message)
            response.headers["WWW-Authenticate"] = 'Bearer realm="facegate"'
            return response, status
        return failure(status, message)


def _answer_errors(app, max_upload_bytes):
    @app.errorhandler(FacegateError)
    def facegate_error(exc):
        if isinstance(exc, UnknownIdentityError):
            return failure(404, str(exc))
        if isinstance(exc, ImageError):  # name the upload, not the temporary file it was decoded from
            message = printable(f"{_upload_name()}: {exc.reason}")
            return failure(422 if isinstance(exc, (NoFaceError, MultipleFacesError)) else 400, message)
        if isinstance(exc, LogError):  # --require-log: a decision that cannot be logged is refused
            return failure(503, str(exc))
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


def _flag(name):
    """A yes/no query parameter of the request: 1, true or yes (any case) is yes."""
    return request.args.get(name, "0").lower() in ("1", "true", "yes")


def _route_decisions(app, state, throttle):
    @app.get("/health")
    def health():
        database, _, limit = state.current()
        return jsonify({"status": "ok", "model": state.model.name, "people": len(database.name_counts()),
                        "threshold": limit})

    @app.post("/verify")
    def verify():
        name = request.args.get("name")
        if name is None:
            return failure(400, "missing ?name= (the claimed identity)")
        single, liveness = _flag("require_single_face"), _flag("liveness")
        if state.require_liveness and not liveness:
            return failure(400, "this service judges liveness on every verify (serve --require-liveness): add "
                                "&liveness=1")
        database, gallery, limit = state.current()
        gallery.embeddings_of(name)  # unknown names are refused before the upload is stored
        cue = database.liveness_cue(request.args.get("camera")) if liveness else None
        keys = (("name", name), ("client", request.remote_addr))
        wait = throttle.refusal(*keys) if throttle is not None else 0
        if wait > 0:
            state.log_refusal("verify", claim=name, threshold=limit)
            response, status = failure(429, f"too many failed attempts for {name!r} or from this client; "
                                            f"try again in {wait:.0f} s")
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response, status
        with _uploaded_image() as path, state.lock:
            distance, door_open, face_count, _, live = verify_picture(path, name, gallery, state.model, limit,
                                                                      state.access_log, single, liveness, cue,
                                                                      caller=request.remote_addr)
        if throttle is not None:
            throttle.succeeded(keys[0]) if door_open else throttle.failed(*keys)
        return jsonify(verify_record(_upload_name(), name, distance, door_open, limit, face_count, live, liveness,
                                     cue and cue.name))

    @app.post("/identify")
    def identify():
        _, gallery, limit = state.current()
        if gallery.is_empty():
            raise DatabaseError("the database is empty: enroll someone first")
        with _uploaded_image() as path, state.lock:
            result = encode_images([path], state.model)[0]
            if result.error:
                raise ImageError(_upload_name(), result.error)
            if not result.faces:
                raise NoFaceError(_upload_name())
            matches = identify_faces(result, gallery, limit, state.access_log, "identify",
                                     caller=request.remote_addr)
        record = image_record(result, matches)
        return jsonify({**record, "path": _upload_name()})


def _route_administration(app, state):
    @app.get("/people")
    def people():
        database, _, _ = state.current()
        return jsonify({"people": [{"name": name, "photos": len(entries)}
                                   for name, entries in database.people().items()]})

    @app.get("/log")
    def access_log():
        """(admin) The access log's records, newest last: ?since=DATE&name=&door=&decision=&limit=N (default 1000)."""
        from ..accesslog import read_log

        try:
            since = parse_since(request.args.get("since") or None)
            limit = int(request.args.get("limit", 1000))
        except (LogError, ValueError):
            return failure(400, "since must be an ISO 8601 date, limit a number")
        entries = list(read_log(state.live.db_path, since, request.args.get("name"), request.args.get("door"),
                                request.args.get("decision")))
        return jsonify({"records": entries[-limit:] if limit > 0 else [], "total": len(entries)})

    @app.post("/people/<name>")
    def enroll(name):
        try:
            check_name(name)
        except DatabaseError as exc:
            return failure(400, str(exc))
        with _uploaded_images() as (paths, labels), state.lock:
            outcome = enroll_photos(paths, lambda: state.model, names=labels)
        refused = [{"file": _label_of(error.path, paths, labels), "reason": error.reason} for error in outcome.refused]
        if not outcome.embeddings:
            return jsonify({"error": f"nothing enrolled for {name!r}", "refused": refused}), 422
        total = add_person(state.live.db_path, name, outcome.embeddings, outcome.sources, state.model.name,
                           outcome.thumbnails)
        warnings = [{"file": _label_of(path, paths, labels), "problems": problems} for path, problems in outcome.warnings]
        return jsonify({"name": name, "added": len(outcome.embeddings), "total": total, "refused": refused,
                        "warnings": warnings})

    @app.delete("/people/<name>")
    def remove(name):
        state.current()[1].embeddings_of(name)  # an unknown name is refused (404) before the database is touched
        with transaction(state.live.db_path) as current:
            removed = current.remove(name)
        return jsonify({"name": name, "removed": removed})

    return app


def _label_of(path, paths, labels):
    return labels[paths.index(path)] if path in paths else os.path.basename(path)


@contextlib.contextmanager
def _uploaded_images():
    """Every file of a multipart form (or the body as one image) in private temporary files, removed after:
    (paths, the upload names)."""
    files = [upload for upload in request.files.values()] if request.mimetype == "multipart/form-data" else []
    bodies = [(upload.filename or f"upload-{i}", upload.read()) for i, upload in enumerate(files, 1)] or \
        [("upload", request.get_data(cache=False))]
    for label, data in bodies:
        if not data:
            raise ImageError(label, "empty upload: POST the photo file")
    with private_files(data for _, data in bodies) as paths:
        yield paths, [label for label, _ in bodies]


def _form_upload():
    """The file of a multipart form, or None: any other body is the image itself, whatever its Content-Type
    says (curl --data-binary sends application/x-www-form-urlencoded)."""
    if request.mimetype != "multipart/form-data":
        return None
    return next(iter(request.files.values()), None)


def _upload_name():
    upload = _form_upload()
    return (upload.filename if upload and upload.filename else None) or "upload"


@contextlib.contextmanager
def _uploaded_image():
    """The request's image written to a private temporary file (the decoders read files), removed after."""
    upload = _form_upload()
    data = upload.read() if upload else request.get_data(cache=False)
    if not data:
        raise ImageError("upload", "empty request body: POST the image file")
    with private_files([data]) as (path,):
        yield path


def serve(state, host, port, max_upload_bytes=MAX_UPLOAD_BYTES, threads=4, tokens=Tokens(), throttle=None,
          trusted_proxy=None):
    """Run the service until interrupted (waitress, a production WSGI server). Only the `trusted_proxy` address's
    X-Forwarded-For and X-Forwarded-Proto are believed (waitress drops them from anyone else)."""
    import waitress

    check_exposure(host, tokens, trusted_proxy)
    # Without a trusted proxy waitress would drop the forwarding headers unseen: they are kept so that the app
    # refuses such a request (refusal_of_forwarding) instead of taking every client of a proxy for one.
    proxy = {"trusted_proxy": trusted_proxy, "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
             "trusted_proxy_count": 1} if trusted_proxy else {"clear_untrusted_proxy_headers": False}
    waitress.serve(create_app(state, max_upload_bytes, tokens, throttle, trusted_proxy), host=host, port=port,
                   threads=threads,
                   **proxy,
                   # Flask answers 413 in JSON first; waitress's cap (with room for multipart framing) guards
                   # bodies sent without a length.
                   max_request_body_size=2 * max_upload_bytes + 65536, ident="facegate")
