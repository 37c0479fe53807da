"""audit: the trail of admin actions (facegate.audit), listed, filtered, and checked link by link."""
import click

from ..accesslog import parse_since
from ..audit import check, trail_of
from ..db import database_location
from .app import cli
from .common import EXIT_NO, EXIT_OK, emit, json_option, say


@cli.command(name="audit")
@click.option("--verify", is_flag=True,
              help="Check the hash chain: exit 1, naming the first broken record, when a record was altered, "
                   "inserted or removed; prints the newest record's hash (keep it to check later that nothing "
                   "was cut from the end).")
@click.option("--action", default=None, help="Only this action (enroll, remove, rename, import, threshold, "
                                             "liveness calibrate, console login, ...).")
@click.option("--target", default=None, help="Only actions on this person or profile.")
@click.option("--since", default=None, help="Only from this day or time (ISO 8601, UTC unless it says).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the newest N.")
@json_option
@click.pass_obj
def audit(settings, verify, action, target, since, limit, as_json):
    """Who changed the database, from where, what and when: every enroll, remove, rename, import, threshold and
    liveness profile, console logins and failed logins, access-log purges and prunes. No command edits it.

    Exit status: 0, 1 when --verify finds the trail broken, 2 on error.
    """
    location = database_location(settings.db_path)
    records = trail_of(location).read()
    if verify:
        intact, problem = check(records)
        head = records[intact - 1]["hash"] if intact else None
        if as_json:
            emit({"intact": problem is None, "records": len(records), "checked": intact, "problem": problem,
                  "head": head})
        elif problem is None:
            say(f"{location}: audit trail intact: {intact} record(s); newest hash {head}")
        else:
            say(f"{location}: audit trail BROKEN: {problem} ({intact} record(s) before it intact)")
        return EXIT_OK if problem is None else EXIT_NO
    start = parse_since(since)
    chosen = [r for r in records if isinstance(r, dict) and (action is None or r.get("action") == action)
              and (target is None or r.get("target") == target)
              and (start is None or parse_since(r.get("time")) >= start)]
    chosen = chosen[-limit:] if limit else chosen
    for record in chosen:
        if as_json:
            emit(record)
        else:
            details = ", ".join(f"{k}={v}" for k, v in (record.get("details") or {}).items())
            say(f"{record.get('time')} #{record.get('seq')} {record.get('who')} from {record.get('client')}: "
                f"{record.get('action')}{' ' + record['target'] if record.get('target') else ''}"
                f"{' (' + details + ')' if details else ''}")
    return EXIT_OK
