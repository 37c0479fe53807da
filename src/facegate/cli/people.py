"""People: enroll (photos, video, a cluster), cluster, list, remove, rename, export and import; a person's data on request
(subject)."""
import os
from pathlib import Path

import click

from ..db import check_name, export_database, read_export, transaction
from ..db.export import is_passphrase_sealed
from ..errors import FacegateError
from ..faces.imaging import is_image_name
from ..matching import resolve_threshold
from ..records import rounded
from .app import cli
from .common import EXIT_OK, PATH, emit, json_option, say, threshold_option, warn


@cli.command()
@click.argument("name")
@click.argument("images", nargs=-1, type=PATH)
@click.option("--largest", is_flag=True,
              help="Enroll the main face of a photo showing several: the largest, or the most central of faces "
                   "about as large.")
@click.option("--video", "video_source", metavar="SOURCE", default=None,
              help="Enroll from video instead (a file, or a camera as for watch): the best frames of the one "
                   "person in view, in different poses.")
@click.option("--seconds", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
              help="With --video: how many seconds of video to choose from.")
@click.option("--frames", "frame_count", type=click.IntRange(1, 50), default=5, show_default=True,
              help="With --video: how many frames to enroll.")
@click.option("--cluster", "cluster_number", type=click.IntRange(0), default=None,
              help="Enroll the faces of this cluster of `facegate cluster` (with --from).")
@click.option("--from", "cluster_source", type=PATH, default=None,
              help="With --cluster: the scan --output file (or folder) that was clustered.")
@click.pass_obj
def enroll(settings, name, images, largest, video_source, seconds, frame_count, cluster_number, cluster_source):
    """Enroll NAME from one or more photos (or folders of photos), or from video (--video).

    Each photo must show exactly one face (or use --largest for its main face). Photos that cannot be used
    are reported and skipped; the exit status is 2 when nothing was enrolled. From video, frames showing exactly
    one face of good quality (size, sharpness, pose) are candidates, and the best of them in different poses are
    enrolled, so that the references look like what the door camera sees.
    """
    from ..enrollment import add_person, enroll_photos

    check_name(name)
    if (cluster_number is None) != (cluster_source is None):
        raise click.UsageError("--cluster N and --from FILE go together")
    if sum(map(bool, (images, video_source, cluster_source))) != 1:
        raise click.UsageError("give photos, --video SOURCE or --cluster N --from FILE (one of the three)")
    database = settings.database()
    if video_source:
        return _enroll_from_video(settings, database, name, video_source, seconds, frame_count)
    if cluster_source:
        return _enroll_from_cluster(settings, database, name, cluster_source, cluster_number)
    outcome = enroll_photos(_expand_photos(images), lambda: settings.model(database), largest)
    for path in outcome.enrolled:
        say(f"{name}: enrolled {path}")
    for path, problems in outcome.warnings:
        warn(f"warning: {path}: {'; '.join(problems)}: a weak reference photo; enroll a better one too if you can")
    if not outcome.embeddings and len(outcome.refused) == 1:
        raise outcome.refused[0]
    for error in outcome.refused:
        warn(f"{error} (not enrolled)")
    if not outcome.embeddings:
        raise FacegateError(f"nothing enrolled for {name!r}")
    total = add_person(database.path, name, outcome.embeddings, outcome.sources, settings.model(database).name,
                       outcome.thumbnails)
    click.echo(f"{name}: {len(outcome.embeddings)} photo(s) added, {total} enrolled in all")
    return EXIT_OK


def _enroll_from_video(settings, database, name, source, seconds, count):
    from ..enrollment import add_person, video_frames_for_enrollment
    from ..watch.video import VideoSource

    with VideoSource(source, warn=warn) as frames:
        model = settings.model(database)
        chosen = video_frames_for_enrollment(frames, model, seconds, count)
    if not chosen:
        raise FacegateError(f"{frames.name}: no frame in {seconds:g} s showed exactly one clear face; nothing enrolled")
    sources = [f"{os.path.basename(frames.name)}@{when:.2f}s" for _, _, _, when, _ in chosen]
    for label, (_, score, box, _, _) in zip(sources, chosen):
        say(f"{name}: enrolled frame {label} (face {box[2]}x{box[3]} px, quality {score:.2f})")
    total = add_person(database.path, name, [embedding for embedding, *_ in chosen], sources, model.name,
                       [thumbnail for *_, thumbnail in chosen])
    click.echo(f"{name}: {len(chosen)} frame(s) added, {total} enrolled in all")
    return EXIT_OK


