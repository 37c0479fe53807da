"""What the console keeps for one service: its sessions, its unknown visitors, its live-view places, and the
rules of who may open it (constants and paths)."""
import secrets
import threading
import time
from dataclasses import dataclass, field

from .visitors import Visitors

SESSION_COOKIE = "facegate_session"
SESSION_SECONDS = 8 * 3600
PAGE_SIZE = 50
DAYS_SHOWN = 14
"""The day view's default reach."""
EVENT_POLL_SECONDS = 0.5
EVENT_STREAM_SECONDS = 300
"""An event stream ends after this long; the browser's EventSource reconnects by itself."""
LIVE_VIEWS = 2
"""Event streams open at once, at most: each holds one of the service's 4 threads while it lasts, and the doors'
decisions must always find one free. A view beyond them is refused (503; its page works, without live updates)."""
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                           "media-src 'self' blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                           "base-uri 'none'")
CONSOLE_PATHS = ("/", "/login", "/logout")
OPEN_ENDPOINTS = ("console.login_form", "console.login", "console.logout", "console.static")
"""What a caller without a session may ask for; everything else needs the admin."""
CONSOLE_PREFIXES = ("/console/",)


def is_console_path(path):
    """Whether `path` is the console's: it checks its own callers (sessions), not the API's bearer rules."""
    return path in CONSOLE_PATHS or path.startswith(CONSOLE_PREFIXES)


class Sessions:
    """Console sessions kept in memory: {id: (expiry, CSRF token)}; a restart logs everyone out."""

    def __init__(self, seconds=SESSION_SECONDS, clock=time.time):
        self.seconds, self.clock = seconds, clock
        self._lock = threading.Lock()
        self._sessions = {}

    def open(self):
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            self._sessions = {k: v for k, v in self._sessions.items() if v[0] > now}
            self._sessions[session] = (now + self.seconds, csrf)
        return session, csrf

    def csrf_of(self, session):
        """The CSRF token of a live session, or None."""
        with self._lock:
            found = self._sessions.get(session or "")
            if found is None or found[0] <= self.clock():
                self._sessions.pop(session or "", None)
                return None
            return found[1]

    def close(self, session):
        with self._lock:
            self._sessions.pop(session or "", None)


@dataclass
class Desk:
    """One service's console: its WarmState, tokens and guessing defence, and what the console keeps itself."""

    state: object
    tokens: object
    throttle: object = None
    sessions: Sessions = field(default_factory=Sessions)
    open_csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    """The CSRF token of a console without tokens (the local user's)."""
    live_views: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(LIVE_VIEWS))
    visitors: Visitors = None

    def __post_init__(self):
        if self.visitors is None:
            self.visitors = Visitors(self.state)
