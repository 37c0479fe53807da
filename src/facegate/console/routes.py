"""The console's routes (see the package's docstring), at module level in one blueprint; each request finds its
service's Desk with desk()."""
import hmac
import json
import os
import threading
import time
from datetime import datetime, timedelta, timezone

from flask import (Blueprint, Response, abort, current_app, g, redirect, render_template, request,
                   stream_with_context, url_for)

from ..accesslog import DECISIONS, LogError, log_of, parse_since, purge_person
from .. import audit
from ..db import check_name, transaction
from ..enrollment import add_person, enroll_photos
from ..errors import DatabaseError, FacegateError
from ..files import private_files
from ..service.auth import bearer_of, token_matches
from ..watch.heartbeat import SILENT_AFTER
from .desk import (CONTENT_SECURITY_POLICY, DAYS_SHOWN, EVENT_POLL_SECONDS, EVENT_STREAM_SECONDS, LIVE_VIEWS,
                   OPEN_ENDPOINTS, PAGE_SIZE, SESSION_COOKIE, SESSION_SECONDS, is_console_path)

DESK = "facegate.console"
"""Where an app keeps its Desk (app.extensions)."""
console = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                    static_url_path="/console/static")


def desk():
    """The Desk of the app serving this request."""
    return current_app.extensions[DESK]


@console.before_request
def who_is_calling():
    if desk().tokens.admin is None and desk().tokens.verify is not None:
        abort(404)  # administration is off
    g.csrf, g.admin = None, False
    g.acting = audit.begin_acting("console (not logged in)", request.remote_addr)  # ended by the app's teardown
    if desk().tokens.admin is None:  # no token at all: loopback only, the local user (as the API)
        g.admin, g.csrf = True, desk().open_csrf
        _acting_as("console (no token: loopback service)")
        return None
    if token_matches(bearer_of(request.headers.get("Authorization", "")), desk().tokens.admin):
        g.admin, g.csrf = True, None  # a script: no cookie, so no cross-site request can ride on it
        _acting_as("console (admin token)")
        return None
    csrf = desk().sessions.csrf_of(request.cookies.get(SESSION_COOKIE))
    if csrf is not None:
        g.admin, g.csrf = True, csrf
        _acting_as(audit.session_name(request.cookies.get(SESSION_COOKIE)))
    elif request.endpoint not in OPEN_ENDPOINTS:  # every other page is the admin's
        if request.method == "GET" and "text/html" in request.headers.get("Accept", "text/html"):
            return redirect(url_for("console.login"))
        return _page("error.html", status=401, message="log in with the admin token first")
    return None


def _acting_as(who):
    """The request's changes are audited as made by `who` from its client."""
    audit.end_acting(g.pop("acting"))
    g.acting = audit.begin_acting(who, request.remote_addr)


@console.before_request
def check_csrf():
    if request.method != "POST" or request.endpoint in ("console.login",) or g.csrf is None:
        return None
    presented = request.form.get("csrf") or request.headers.get("X-CSRF-Token") or ""
    if not hmac.compare_digest(presented.encode(), g.csrf.encode()):
        return _page("error.html", status=403, message="this form is out of date or was not sent by the "
                                                        "console (CSRF token missing or wrong): reload it")
    return None


@console.after_app_request
def security_headers(response):
    if is_console_path(request.path):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@console.get("/")
def home():
    return redirect(url_for("console.access_log"))


@console.get("/login")
def login_form():
    if g.admin:
        return redirect(url_for("console.access_log"))
    return _page("login.html")


@console.post("/login")
def login():
    if desk().tokens.admin is None:
        return redirect(url_for("console.access_log"))
    keys = (("login", request.remote_addr),)  # locked out after --max-failures wrong tokens
    wait = desk().throttle.refusal(*keys) if desk().throttle is not None else 0
    if wait > 0:
        return _page("login.html", status=429, message=f"too many wrong tokens from here; try again in "
                                                       f"{wait:.0f} s")
    presented = request.form.get("token", "").strip()
    if not token_matches(presented, desk().tokens.admin):
        if desk().throttle is not None:
            desk().throttle.failed(*keys)
        audit.record(desk().state.live.db_path, "console login failed",
               reason="the verify token" if token_matches(presented, desk().tokens.verify) else "a wrong token")
        if token_matches(presented, desk().tokens.verify):
            return _page("login.html", status=403, message="this token verifies faces; it cannot open the console")
        return _page("login.html", status=401, message="not the admin token")
    session, _ = desk().sessions.open()
    audit.record(desk().state.live.db_path, "console login", session=audit.session_name(session))
    response = redirect(url_for("console.access_log"))
    response.set_cookie(SESSION_COOKIE, session, max_age=SESSION_SECONDS, httponly=True, samesite="Strict",
                        secure=request.is_secure, path="/")
    return response


