"""Administration: the stored threshold, the search index of a server database, the HTTP service, and the
networks fetched and converted ahead of time."""
import click

from ..db import check_threshold, store_of, transaction
from ..matching import THRESHOLD, resolve_threshold
from ..networks.models import DEFAULT_MODEL, MODELS
from .app import cli
from .common import EXIT_OK, PATH, threshold_option, warn


@cli.group(invoke_without_command=True)
@click.pass_context
def threshold(ctx):
    """Show the distance threshold in force (or set/reset the one stored in the database)."""
    if ctx.invoked_subcommand is None:
        database = ctx.obj.database()
        source = "stored in the database" if database.threshold is not None else "default"
        click.echo(f"{resolve_threshold(None, database):.4f} ({source})")


@threshold.command(name="set")
@click.argument("value", type=float)
@click.pass_obj
def threshold_set(settings, value):
    """Store VALUE as this database's threshold; every command then uses it unless given --threshold."""
    value = check_threshold(value)
    with transaction(settings.db_path) as database:
        database.set_threshold(value)
    click.echo(f"threshold set to {value:.4f}")


@threshold.command(name="reset")
@click.pass_obj
def threshold_reset(settings):
    """Forget the stored threshold; the default applies again."""
    with transaction(settings.db_path) as database:
        database.set_threshold(None)
    click.echo(f"threshold reset to the default {THRESHOLD}")


@cli.command(name="index")
@click.argument("kind", required=False, type=click.Choice(["exact", "hnsw"]))
@click.pass_obj
def search_index(settings, kind):
    """How identify searches a PostgreSQL database: exact (default) or with an HNSW index (large galleries;
    approximate, see docs/performance.md). Without KIND, says which is in force."""
    database = settings.database()
    store, location = store_of(database.path)
    approximate = store.search_index(location, kind) == "hnsw"
    click.echo(f"{database.path}: {'hnsw (approximate)' if approximate else 'exact'} search")
    return EXIT_OK


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback only by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port [default: 8080].")
@click.option("--max-bytes", type=click.IntRange(1), default=None, help="Largest image accepted [default: 20 MB].")
@click.option("--token-file", type=PATH, default=None,
              help="File whose first line is the token every request must bear [env FACEGATE_TOKEN]; required "
                   "beyond loopback.")
@click.option("--admin-token-file", type=PATH, default=None,
              help="File whose first line is the token of the /people and /log endpoints and of the web "
                   "console at / [env FACEGATE_ADMIN_TOKEN]; without one they are off.")
@click.option("--max-failures", type=click.IntRange(0), default=5, show_default=True,
              help="Failed verifies for one claimed name (four times as many from one client), or wrong tokens at "
                   "the console's login from one client, before it is refused for --lockout seconds (0: no limit).")
@click.option("--failure-window", type=click.FloatRange(0, min_open=True), default=60.0, show_default=True,
              help="Seconds in which --max-failures failed verifies count.")
@click.option("--lockout", type=click.FloatRange(0, min_open=True), default=60.0, show_default=True,
              help="Seconds a name or client is refused (429) after too many failed verifies.")
@click.option("--trusted-proxy", default=None, metavar="ADDRESS",
              help="The reverse proxy (terminating TLS) in front of serve: its X-Forwarded-For names the client "
                   "(logged, throttled) and its X-Forwarded-Proto says whether the browser used TLS.")
@click.option("--require-liveness", "require_liveness", is_flag=True,
              help="Refuse (400) a /verify that does not ask for liveness (&liveness=1): no door script can "
                   "forget it.")
@threshold_option
@click.pass_obj
def serve(settings, host, port, max_bytes, token_file, admin_token_file, max_failures, failure_window, lockout,
          trusted_proxy, require_liveness, threshold):
    """Keep the model and database warm behind an HTTP API for a door camera (see the README).

    POST an image to /verify?name=NAME or /identify; GET /health. Answers are the --json records. With an admin
    token, GET /people, POST /people/NAME (photos) and DELETE /people/NAME administer the enrolled people, and
    the web console at / shows people, the access log, unknown visitors and the doors to whoever logs in with it."""
    from ..retention import Keeper
    from ..service.app import DEFAULT_PORT, MAX_UPLOAD_BYTES, WarmState
    from ..service.auth import Throttle, Tokens, check_exposure, read_token
    from ..service.app import serve as run_service

    tokens = Tokens(read_token(token_file, "FACEGATE_TOKEN"), read_token(admin_token_file, "FACEGATE_ADMIN_TOKEN"))
    check_exposure(host, tokens, trusted_proxy)  # before the model loads
    database = settings.database()
    resolve_threshold(threshold, database)
    model = settings.model(database)
    model.warm_up()
    state = WarmState(database.path, model, threshold, settings.access_log(database), require_liveness)
    port = DEFAULT_PORT if port is None else port
    warn(f"serving {database.path} ({len(database.name_counts())} people) on http://{host}:{port}", prefix="facegate: ")
    throttle = Throttle(max_failures, failure_window, lockout) if max_failures else None
    keeper = Keeper(lambda: state.current()[0], warn).start()  # the database's retention, applied as it runs
    try:
        run_service(state, host, port, max_bytes or MAX_UPLOAD_BYTES, tokens=tokens, throttle=throttle,
                    trusted_proxy=trusted_proxy)
    finally:
        keeper.stop()
    return EXIT_OK


@cli.command()
@click.pass_obj
def fetch(settings):
    """Download, verify and cache the model weights and convert the networks now (otherwise done on first use)."""
    from ..networks.conversion import detector_network_paths, embedding_network_path

    name = settings.model_name or DEFAULT_MODEL
    path = embedding_network_path(MODELS[name], settings.weights)
    detector_network_paths()
    click.echo(f"{name}: converted networks ready in {path.parent.parent}")
