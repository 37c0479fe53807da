"""The `facegate` command: a thin click layer over the library. Exit codes: 0 yes/done, 1 no, 2 error.

    app.py       the group and its global options (--db, --model, --weights, --door, --require-log, --log-faces)
    common.py    Settings (what the options give each command), shared options, output helpers
    people.py    enroll, cluster, list, remove, rename, export, import, subject
    decide.py    verify, identify
    scan.py      scan
    watch.py     watch
    log.py       log, log prune, retention
    admin.py     threshold, index, serve, fetch
    liveness.py  liveness calibrate, list, show, remove (each camera's liveness profile)
    audit.py     audit (the trail of admin actions; --verify checks its hash chain)
    keys.py      key, key init, key rotate (encryption at rest)
    evaluate.py  evaluate pairs, evaluate gallery, calibrate

A new command goes into the module of its group (or a new module imported here), decorated with @cli.command().
"""
import contextlib
import os
import sys

import click

from ..errors import FacegateError
from . import admin, audit, decide, evaluate, keys, liveness, log, people, scan, watch  # noqa: F401 - their commands
from .app import cli
from .common import _LOADED_MODELS, EXIT_ERROR, EXIT_OK, warn  # noqa: F401 - _LOADED_MODELS: tests share models

__all__ = ["cli", "main"]


def main(argv=None):
    """Entry point: runs the CLI, turning every expected failure into one line on stderr and exit 2."""
    for stream in (sys.stdout, sys.stderr):  # file names need not be valid UTF-8 (CSV rows print them as-is)
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = cli.main(args=argv, prog_name="facegate", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.Abort:
        warn("aborted")
        code = EXIT_ERROR
    except FacegateError as exc:
        warn(f"error: {exc}")
        code = EXIT_ERROR
    except KeyboardInterrupt:
        warn("interrupted")
        code = 130
    except BrokenPipeError:
        sys.stderr.close()
        code = EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a user must never get a traceback; FACEGATE_DEBUG shows it
        if os.environ.get("FACEGATE_DEBUG"):
            raise
        warn(f"unexpected error: {type(exc).__name__}: {exc} (set FACEGATE_DEBUG=1 for details)")
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)