def _enroll_from_cluster(settings, database, name, source, number):
    from ..clustering import clusters_of
    from ..enrollment import add_person, cluster_for_enrollment, thumbnail_of

    model = settings.model(database)
    _, clusters = clusters_of(source, model, resolve_threshold(None, database), warn)
    chosen, sources = cluster_for_enrollment(clusters, number, source)
    total = add_person(database.path, name, [face.embedding for face in chosen], sources, model.name,
                       [thumbnail_of(face.path, face.box) for face in chosen])
    click.echo(f"{name}: {len(chosen)} face(s) of cluster {number} added ({len(clusters[number])} in it), "
               f"{total} enrolled in all")
    return EXIT_OK


@cli.command()
@click.argument("source", type=PATH)
@threshold_option
@json_option
@click.option("--sheets", type=PATH, default=None,
              help="Write one contact sheet per cluster into this folder (its faces in a grid, JPEG).")
@click.pass_obj
def cluster(settings, source, threshold, as_json, sheets):
    """Group the faces of a folder (or of a scan's --output FILE, without encoding again) into people.

    Faces nearer than the threshold are linked and grouped (Chinese whispers); clusters are numbered by size,
    largest first, and -1 is a face alone. `facegate enroll NAME --cluster N --from SOURCE` enrolls a cluster."""
    from ..clustering import clusters_of

    database = settings.database()
    faces, clusters = clusters_of(source, settings.model(database), resolve_threshold(threshold, database), warn)
    if as_json:
        for face in faces:
            emit({"path": face.path, "box": face.box, "cluster": face.cluster,
                   "distance_to_centre": rounded(face.distance_to_centre)})
    else:
        alone = sum(1 for face in faces if face.cluster == -1)
        say(f"{len(faces)} face(s): {len(clusters)} cluster(s), {alone} face(s) alone")
        for number, members in enumerate(clusters):
            examples = ", ".join(dict.fromkeys(face.path for face in members[:3]))
            say(f"cluster {number}: {len(members)} face(s), e.g. {examples}")
    if sheets:
        from ..clustering import contact_sheet

        for number, members in enumerate(clusters):
            contact_sheet(members, Path(sheets) / f"cluster-{number:04d}.jpg")
    return EXIT_OK


@cli.command(name="list")
@json_option
@click.pass_obj
def list_people(settings, as_json):
    """List the enrolled people and their photos."""
    database = settings.database()
    people = database.people()
    if as_json:
        emit({
            "database": str(database.path), "model": database.model,
            "threshold": resolve_threshold(None, database),
            "people": [{"name": name, "photos": [{"source": e.source, "enrolled_at": e.enrolled_at} for e in entries]}
                       for name, entries in people.items()],
        })
        return EXIT_OK
    if not people:
        say(f"no one is enrolled in {database.path}")
        return EXIT_OK
    width = max(len(name) for name in people)
    for name, entries in people.items():
        click.echo(f"{name:<{width}}  {len(entries)} photo(s), last enrolled {max(e.enrolled_at for e in entries)}")
    say(f"{len(people)} people, {len(database)} photo(s), model {database.model}, {database.path}")
    return EXIT_OK


@cli.command()
@click.argument("name")
@click.option("--purge-log", is_flag=True,
              help="Also drop NAME's records from the access log (kept by default: the site's history).")
@click.pass_obj
def remove(settings, name, purge_log):
    """Remove NAME and all of their enrolled photos (the access log keeps their decisions unless --purge-log)."""
    from ..accesslog import purge_person

    database = settings.database()
    database.remove(name)  # refused without touching the database
    with transaction(settings.db_path) as current:
        removed = current.remove(name)
    click.echo(f"{name}: removed ({removed} photo(s))")
    if purge_log:
        click.echo(f"{name}: {purge_person(database.path, name)} access-log record(s) purged")
    return EXIT_OK


