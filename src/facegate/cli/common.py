"""What every command shares: the settings of the `facegate` group, its options, and how output is written."""
import json
import sys
from pathlib import Path

import click

from ..db import Database
from ..errors import printable
from ..matching import THRESHOLD
from ..networks.models import DEFAULT_MODEL

EXIT_OK, EXIT_NO, EXIT_ERROR = 0, 1, 2
PATH = click.Path(path_type=Path, readable=False)
"""Path arguments are checked by the library, which explains a problem in one line (click's usage text would not)."""


class Settings:
    """The options of the `facegate` group, as every command sees them (ctx.obj)."""

    def __init__(self, db_path, model_name, weights, door=None, require_log=False, log_faces=False):
        self.db_path = db_path
        self.model_name = model_name
        self.weights = weights
        self.door, self.require_log, self.log_faces = door, require_log, log_faces

    def access_log(self, database):
        """The access log of `database` (see accesslog.py), with this command's door and options."""
        from ..accesslog import AccessLog, default_door

        return AccessLog(database.path, self.door or default_door(), warn, self.require_log, self.log_faces)

    def database(self):
        database = Database.load(self.db_path)
        if self.model_name:
            database.check_model(self.model_name)
        return database

    def model(self, database):
        """The model the database was built with (or --model, or the default), loaded under LiteRT.

        Loaded once per process (commands run in one process, as in tests or a service, share it)."""
        from ..faces.pipeline import load_model

        key = (self.model_name or database.model or DEFAULT_MODEL, self.weights)
        if key not in _LOADED_MODELS:
            _LOADED_MODELS[key] = load_model(*key)
        return _LOADED_MODELS[key]


_LOADED_MODELS = {}


def threshold_option(function):
    return click.option(
        "--threshold", type=float, default=None,
        help=f"Distance below which faces match; default: the database's, else {THRESHOLD}.",
    )(function)


def json_option(function):
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON).")(function)


def annotate_option(help_text):
    def decorate(function):
        return click.option("--annotate", type=PATH, default=None, help=help_text)(function)
    return decorate


def plot_option(function):
    return click.option("--plot", type=PATH, default=None,
                        help="Write the ROC curve, operating point marked, to this PNG file.")(function)


def face_lines(result, matches):
    for number, (face, match) in enumerate(zip(result.faces, matches), start=1):
        x, y, w, h = face.box
        yield f"{result.path}: face {number} at x={x} y={y} {w}x{h}: {short_match(match)}"


def short_match(match):
    if match is None:
        return "unknown (empty database)"
    if match.identity is None:
        return f"unknown (nearest distance {match.distance:.3f})"
    return f"{match.identity} (distance {match.distance:.3f})"


def emit(record):
    text = json.dumps(record, ensure_ascii=False)
    if not text.isprintable():  # undecodable file-name bytes (lone surrogates): escape them the JSON way
        text = json.dumps(record)
    click.echo(text)


def say(line):
    """One line of text output, whatever characters the file names in it hold."""
    click.echo(printable(line))


def warn(message, prefix="facegate: "):
    click.echo(printable(f"{prefix}{message}"), err=True)


class Progress:
    """'scanning 12/300 (4%)' kept on the last line of a terminal's stderr, cleared before each result line."""

    def __init__(self, total, doing="scanning"):
        self.total, self.done, self.doing = total, 0, doing
        self.active = sys.stderr.isatty()

    def __enter__(self):
        self._draw()
        return self

    def __exit__(self, *exc):
        self.clear()
        return False

    def clear(self):
        if self.active:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()

    def update(self, steps):
        self.done += steps
        self._draw()

    def _draw(self):
        if self.active:
            percent = 100 * self.done // max(self.total, 1)
            sys.stderr.write(f"\r\x1b[K{self.doing} {self.done}/{self.total} ({percent}%)")
            sys.stderr.flush()
