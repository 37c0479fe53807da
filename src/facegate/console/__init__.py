"""The desk: `facegate serve`'s web console for the people who run the doors, server-rendered HTML (Jinja2,
autoescaped: a name is always text) with one small script, everything served from the package (no CDN).

    GET  /                      -> the access log (or the login form)
    GET  /login, POST /login    the admin token, once, becomes a session cookie (HttpOnly, SameSite=Strict,
                                Secure over TLS: serve --trusted-proxy, 8 h); the guessing defence applies; the verify token is refused
    POST /logout
    GET  /console/people        everyone enrolled; enroll from uploaded photos (each refused one says why),
    POST /console/people/...    rename, remove (with --purge-log's choice), erase (everything held about a person)
    GET  /console/people/export?name=  everything held about a person, as a zip (subject NAME --export)
    GET  /console/audit         the audit trail of admin actions, and whether its hash chain holds
    GET  /console/log           newest first, paginated on the server, filters door/person/decision/time range
    GET  /console/days          `log --stats` by day: per person, how often the door opened and refused
    GET  /console/doors         every door camera's heartbeat: alive, silent (no beat for SILENT_AFTER) or stopped
    GET  /console/unknown       recent unknown visitors' face crops, grouped by clustering; POST .../enroll names
                                the chosen ones ("this is Ana": they are enrolled as Ana)
    GET  /console/thumbnail?name=  a person's thumbnail (the face crop kept with an enrolled photo)
    GET  /console/face?key=     a decision's face crop, where the log kept one (--log-faces)
    GET  /console/events        Server-Sent Events: each new access-log record as it is written (every door)

Who may open it: with an admin token, a session from the login form or `Authorization: Bearer ADMIN_TOKEN`;
with no token at all (loopback only, as the API), the local user; with only a verify token, nobody (404). Every
state-changing request carries the session's CSRF token; the pages are sent with a Content-Security-Policy that
allows no inline script."""
from .desk import Desk, is_console_path

__all__ = ["is_console_path", "register_console"]


def register_console(app, state, tokens, throttle=None):
    """Serve the console on `app` over the service's WarmState, tokens and guessing defence."""
    from . import subject  # noqa: F401 - its routes join the blueprint
    from .routes import DESK, console

    app.extensions[DESK] = Desk(state, tokens, throttle)
    app.register_blueprint(console)