@cli.command()
@click.argument("old")
@click.argument("new")
@click.pass_obj
def rename(settings, old, new):
    """Rename the enrolled OLD to NEW (which must not be enrolled yet)."""
    settings.database().rename(old, new)  # refused without touching the database
    with transaction(settings.db_path) as database:
        database.rename(old, new)
    click.echo(f"{old}: renamed to {new}")
    return EXIT_OK


PASSPHRASE = click.option("--passphrase", "with_passphrase", is_flag=True,
                          help="Seal the export with a passphrase (FACEGATE_PASSPHRASE, else asked for) instead of "
                               "the key file's key.")


def _passphrase(wanted, confirm):
    """The passphrase (FACEGATE_PASSPHRASE, else asked for without echo), or None when not `wanted`."""
    if not wanted:
        return None
    import os

    passphrase = os.environ.get("FACEGATE_PASSPHRASE") or click.prompt(
        "Passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    if len(passphrase) < 8:
        raise FacegateError("the passphrase is shorter than 8 characters")
    return passphrase


@cli.command(name="export")
@click.argument("file", type=PATH)
@PASSPHRASE
@click.pass_obj
def export_people(settings, file, with_passphrase):
    """Back up the database into one portable, hash-checked FILE (see `facegate import`); encrypted when the
    database is (with its key), or with --passphrase."""
    database = settings.database()
    if not database.entries:
        raise FacegateError(f"{database.path}: nothing enrolled, nothing to export")
    export_database(database, file, _passphrase(with_passphrase, confirm=True))
    say(f"{file}: {len(database.people())} people, {len(database.entries)} photo(s) exported")
    return EXIT_OK


@cli.command(name="import")
@click.argument("file", type=PATH)
@click.option("--replace", is_flag=True, help="Replace everything enrolled with the export's people.")
@click.option("--merge", is_flag=True, help="Add the export's people beside those enrolled.")
@click.pass_obj
def import_people(settings, file, replace, merge):
    """Restore people from an export FILE; into a non-empty database only with --replace or --merge. An export
    sealed with a passphrase asks for it (or reads FACEGATE_PASSPHRASE)."""
    if replace and merge:
        raise click.UsageError("--replace and --merge exclude each other")
    imported = read_export(file, _passphrase(is_passphrase_sealed(file), confirm=False))
    if settings.model_name:
        imported.check_model(settings.model_name)
    with transaction(settings.db_path) as current:
        if len(current) and not (replace or merge):
            raise FacegateError(f"{current.path}: the database is not empty: use --replace or --merge")
        current.absorb(imported, replace=replace)
    say(f"{file}: {len(imported.people())} people, {len(imported.entries)} photo(s) imported")
    return EXIT_OK


def _expand_photos(arguments):
    """The photo files named by enroll's arguments, folders replaced by the images directly inside them."""
    files = []
    for argument in arguments:
        if argument.is_dir():
            found = [p for p in sorted(argument.iterdir()) if is_image_name(p) and p.is_file()]
            if not found and len(arguments) == 1:
                raise FacegateError(f"{argument}: no image files in this folder")
            if not found:
                warn(f"{argument}: no image files in this folder")
            files.extend(found)
        else:
            files.append(argument)
    return files




@cli.command()
@click.argument("name")
@click.option("--export", "target", type=PATH, default=None,
              help="Write everything held about NAME into this new folder, with an index.json.")
@click.option("--erase", is_flag=True, help="Remove everything held about NAME, snapshots included.")
@json_option
@click.pass_obj
def subject(settings, name, target, erase, as_json):
    """A person's data on request: what is held about NAME (enrollment thumbnails and their metadata, access-log
    records and their face crops, watch's snapshots of their visits), exported (--export DIR) or erased (--erase).
    Without either, says what is held."""
    from ..subjects import erase as erase_subject
    from ..subjects import export, held

    if target is not None and erase:
        raise click.UsageError("--export DIR or --erase, one at a time (export first, then erase)")
    database = settings.database()
    if target is not None:
        counts, done = export(database, name, target), f"exported to {target}"
    elif erase:
        counts, done = erase_subject(settings.db_path, database, name), "erased"
    else:
        counts, done = held(database, name).counts(), "held"
    if as_json:
        emit({"name": name, "done": done, **counts})
    else:
        say(f"{name}: {done}: " + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items()))
    return EXIT_OK
