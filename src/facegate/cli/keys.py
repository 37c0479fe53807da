"""key: encryption at rest (facegate.sealing): encrypt a database and its faces, change its key, say how it stands."""
import click

from ..db import database_location
from ..db.base import encryption_of
from ..sealing import key_file, load_keyring
from ..sealing.rotation import init_key, rotate_key
from .app import cli
from .common import EXIT_OK, PATH, say

SNAPSHOTS = click.option("--snapshots", "snapshot_folders", type=PATH, multiple=True,
                         help="A folder of watch's snapshots to seal too (beside those the access log names); "
                              "repeatable.")


@cli.group(name="key", invoke_without_command=True)
@click.pass_context
def key(ctx):
    """Encryption at rest: the key file (FACEGATE_KEY_FILE) that seals the database's embeddings, thumbnails,
    face crops and snapshots. Without it, an encrypted database's commands fail closed. Keep a copy of it apart
    from the database's backups: without the key the data cannot be read by anyone, facegate included."""
    if ctx.invoked_subcommand is not None:
        return
    location = database_location(ctx.obj.db_path)
    encryption = encryption_of(location)  # said without the key, which it does not need
    path = key_file()
    if encryption:
        say(f"{location}: encrypted with key {encryption['key']} since {encryption['since']}")
    else:
        say(f"{location}: not encrypted (`facegate key init` encrypts it)")
    if path.exists():
        keyring = load_keyring()
        say(f"key file {path}: key(s) {', '.join(sorted(keyring.keys))}, sealing with {keyring.current}"
            + (" (a rotation was interrupted: run `facegate key rotate` again)" if len(keyring.keys) > 1 else ""))
    else:
        say(f"key file {path}: none")


@key.command(name="init")
@SNAPSHOTS
@click.pass_obj
def key_init(settings, snapshot_folders):
    """Encrypt the database, its access log's face crops and its snapshots, with a new key file (or the one
    FACEGATE_KEY_FILE names, if it exists). From then on everything is written encrypted."""
    location = database_location(settings.db_path)
    sealed = init_key(location, snapshot_folders)
    say(f"{location}: encrypted with key {sealed.key} (key file {sealed.key_file}): "
        f"{sealed.embeddings} embedding(s), {sealed.faces} face crop(s), {sealed.snapshots} snapshot(s) sealed")
    return EXIT_OK


@key.command(name="rotate")
@SNAPSHOTS
@click.pass_obj
def key_rotate(settings, snapshot_folders):
    """Seal everything again under a new key, then drop the old key from the key file. Interrupted, the database
    stays readable with the key file as it is; run it again to finish. Copy the new key file to every machine
    that uses the database (one key file per database: the old key is dropped from it)."""
    location = database_location(settings.db_path)
    sealed = rotate_key(location, snapshot_folders)
    say(f"{location}: now encrypted with key {sealed.key} (dropped {', '.join(sealed.dropped)}): "
        f"{sealed.embeddings} embedding(s), {sealed.faces} face crop(s), {sealed.snapshots} snapshot(s) sealed again")
    return EXIT_OK
