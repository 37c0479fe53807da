"""The `facegate` command group and its global options; each command lives in the module of its group."""
import click

from ..db import database_location, default_path
from ..networks.models import DEFAULT_MODEL, MODELS
from .common import PATH, Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="facegate")
@click.option("--db", "db_path", envvar="FACEGATE_DB", metavar="PATH|URL",
              help=f"Database folder [env FACEGATE_DB; default {default_path()}].")
@click.option("--model", "model_name", type=click.Choice(sorted(MODELS)), default=None,
              help=f"Embedding model; default: the database's, else {DEFAULT_MODEL}.")
@click.option("--weights", type=PATH, envvar="FACEGATE_WEIGHTS",
              help="Local weights file for the model (air-gapped machines) [env FACEGATE_WEIGHTS].")
@click.option("--door", envvar="FACEGATE_DOOR", default=None,
              help="This door's name in the access log [env FACEGATE_DOOR; default: the host name].")
@click.option("--require-log", is_flag=True,
              help="Refuse a decision (exit 2, the door stays shut) when the access log cannot be written.")
@click.option("--log-faces", is_flag=True, help="Keep each decision's face crop (JPEG) with the access log.")
@click.pass_context
def cli(ctx, db_path, model_name, weights, door, require_log, log_faces):
    """Offline face verification (1:1) and recognition (1:K) with MTCNN + FaceNet.

    Enroll staff from photos, then verify a picture against a claimed name or identify everyone in it.
    Every decision of verify, identify, watch and serve (scan with --log) goes to the access log (`facegate log`).
    """
    ctx.obj = Settings(database_location(db_path) if db_path else None, model_name, weights, door, require_log,
                       log_faces)
