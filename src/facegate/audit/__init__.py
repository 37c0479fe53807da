"""The audit trail: every change to a database and every console login, with who made it, from where, what and
when, appended to a trail of its own and chained record to record by a hash.

    chain.py   sealing a record (its hash covers the previous record's) and checking a trail
    folder.py  a folder database's trail: DB/audit.jsonl, appended under the database's lock
    table.py   a PostgreSQL database's: the table facegate_audit, appended in the commit's own SQL transaction

A database's changes are audited by its commit (the actions its Database noted: enroll, remove, rename, import,
threshold, liveness profiles); other admin actions (console logins, failed logins, access-log purges and prunes)
by record(). Who acts is set once per caller by acting(): the command line's user, the service's token kind or
console session and the client address (through the trusted proxy). No facegate command edits or prunes the
trail; `facegate audit --verify` finds an edited, inserted or removed record (one removed from the very end
only against a head noted before: it prints the head to keep)."""
import contextlib
import contextvars
import getpass
import socket
from datetime import datetime, timezone

from ..db.location import database_location
from .chain import check, seal  # noqa: F401 - the trail's interface

_ACTOR = contextvars.ContextVar("facegate_actor", default=None)


@contextlib.contextmanager
def acting(who, client):
    """Changes made in the block are audited as made by `who` (e.g. 'admin token') from `client` (an address)."""
    token = _ACTOR.set((who, client))
    try:
        yield
    finally:
        _ACTOR.reset(token)


def begin_acting(who, client):
    """acting() across two calls (a request's start and end): the token for end_acting."""
    return _ACTOR.set((who, client))


def end_acting(token):
    _ACTOR.reset(token)


def session_name(session):
    """How a console session is named in the trail: the start of its hash (the session id is a credential)."""
    import hashlib

    return "console session " + hashlib.sha256(session.encode()).hexdigest()[:10]


def actor():
    """(who, client) of the changes being made now: acting()'s, else the command line's user on this host."""
    found = _ACTOR.get()
    if found is not None:
        return found
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return f"command line ({user})", f"local ({socket.gethostname()})"


def entry(action, target=None, **details):
    """An audit record not yet sealed: the action, its target (a person, a profile) and details, who and when."""
    who, client = actor()
    return {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "action": action,
            "target": target, "details": details, "who": who, "client": client}


def trail_of(location):
    """The trail (folder.FolderTrail or table.TableTrail) of the database at `location`."""
    from . import folder, table

    location = database_location(location)
    return (table.TableTrail if location.kind == "postgresql" else folder.FolderTrail)(location)


def record(location, action, target=None, **details):
    """Append one admin action (not a database change: those are audited by their commit); nothing where there
    is no database (a prune of a folder that was never made)."""
    trail = trail_of(location)
    if trail.exists():
        trail.append([entry(action, target, **details)])