@console.post("/logout")
def logout():
    desk().sessions.close(request.cookies.get(SESSION_COOKIE))
    response = redirect(url_for("console.login"))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@console.get("/console/people")
def people():
    return _people_page()


@console.post("/console/people/enroll")
def enroll():
    name = request.form.get("name", "").strip()
    files = [(upload.filename, upload.read()) for upload in request.files.getlist("photos") if upload.filename]
    return _enrolled(_people_page, name, files, f"{name}: choose one or more photos to enroll")


@console.get("/console/unknown")
def unknown_visitors():
    return _visitors_page()


@console.post("/console/unknown/enroll")
def enroll_visitors():
    name, keys = request.form.get("name", "").strip(), request.form.getlist("key")
    store = log_of(desk().state.live.db_path)
    crops = [(f"unknown visitor {index}", store.face(key)) for index, key in enumerate(keys, 1)]
    crops = [(label, crop) for label, crop in crops if crop is not None]
    return _enrolled(_visitors_page, name, crops, f"{name}: choose the faces that are {name}")


@console.post("/console/people/rename")
def rename():
    old, new = request.form.get("name", ""), request.form.get("new", "").strip()
    try:
        check_name(new)
        with transaction(desk().state.live.db_path) as current:
            current.rename(old, new)
    except FacegateError as exc:
        return _people_page(errors=[str(exc)], status=400)
    return _people_page(notes=[f"{old} is now {new}"])


@console.post("/console/people/remove")
def remove():
    name = request.form.get("name", "")
    try:
        with transaction(desk().state.live.db_path) as current:
            removed = current.remove(name)
        notes = [f"{name}: removed ({removed} photo(s))"]
        if request.form.get("purge_log"):
            notes.append(f"{name}: {purge_person(desk().state.live.db_path, name)} access-log record(s) purged")
    except FacegateError as exc:
        return _people_page(errors=[str(exc)], status=400)
    return _people_page(notes=notes)


