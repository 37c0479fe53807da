"""Who may call the service: bearer tokens (verify, admin), the refusal to listen beyond loopback without one,
and the guessing defence (Throttle)."""
import hmac
import ipaddress
import os
import threading
from dataclasses import dataclass

from ..errors import FacegateError


@dataclass(frozen=True)
class Tokens:
    """The bearer tokens the service asks for: `verify` for every endpoint (None: open, loopback only), `admin`
    for the /people endpoints (None: they do not exist)."""

    verify: str = None
    admin: str = None


def read_token(path, variable):
    """A token from the first line of the file `path`, else from the environment variable; None if neither."""
    if path is not None:
        try:
            token = open(path, encoding="utf-8").readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise FacegateError(f"{path}: cannot read the token ({getattr(exc, 'strerror', None) or exc})") from None
        if not token:
            raise FacegateError(f"{path}: the token file is empty")
    else:
        token = os.environ.get(variable, "").strip() or None
    if token is not None and len(token) < 16:
        raise FacegateError(f"{path or variable}: a token needs 16 characters or more")
    return token


def is_loopback(host):
    """Whether `host` (an address or a name, without a port) is this machine's loopback."""
    host = host.strip("[]").lower()
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host, tokens, trusted_proxy=None):
    """A service the network can reach must ask who is calling: refuse to start without a token when it listens
    beyond loopback, or behind a proxy (--trusted-proxy: the network reaches it through the proxy)."""
    if tokens.verify is not None:
        return
    if not is_loopback(host):
        raise FacegateError(f"--host {host} is reachable from the network: give a token "
                            "(--token-file FILE or FACEGATE_TOKEN), or listen on 127.0.0.1")
    if trusted_proxy is not None:
        raise FacegateError(f"--trusted-proxy {trusted_proxy}: the network reaches serve through the proxy: give a "
                            "token (--token-file FILE or FACEGATE_TOKEN), and --admin-token-file for the console")


def refusal_of_host(host_header):
    """A message refusing a request whose Host is not a loopback name (a DNS-rebinding page names its own), or
    None. Only for a service without a verify token: one open to the local user, so listening on loopback."""
    host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    if is_loopback(host):
        return None
    return f"Host {host_header!r} is not this service's: without a token it answers to loopback names only"


def refusal_of_forwarding(headers, trusted_proxy):
    """A message refusing a request that carries a proxy's forwarding headers when no proxy is trusted (then all
    of its clients would be one client: one of them could lock out every other), or None."""
    if trusted_proxy is None and ("X-Forwarded-For" in headers or "Forwarded" in headers):
        return ("a proxy's X-Forwarded-For from an untrusted address: name the proxy with serve --trusted-proxy "
                "ADDRESS")
    return None


class Throttle:
    """The guessing defence: after `failures` failed verifies within `window` seconds for one claimed name, or
    `client_failures` from one client (a door camera serves many people), that name or client is refused (429)
    for `lockout` seconds. A match clears its name's count. docs/reliability.md: what it costs a genuine person."""

    def __init__(self, failures=5, window=60.0, lockout=60.0, client_failures=None, clock=None):
        import time

        self.failures, self.window, self.lockout = failures, window, lockout
        self.client_failures = client_failures or 4 * failures
        self.clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._failed, self._until = {}, {}
        self._swept = self.clock()

    def kept(self):
        """How many names and clients it keeps anything of (failures within the window, or a lockout)."""
        with self._lock:
            return len(self._failed.keys() | self._until.keys())

    def _sweep(self, now):
        """Forget the failures older than the window and the lockouts that ended: once per window at most, so
        that what is kept stays bounded by the names and clients of the last window."""
        if now - self._swept < self.window:
            return
        self._swept = now
        self._failed = {key: times for key, times in self._failed.items() if times and now - times[-1] < self.window}
        self._until = {key: until for key, until in self._until.items() if until > now}

    def refusal(self, *keys):
        """Seconds left of the longest lockout among `keys` (0 when none is locked)."""
        now = self.clock()
        with self._lock:
            return max([self._until.get(key, 0) - now for key in keys] + [0])

    def failed(self, *keys):
        now = self.clock()
        with self._lock:
            self._sweep(now)
            for key in keys:
                recent = [t for t in self._failed.get(key, []) if now - t < self.window] + [now]
                self._failed[key] = recent
                if len(recent) >= (self.client_failures if key[0] == "client" else self.failures):
                    self._until[key], self._failed[key] = now + self.lockout, []

    def succeeded(self, key):
        with self._lock:
            self._failed.pop(key, None)


def token_matches(presented, token):
    return token is not None and presented is not None and hmac.compare_digest(presented.encode(), token.encode())


def bearer_of(authorization):
    """The token of an `Authorization: Bearer TOKEN` header, or None."""
    return authorization[7:].strip() if authorization[:7].lower() == "bearer " else None


ADMIN_PATHS = ("/people", "/log")


def caller_of(tokens, authorization):
    """Who a request let through acts as, for the audit trail: the kind of token it presented."""
    presented = bearer_of(authorization)
    if tokens.admin is not None and token_matches(presented, tokens.admin):
        return "admin token"
    if tokens.verify is not None and token_matches(presented, tokens.verify):
        return "verify token"
    return "no token (loopback service)"


def refusal_of(tokens, path, authorization):
    """(status, message) refusing a request for `path` with this Authorization header, or None to let it through.
    The /people and /log endpoints need the admin token (they do not exist without one); every other endpoint
    needs the verify token (or the admin token) when one is set."""
    presented = bearer_of(authorization)
    if path in ADMIN_PATHS or path.startswith("/people/"):
        if tokens.admin is None:
            return 404, "administration is off: start serve with --admin-token-file"
        if token_matches(presented, tokens.admin):
            return None
        if token_matches(presented, tokens.verify):
            return 403, "this token cannot administer people"
        return 401, "an admin token is required (Authorization: Bearer TOKEN)"
    if tokens.verify is not None and not (token_matches(presented, tokens.verify)
                                          or token_matches(presented, tokens.admin)):
        return 401, "a token is required (Authorization: Bearer TOKEN)"
    return None
