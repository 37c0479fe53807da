"""log: the access log read back (filters, --stats, CSV or JSON), and pruned; retention: how long faces, records and
snapshots are kept."""
import csv
import sys

import click

from ..accesslog import DECISIONS
from .common import EXIT_OK, emit, json_option, say
from .app import cli


@cli.group(name="log", invoke_without_command=True)
@click.option("--since", metavar="DATE", default=None, help="Only decisions from this day or time on (ISO 8601).")
@click.option("--name", default=None, help="Only decisions about NAME (claimed or identified).")
@click.option("--door", "door_name", default=None, help="Only decisions of this door.")
@click.option("--decision", type=click.Choice(DECISIONS),
              default=None)
@click.option("--stats", is_flag=True, help="Counts per person and day: opened, refused.")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="CSV output.")
@click.pass_context
def access_log(ctx, since, name, door_name, decision, stats, as_json, as_csv):
    """The access log: every decision of verify, identify, watch and serve (and scan --log), oldest first."""
    from ..accesslog import daily_stats, parse_since, read_log

    if ctx.invoked_subcommand is not None:
        return
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    database = ctx.obj.database()
    entries = read_log(database.path, parse_since(since), name, door_name, decision)
    if stats:
        rows = [{"day": day, "person": person, "opened": counts["opened"], "refused": counts["refused"]}
                for (day, person), counts in daily_stats(entries).items()]
        if as_json:
            for row in rows:
                emit(row)
        elif as_csv:
            writer = csv.DictWriter(sys.stdout, ["day", "person", "opened", "refused"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        else:
            for row in rows:
                say(f"{row['day']}  {row['person']}: {row['opened']} opened, {row['refused']} refused")
        return EXIT_OK
    columns = ["time", "door", "command", "claim", "identity", "distance", "threshold", "decision", "picture_sha256",
               "face"]
    writer = csv.DictWriter(sys.stdout, columns, extrasaction="ignore", lineterminator="\n") if as_csv else None
    if writer:
        writer.writeheader()
    for entry in entries:
        if as_json:
            emit(entry)
        elif writer:
            writer.writerow(entry)
        else:
            who = entry["identity"] or "unknown"
            claim = f" (claimed {entry['claim']})" if entry.get("claim") else ""
            distance = f" {entry['distance']:.3f}" if entry.get("distance") is not None else ""
            say(f"{entry['time']}  {entry['door']}  {entry['command']}: {entry['decision']} {who}{claim}{distance}")
    return EXIT_OK


@access_log.command(name="prune")
@click.option("--older-than", "older_than", default=None, metavar="AGE",
              help="e.g. 90d, 12h, 30m; without it, the database's retention setting (facegate retention).")
@click.pass_obj
def access_log_prune(settings, older_than):
    """Drop the access-log records (and face crops) older than AGE, or what the retention setting says is due."""
    from ..accesslog import parse_age, prune
    from ..audit import record
    from ..retention import apply

    database = settings.database()
    if older_than is not None:
        dropped = prune(database.path, parse_age(older_than))
        click.echo(f"{dropped} access-log record(s) older than {older_than} dropped")
        return EXIT_OK
    done = apply(database.path, database.retention)
    record(database.path, "log prune", None, retention=database.retention.to_record(), **done)
    click.echo(f"retention ({'; '.join(database.retention.lines())}): {done['log']} access-log record(s) and "
               f"{done['faces']} face crop(s) dropped")
    return EXIT_OK


@cli.group(invoke_without_command=True)
@click.pass_context
def retention(ctx):
    """How long this database keeps its doors' faces, its access log and watch's snapshots (applied by serve and
    watch as they run, and by `log prune`)."""
    if ctx.invoked_subcommand is None:
        for line in ctx.obj.database().retention.lines():
            say(line)


@retention.command(name="set")
@click.option("--faces", default=None, metavar="AGE", help="Face crops of the access log (and unknown "
                                                           "visitors' faces), e.g. 30d; 'none': no limit.")
@click.option("--log", "log_age", default=None, metavar="AGE", help="Access-log records, e.g. 365d.")
@click.option("--snapshots", default=None, metavar="AGE", help="watch --snapshots pictures, e.g. 7d.")
@click.pass_obj
def retention_set(settings, faces, log_age, snapshots):
    """Set one or more limits (the others stay as they are)."""
    from dataclasses import replace

    from ..accesslog import parse_age
    from ..db import transaction

    given = {kind: value for kind, value in (("faces", faces), ("log", log_age), ("snapshots", snapshots))
             if value is not None}
    if not given:
        raise click.UsageError("give --faces, --log or --snapshots (an age such as 30d, or 'none')")
    days = {kind: None if value == "none" else parse_age(value).total_seconds() / 86400
            for kind, value in given.items()}
    with transaction(settings.db_path) as database:
        database.set_retention(replace(database.retention, **days))
        kept = database.retention
    for line in kept.lines():
        say(line)
    return EXIT_OK