@console.get("/console/log")
def access_log():
    filters = {key: request.args.get(key, "").strip() for key in ("door", "person", "decision", "since",
                                                                     "until")}
    try:
        page = max(1, int(request.args.get("page", 1)))
        since = parse_since(filters["since"] or None)
        until = parse_since(filters["until"] or None)
    except (LogError, ValueError) as exc:
        return _page("log.html", status=400, records=[], total=0, page=1, pages=1, filters=filters,
                     decisions=DECISIONS, message=f"{exc}" if isinstance(exc, LogError) else "page: a number")
    store = log_of(desk().state.live.db_path)
    shown, total = store.newest((page - 1) * PAGE_SIZE, PAGE_SIZE, since, until, filters["person"] or None,
                                filters["door"] or None, filters["decision"] or None)
    pages = max(1, -(-total // PAGE_SIZE))
    return _page("log.html", records=[_shown(store, record) for record in shown], total=total,
                 page=min(page, pages), pages=pages, filters=filters, decisions=DECISIONS,
                 retention=desk().state.current()[0].retention.lines())


@console.get("/console/days")
def days():
    """`log --stats` as a page: per UTC day and person, how often the door opened and refused."""
    door = request.args.get("door", "").strip()
    try:
        since = parse_since(request.args.get("since", "").strip() or None)
    except LogError as exc:
        since, message = None, str(exc)
    else:
        message = None
    if since is None:
        since = datetime.now(timezone.utc) - timedelta(days=DAYS_SHOWN)
    stats = log_of(desk().state.live.db_path).daily(since, door or None)
    by_day = {}
    for (day, person), counts in stats.items():
        by_day.setdefault(day, []).append((person, counts["opened"], counts["refused"]))
    return _page("days.html", status=400 if message else 200, message=message, days=sorted(by_day.items(),
                 reverse=True), door=door, since=since.date().isoformat())


@console.get("/console/doors")
def doors():
    """Which doors are alive: each camera's newest heartbeat (watch/heartbeat.py), its age and state."""
    now = datetime.now(timezone.utc)
    shown = []
    for status in log_of(desk().state.live.db_path).doors():
        try:
            age = (now - datetime.fromisoformat(status["time"])).total_seconds()
        except (TypeError, ValueError):
            continue
        alive = "stopped" if status.get("state") == "stopped" else ("alive" if age <= SILENT_AFTER else "silent")
        shown.append((status, alive, age))
    return _page("doors.html", doors=shown, silent_after=SILENT_AFTER)


@console.get("/console/thumbnail")
def thumbnail():
    """The face crop kept with one of a person's enrolled photos (404 when none was kept)."""
    database, _, _ = desk().state.current()
    return _jpeg(database.thumbnail(request.args.get("name", "")), cache_seconds=300)


@console.get("/console/face")
def face():
    return _jpeg(log_of(desk().state.live.db_path).face(request.args.get("key", "")), cache_seconds=86400)


@console.get("/console/events")
def events():
    """The live log. A place among the LIVE_VIEWS is taken only for a body that is being sent, and given back
    when the server closes the response, whether or not its body was ever read (a HEAD's never is)."""
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if request.method == "HEAD":
        return Response(mimetype="text/event-stream", headers=headers)
    store, live_views = log_of(desk().state.live.db_path), desk().live_views
    if not live_views.acquire(blocking=False):
        return Response(f"at most {LIVE_VIEWS} live views at once: the doors' decisions come first\n",
                        status=503, mimetype="text/plain")
    released = threading.Event()

    def release():
        if not released.is_set():
            released.set()
            live_views.release()

    def stream():
        cursor = store.end()
        yield "retry: 1000\n\n"
        ends = time.monotonic() + EVENT_STREAM_SECONDS
        while time.monotonic() < ends:
            time.sleep(EVENT_POLL_SECONDS)
            records, cursor = store.after(cursor)
            for record in records:
                yield f"data: {json.dumps(_shown(store, record))}\n\n"
            yield ": alive\n\n"

    response = Response(stream_with_context(stream()), mimetype="text/event-stream", headers=headers)
    response.call_on_close(release)
    return response



def _shown(store, record):
    """A record as the log page shows it: its fields, and the URL of its face crop when one was kept."""
    key = store.face_key(record)
    return {key_: value for key_, value in record.items() if key_ not in ("face", "id")} | {
        "face_url": url_for("console.face", key=key) if key else None}


def _jpeg(data, cache_seconds):
    """A picture's answer (kept by the browser alone for `cache_seconds`), or 404 when there is none."""
    if data is None:
        abort(404)
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": f"private, max-age={cache_seconds}"})


def _enrolled(page, name, photos, none_chosen):
    """`page` after enrolling `name` from `photos` [(label, bytes)]: a bad name or no photo (`none_chosen`) 400,
    nothing enrolled 422."""
    try:
        check_name(name)
    except DatabaseError as exc:
        return page(errors=[str(exc)], status=400)
    if not photos:
        return page(errors=[none_chosen], status=400)
    errors, notes, added = _enroll(name, photos)
    return page(errors=errors, notes=notes, status=200 if added else 422)


def _enroll(name, photos):
    """Enroll `name` from `photos` [(label, bytes)] as the command line does: (errors, notes, how many added); each
    refused photo's reason is an error naming its label."""
    state = desk().state
    with private_files(data for _, data in photos) as paths:
        labels = dict(zip(paths, (label for label, _ in photos)))
        with state.lock:
            outcome = enroll_photos(paths, lambda: state.model, names=[label for label, _ in photos])
        if outcome.embeddings:
            add_person(state.live.db_path, name, outcome.embeddings, outcome.sources, state.model.name,
                       outcome.thumbnails)
    errors = [f"{labels.get(e.path, os.path.basename(e.path))}: {e.reason}" for e in outcome.refused]
    notes = [f"{name}: {len(outcome.embeddings)} photo(s) enrolled"] if outcome.embeddings else []
    notes += [f"{labels.get(path, path)}: {'; '.join(problems)}" for path, problems in outcome.warnings]
    if not outcome.embeddings:
        errors.append(f"nothing enrolled for {name}")
    return errors, notes, len(outcome.embeddings)


def _visitors_page(errors=(), notes=(), status=200):
    store = log_of(desk().state.live.db_path)
    groups, alone, recognised = desk().visitors.groups(store)
    return _page("unknown.html", status=status, groups=groups, alone=alone, recognised=recognised, errors=errors,
                 notes=notes, face_url=lambda key: url_for("console.face", key=key))


def _people_page(errors=(), notes=(), status=200):
    database, _, _ = desk().state.current()
    people = sorted(database.name_counts().items())
    return _page("people.html", status=status, people=people, errors=errors, notes=notes)


@console.get("/console/audit")
def audit_trail():
    """The audit trail, newest first, and whether its hash chain holds."""
    records = audit.trail_of(desk().state.live.db_path).read()
    intact, problem = audit.check(records)
    shown = [r for r in reversed(records) if isinstance(r, dict)][:PAGE_SIZE * 4]
    return _page("audit.html", records=shown, total=len(records), intact=intact, problem=problem,
                 head=records[intact - 1]["hash"] if intact else None)


def _page(template, status=200, **values):
    return render_template(template, csrf=g.get("csrf"), admin=g.get("admin"), **values), status
