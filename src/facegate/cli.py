"""The `facegate` command: a thin click layer over the library. Exit codes: 0 yes/done, 1 no, 2 error."""
import contextlib
import csv
import json
import os
import sys
from pathlib import Path

import click

from .db import (Database, check_name, check_threshold, database_location, default_path, export_database,
                       read_export, transaction)
from .errors import FacegateError, ImageError, NoFaceError, printable
from .imaging import check_image, find_images, is_image_name
from .matching import THRESHOLD, Gallery, resolve_threshold, verify_main_face
from .models import DEFAULT_MODEL, MODELS
from .records import CSV_HEADER, csv_rows, image_record, match_faces, rounded, verify_record

EXIT_OK, EXIT_NO, EXIT_ERROR = 0, 1, 2
PATH = click.Path(path_type=Path, readable=False)
"""Path arguments are checked by the library, which explains a problem in one line (click's usage text would not)."""


class Settings:
    def __init__(self, db_path, model_name, weights, door=None, require_log=False, log_faces=False):
        self.db_path = db_path
        self.model_name = model_name
        self.weights = weights
        self.door, self.require_log, self.log_faces = door, require_log, log_faces

    def access_log(self, database):
        """The access log of `database` (see accesslog.py), with this command's door and options."""
        from .accesslog import AccessLog, default_door

        return AccessLog(database.path, self.door or default_door(), _warn, self.require_log, self.log_faces)

    def database(self):
        database = Database.load(self.db_path)
        if self.model_name:
            database.check_model(self.model_name)
        return database

    def model(self, database):
        """The model the database was built with (or --model, or the default), loaded under LiteRT.

        Loaded once per process (commands run in one process, as in tests or a service, share it)."""
        from .encoder import load_model

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
    from .enrollment import enroll_photos

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
        _say(f"{name}: enrolled {path}")
    for path, problems in outcome.warnings:
        _warn(f"warning: {path}: {'; '.join(problems)}: a weak reference photo; enroll a better one too if you can")
    if not outcome.embeddings and len(outcome.refused) == 1:
        raise outcome.refused[0]
    for error in outcome.refused:
        _warn(f"{error} (not enrolled)")
    if not outcome.embeddings:
        raise FacegateError(f"nothing enrolled for {name!r}")
    with transaction(database.path) as current:
        current.add(name, outcome.embeddings, outcome.sources, settings.model(database).name)
        total = current.name_counts()[name]
    click.echo(f"{name}: {len(outcome.embeddings)} photo(s) added, {total} enrolled in all")
    return EXIT_OK


def _enroll_from_video(settings, database, name, source, seconds, count):
    from .video import VideoSource
    from .watch import frame_faces_for_enrollment

    with VideoSource(source, warn=_warn) as frames:
        model = settings.model(database)
        chosen = frame_faces_for_enrollment(frames, model, seconds, count)
    if not chosen:
        raise FacegateError(f"{source}: no frame in {seconds:g} s showed exactly one clear face; nothing enrolled")
    sources = [f"{os.path.basename(str(source))}@{when:.2f}s" for _, _, _, when in chosen]
    for label, (_, score, box, _) in zip(sources, chosen):
        _say(f"{name}: enrolled frame {label} (face {box[2]}x{box[3]} px, quality {score:.2f})")
    with transaction(database.path) as current:
        current.add(name, [embedding for embedding, *_ in chosen], sources, model.name)
        total = current.name_counts()[name]
    click.echo(f"{name}: {len(chosen)} frame(s) added, {total} enrolled in all")
    return EXIT_OK


CLUSTER_ENROLL_LIMIT = 20
"""At most this many faces of a cluster are enrolled, those nearest its centre."""


def _enroll_from_cluster(settings, database, name, source, number):
    model = settings.model(database)
    faces, clusters = _clustered(settings, database, source, model)
    if number >= len(clusters):
        raise FacegateError(f"{source}: there is no cluster {number} ({len(clusters)} cluster(s), numbered from 0)")
    chosen = clusters[number][:CLUSTER_ENROLL_LIMIT]
    sources = [f"{face.path}#{','.join(map(str, face.box))}" for face in chosen]
    with transaction(database.path) as current:
        current.add(name, [face.embedding for face in chosen], sources, model.name)
        total = current.name_counts()[name]
    click.echo(f"{name}: {len(chosen)} face(s) of cluster {number} added ({len(clusters[number])} in it), "
               f"{total} enrolled in all")
    return EXIT_OK


def _clustered(settings, database, source, model, threshold=None):
    """(faces, clusters) of a folder or a scan's --output file, clustered at the threshold in force."""
    from .clustering import cluster_faces, faces_of_folder, faces_of_results

    source = Path(source)
    if source.is_dir():
        faces, errors = faces_of_folder(find_images(source), model)
        for result in errors:
            _warn(f"{result.path}: error: {result.error} (skipped)")
    elif source.is_file():
        faces = faces_of_results(source, model.name)
    else:
        raise FacegateError(f"{source}: no such folder or file")
    return faces, cluster_faces(faces, resolve_threshold(threshold, database))


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
    database = settings.database()
    faces, clusters = _clustered(settings, database, source, settings.model(database), threshold)
    if as_json:
        for face in faces:
            _emit({"path": face.path, "box": face.box, "cluster": face.cluster,
                   "distance_to_centre": rounded(face.distance_to_centre)})
    else:
        alone = sum(1 for face in faces if face.cluster == -1)
        _say(f"{len(faces)} face(s): {len(clusters)} cluster(s), {alone} face(s) alone")
        for number, members in enumerate(clusters):
            examples = ", ".join(dict.fromkeys(face.path for face in members[:3]))
            _say(f"cluster {number}: {len(members)} face(s), e.g. {examples}")
    if sheets:
        from .clustering import contact_sheet

        for number, members in enumerate(clusters):
            contact_sheet(members, Path(sheets) / f"cluster-{number:04d}.jpg")
    return EXIT_OK


@cli.command()
@click.argument("image", type=PATH)
@click.argument("name")
@threshold_option
@click.option("--require-single-face", is_flag=True,
              help="Refuse (exit 2) a picture showing more than one face instead of deciding on the main face.")
@json_option
@click.pass_obj
def verify(settings, image, name, threshold, require_single_face, as_json):
    """Is the person in IMAGE the enrolled NAME? Decides on the main face.

    In a picture of several faces the main face is the largest or, among faces about as large (box side
    within 80%), the one nearest the centre; the answer says so.

    Exit status: 0 match (door opens), 1 no match, 2 error.
    """
    database = settings.database()
    limit = resolve_threshold(threshold, database)
    gallery = Gallery.of(database)
    gallery.embeddings_of(name)  # unknown names and unusable files fail before the model loads
    check_image(image)
    distance, door_open, face_count, face = verify_main_face(
        image, name, gallery, settings.model(database), limit, require_single_face
    )
    settings.access_log(database).record(
        "verify", "match" if door_open else "no-match", identity=name if door_open else None, claim=name,
        distance=distance, threshold=limit, picture=image.read_bytes(),
        face=_face_crop(image, face.box) if settings.log_faces else None)
    if as_json:
        _emit(verify_record(image, name, distance, door_open, limit, face_count))
    else:
        verdict = "MATCH, door opens" if door_open else "NO MATCH, door stays closed"
        among = f" (the main face of {face_count})" if face_count > 1 else ""
        _say(f"{image}: {name}{among}: distance {distance:.3f} (threshold {limit:.3f}): {verdict}")
    return EXIT_OK if door_open else EXIT_NO


def annotate_option(help_text):
    def decorate(function):
        return click.option("--annotate", type=PATH, default=None, help=help_text)(function)
    return decorate


@cli.command()
@click.argument("image", type=PATH)
@threshold_option
@json_option
@annotate_option("Also write IMAGE with each face boxed and named to this file (JPEG).")
@click.pass_obj
def identify(settings, image, threshold, as_json, annotate):
    """Who is in IMAGE? Names every face, or calls it unknown.

    Exit status: 0 when at least one face was identified, 1 when none was, 2 on error.
    """
    from .encoder import encode_images

    database = settings.database()
    limit = resolve_threshold(threshold, database)
    gallery = Gallery.of(database)
    if gallery.is_empty():
        raise FacegateError(f"{database.path}: the database is empty: enroll someone first")
    check_image(image)
    result = encode_images([image], settings.model(database))[0]
    if not result.error and not result.faces:
        result.error = NoFaceError(image).reason
    matches = match_faces(result, gallery, limit)
    _log_faces(settings, settings.access_log(database), "identify", result, matches, limit)
    if annotate and result.faces:
        _annotate(result, matches, annotate)
    if as_json:
        _emit(image_record(result, matches))
    elif result.error is None:
        for line in _face_lines(result, matches):
            _say(line)
    if result.error:
        raise ImageError(image, result.error)
    return EXIT_OK if any(m.identity for m in matches) else EXIT_NO


@cli.command()
@click.argument("folder", type=PATH)
@threshold_option
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="CSV output: one row per face (or per image without one).")
@annotate_option("Also write each image with faces, boxed and named, into this folder (same sub-folders, JPEG).")
@click.option("--log", "log_decisions", is_flag=True, help="Also append each face's decision to the access log.")
@click.option("--output", type=PATH, default=None,
              help="Also write each image's JSON record (its CSV rows with --csv) to this file as it is done "
                   "(fsynced): what --resume reads.")
@click.option("--resume", is_flag=True, help="Finish the scan whose --output file exists: images already in it "
                                             "(and unchanged since) are skipped; every image ends up there once.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="auto", default=None, metavar="[ADDRESS]",
              help="Encode on a Ray cluster: auto (this machine's cluster, else a new local one), local, or the "
                   "cluster's address. The images must be under the same path on every node; results come back "
                   "as batches are done, not in folder order. Put it after FOLDER.")
@click.pass_obj
def scan(settings, folder, threshold, as_json, as_csv, annotate, log_decisions, output, resume, ray_address):
    """Identify the faces in every image under FOLDER (recursively).

    Results stream as each image is done; unreadable files are reported and skipped; a summary goes to
    stderr. Exit status 0 when the scan completed.
    """
    from .scans import encode_here, encode_on_ray
    from .resumable import ResultFile

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    if not folder.is_dir():
        raise FacegateError(f"{folder}: not a folder")
    database = settings.database()
    limit = resolve_threshold(threshold, database)
    gallery = Gallery.of(database)
    if resume and output is None:
        raise click.UsageError("--resume needs --output FILE (the file of the interrupted scan)")
    paths = find_images(folder)
    results = ResultFile(output, resume, as_csv) if output else None
    skipped = len(paths)
    if results:
        paths = [path for path in paths if str(path) not in results.done]
    skipped -= len(paths)
    model = settings.model(database)
    access_log = settings.access_log(database)
    writer = None
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_HEADER)
    counts = {"images": 0, "faces": 0, "identified": 0, "errors": 0}
    anyone_enrolled = not gallery.is_empty()
    with _Progress(len(paths)) as progress:
        encoded = encode_on_ray(paths, model.name, ray_address) if ray_address else encode_here(paths, model)
        for result in encoded:
            progress.clear()
            matches = match_faces(result, gallery, limit) if anyone_enrolled else [None] * len(result.faces)
            counts["images"] += 1
            counts["faces"] += len(result.faces)
            counts["identified"] += sum(1 for m in matches if m and m.identity)
            counts["errors"] += result.error is not None
            if log_decisions and anyone_enrolled:
                _log_faces(settings, access_log, "scan", result, matches, limit)
            if annotate and result.faces:
                relative = Path(result.path).relative_to(folder)
                _annotate(result, matches, annotate / relative.with_name(relative.name + ".jpg"))
            if results:
                results.write(image_record(result, matches, model.name))
            if as_json:
                _emit(image_record(result, matches))
            elif writer:
                writer.writerows(csv_rows(image_record(result, matches)))
            elif result.error:
                _say(f"{result.path}: error: {result.error}")
            elif not result.faces:
                _say(f"{result.path}: no face")
            else:
                _say(f"{result.path}: " + ", ".join(_short_match(m) for m in matches))
            sys.stdout.flush()
            progress.update(1)
    if results:
        results.close()
    already = f" ({skipped} already in {output})" if skipped else ""
    _warn(
        f"scanned {counts['images']} image(s) under {folder}{already}: {counts['faces']} face(s), "
        f"{counts['identified']} identified, {counts['errors']} error(s)",
        prefix="",
    )
    return EXIT_OK


@cli.command()
@click.argument("source")
@click.option("--claim", metavar="NAME", default=None,
              help="Badge-reader mode: only NAME can open (checked before any frame is read).")
@click.option("--fps", type=click.FloatRange(0, min_open=True), default=None,
              help="Frames per second to process: of a file's frames, or at most, of a live source's.")
@click.option("--realtime", is_flag=True, help="Read a file as if it were live: at its frame rate, dropping "
                                                "frames when behind (how a camera is stood in for).")
@threshold_option
@json_option
@click.option("--on-match", "on_match", metavar="CMD", default=None,
              help="Command to run for each match that opens (the door relay): the event as JSON on its stdin, "
                   "FACEGATE_IDENTITY and FACEGATE_DISTANCE in its environment.")
@click.option("--hook-timeout", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
              help="Seconds before an --on-match command is killed.")
@click.option("--cooldown", type=click.FloatRange(0), default=10.0, show_default=True,
              help="Seconds in which one person opens the door once (later matches are events that do not open).")
@click.option("--webhook", metavar="URL", default=None, help="POST each event as JSON to this http(s) URL.")
@click.option("--mqtt", metavar="mqtt://HOST:PORT/TOPIC", default=None, help="Publish each event to this topic.")
@click.option("--snapshots", type=PATH, default=None,
              help="Save the annotated frame of each event into this folder.")
@click.pass_obj
def watch(settings, source, claim, fps, realtime, threshold, as_json, on_match, hook_timeout, cooldown, webhook,
          mqtt, snapshots):
    """Watch a camera (index 0, /dev/video0), a video file or a stream URL; announce each visit once.

    Each face is followed from frame to frame; its best frames decide once: match (the door opens), unknown,
    or ambiguous. Events are printed (--json: one JSON object per line) and sent to --on-match, --webhook and
    --mqtt. Ctrl-C or the end of a file ends it with a summary on stderr.
    """
    from .events import Cooldown, Dispatcher
    from .matching import LiveGallery
    from .video import VideoSource
    from .watch import Watcher, run

    database = settings.database()
    resolve_threshold(threshold, database)
    gallery = Gallery.of(database)
    if claim is not None:
        gallery.embeddings_of(claim)  # an unknown claim fails before any frame is read
    elif gallery.is_empty():
        raise FacegateError(f"{database.path}: the database is empty: enroll someone first")

    def show(record):
        _emit(record) if as_json else _say(_event_line(record))
        sys.stdout.flush()

    dispatch = Dispatcher(show, _warn, on_match, hook_timeout, webhook, mqtt, settings.access_log(database))
    try:
        with VideoSource(source, fps=fps, realtime=realtime, warn=_warn) as frames:
            model = settings.model(database)
            watcher = Watcher(model, LiveGallery(database.path, model.name, threshold), source, dispatch, _warn,
                              claim=claim, opens=Cooldown(cooldown).allows, snapshots=snapshots)
            try:
                with _stopped_by_signals(frames):
                    run(frames, watcher)
            except KeyboardInterrupt:
                pass
    finally:
        dispatch.close()
    _warn(watcher.summary.line(source))
    return EXIT_OK


def _event_line(record):
    """A readable line for an event: time, track, what was decided."""
    head = f"{record['time']:9.3f} s  track {record['track']}"
    distance = f"distance {record['distance']:.3f}" if record["distance"] is not None else "no distance"
    if record["event"] == "match":
        door = "door opens" if record["opens"] else "door not opened again (cooldown)"
        return f"{head}  MATCH {record['identity']} ({distance}, {record['frames']} frames): {door}"
    if record["event"] == "left":
        return f"{head}  left ({record['identity'] or 'not matched'})"
    return f"{head}  {record['event'].upper()} ({distance}, {record['frames']} frames): door stays closed"


@contextlib.contextmanager
def _stopped_by_signals(frames):
    """Ctrl-C or SIGTERM (a service manager stopping the watch) ends it at the next frame, with its pending
    decisions and summary, exit 0; a second one interrupts at once. The first only sets a flag: raised in the
    middle of a frame, an interrupt could leave a lock held that the summary then waits for."""
    import signal

    def stop(_signum, _frame):
        if frames.stopping:
            raise KeyboardInterrupt
        frames.request_stop()

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@cli.command(name="list")
@json_option
@click.pass_obj
def list_people(settings, as_json):
    """List the enrolled people and their photos."""
    database = settings.database()
    people = database.people()
    if as_json:
        _emit({
            "database": str(database.path), "model": database.model,
            "threshold": resolve_threshold(None, database),
            "people": [{"name": name, "photos": [{"source": e.source, "enrolled_at": e.enrolled_at} for e in entries]}
                       for name, entries in people.items()],
        })
        return EXIT_OK
    if not people:
        _say(f"no one is enrolled in {database.path}")
        return EXIT_OK
    width = max(len(name) for name in people)
    for name, entries in people.items():
        click.echo(f"{name:<{width}}  {len(entries)} photo(s), last enrolled {max(e.enrolled_at for e in entries)}")
    _say(f"{len(people)} people, {len(database)} photo(s), model {database.model}, {database.path}")
    return EXIT_OK


@cli.command()
@click.argument("name")
@click.option("--purge-log", is_flag=True,
              help="Also drop NAME's records from the access log (kept by default: the site's history).")
@click.pass_obj
def remove(settings, name, purge_log):
    """Remove NAME and all of their enrolled photos (the access log keeps their decisions unless --purge-log)."""
    from .accesslog import purge_person

    database = settings.database()
    database.remove(name)  # refused without touching the database
    with transaction(settings.db_path) as current:
        removed = current.remove(name)
    click.echo(f"{name}: removed ({removed} photo(s))")
    if purge_log:
        click.echo(f"{name}: {purge_person(database.path, name)} access-log record(s) purged")
    return EXIT_OK


@cli.group(name="log", invoke_without_command=True)
@click.option("--since", metavar="DATE", default=None, help="Only decisions from this day or time on (ISO 8601).")
@click.option("--name", default=None, help="Only decisions about NAME (claimed or identified).")
@click.option("--door", "door_name", default=None, help="Only decisions of this door.")
@click.option("--decision", type=click.Choice(["match", "no-match", "unknown", "ambiguous", "throttled"]),
              default=None)
@click.option("--stats", is_flag=True, help="Counts per person and day: opened, refused.")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="CSV output.")
@click.pass_context
def access_log(ctx, since, name, door_name, decision, stats, as_json, as_csv):
    """The access log: every decision of verify, identify, watch and serve (and scan --log), oldest first."""
    from .accesslog import daily_stats, read_log

    if ctx.invoked_subcommand is not None:
        return
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    database = ctx.obj.database()
    entries = read_log(database.path, _parse_since(since), name, door_name, decision)
    if stats:
        rows = [{"day": day, "person": person, "opened": counts["opened"], "refused": counts["refused"]}
                for (day, person), counts in daily_stats(entries).items()]
        if as_json:
            for row in rows:
                _emit(row)
        elif as_csv:
            writer = csv.DictWriter(sys.stdout, ["day", "person", "opened", "refused"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        else:
            for row in rows:
                _say(f"{row['day']}  {row['person']}: {row['opened']} opened, {row['refused']} refused")
        return EXIT_OK
    columns = ["time", "door", "command", "claim", "identity", "distance", "threshold", "decision", "picture_sha256",
               "face"]
    writer = csv.DictWriter(sys.stdout, columns, extrasaction="ignore", lineterminator="\n") if as_csv else None
    if writer:
        writer.writeheader()
    for entry in entries:
        if as_json:
            _emit(entry)
        elif writer:
            writer.writerow(entry)
        else:
            who = entry["identity"] or "unknown"
            claim = f" (claimed {entry['claim']})" if entry.get("claim") else ""
            distance = f" {entry['distance']:.3f}" if entry.get("distance") is not None else ""
            _say(f"{entry['time']}  {entry['door']}  {entry['command']}: {entry['decision']} {who}{claim}{distance}")
    return EXIT_OK


@access_log.command(name="prune")
@click.option("--older-than", "older_than", required=True, metavar="AGE", help="e.g. 90d, 12h, 30m.")
@click.pass_obj
def access_log_prune(settings, older_than):
    """Drop the access-log records (and face crops) older than AGE."""
    from .accesslog import parse_age, prune

    dropped = prune(settings.database().path, parse_age(older_than))
    click.echo(f"{dropped} access-log record(s) older than {older_than} dropped")
    return EXIT_OK


def _parse_since(text):
    """An ISO 8601 day or time as an aware datetime (UTC when no zone is given)."""
    from datetime import datetime, timezone

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FacegateError(f"--since {text}: expected a date such as 2026-11-01 or 2026-11-01T08:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


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


@cli.command(name="export")
@click.argument("file", type=PATH)
@click.pass_obj
def export_people(settings, file):
    """Back up the database into one portable, hash-checked FILE (see `facegate import`)."""
    database = settings.database()
    if not database.entries:
        raise FacegateError(f"{database.path}: nothing enrolled, nothing to export")
    export_database(database, file)
    _say(f"{file}: {len(database.people())} people, {len(database.entries)} photo(s) exported")
    return EXIT_OK


@cli.command(name="import")
@click.argument("file", type=PATH)
@click.option("--replace", is_flag=True, help="Replace everything enrolled with the export's people.")
@click.option("--merge", is_flag=True, help="Add the export's people beside those enrolled.")
@click.pass_obj
def import_people(settings, file, replace, merge):
    """Restore people from an export FILE; into a non-empty database only with --replace or --merge."""
    if replace and merge:
        raise click.UsageError("--replace and --merge exclude each other")
    imported = read_export(file)
    if settings.model_name:
        imported.check_model(settings.model_name)
    with transaction(settings.db_path) as current:
        if len(current) and not (replace or merge):
            raise FacegateError(f"{current.path}: the database is not empty: use --replace or --merge")
        current.absorb(imported, replace=replace)
    _say(f"{file}: {len(imported.people())} people, {len(imported.entries)} photo(s) imported")
    return EXIT_OK


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
    from .db import is_server_url
    from .db.postgres import connected, hnsw_size, set_hnsw

    database = settings.database()
    if not is_server_url(database.path):
        raise FacegateError(f"{database.path}: a folder database always searches exactly; indexes are for "
                            "PostgreSQL databases")
    if kind is not None:
        set_hnsw(database.path, kind == "hnsw")
    with connected(database.path) as connection:
        approximate = hnsw_size(connection) is not None
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
              help="File whose first line is the token of the /people endpoints [env FACEGATE_ADMIN_TOKEN]; "
                   "without one they are off.")
@click.option("--max-failures", type=click.IntRange(0), default=5, show_default=True,
              help="Failed verifies for one claimed name (four times as many from one client) before it is refused "
                   "for --lockout seconds (0: no limit).")
@click.option("--failure-window", type=click.FloatRange(0, min_open=True), default=60.0, show_default=True,
              help="Seconds in which --max-failures failed verifies count.")
@click.option("--lockout", type=click.FloatRange(0, min_open=True), default=60.0, show_default=True,
              help="Seconds a name or client is refused (429) after too many failed verifies.")
@threshold_option
@click.pass_obj
def serve(settings, host, port, max_bytes, token_file, admin_token_file, max_failures, failure_window, lockout,
          threshold):
    """Keep the model and database warm behind an HTTP API for a door camera (see the README).

    POST an image to /verify?name=NAME or /identify; GET /health. Answers are the --json records. With an admin
    token, GET /people, POST /people/NAME (photos) and DELETE /people/NAME administer the enrolled people."""
    from .service import DEFAULT_PORT, MAX_UPLOAD_BYTES, Throttle, Tokens, WarmState, check_exposure, read_token
    from .service import serve as run_service

    tokens = Tokens(read_token(token_file, "FACEGATE_TOKEN"), read_token(admin_token_file, "FACEGATE_ADMIN_TOKEN"))
    check_exposure(host, tokens)  # before the model loads
    database = settings.database()
    resolve_threshold(threshold, database)
    model = settings.model(database)
    model.warm_up()
    state = WarmState(database.path, model, threshold, settings.access_log(database))
    port = DEFAULT_PORT if port is None else port
    _warn(f"serving {database.path} ({len(database.name_counts())} people) on http://{host}:{port}", prefix="facegate: ")
    throttle = Throttle(max_failures, failure_window, lockout) if max_failures else None
    run_service(state, host, port, max_bytes or MAX_UPLOAD_BYTES, tokens=tokens, throttle=throttle)
    return EXIT_OK


@cli.group()
def evaluate():
    """Measure accuracy on labelled data, with the same code as verify and identify."""


def plot_option(function):
    return click.option("--plot", type=PATH, default=None,
                        help="Write the ROC curve, operating point marked, to this PNG file.")(function)


@evaluate.command(name="pairs")
@click.argument("pairs_file", type=PATH)
@click.argument("images_dir", type=PATH)
@threshold_option
@json_option
@plot_option
@click.pass_obj
def evaluate_pairs(settings, pairs_file, images_dir, threshold, as_json, plot):
    """1:1 accuracy on an LFW-style PAIRS_FILE whose images are IMAGES_DIR/NAME/NAME_0001.jpg.

    Prints accuracy at the threshold, best accuracy (10-fold when the file has folds), TAR at FAR 1% and 0.1%,
    TAR and FAR at the threshold, and face-detection failures (their pairs count as refused).
    """
    from . import evaluation

    database = settings.database()
    limit = resolve_threshold(threshold, database)
    pairs = evaluation.read_pairs(pairs_file, images_dir)  # a malformed file fails before the model loads
    summary, distances, same = evaluation.evaluate_pairs(pairs, settings.model(database), limit)
    if plot:
        evaluation.plot_roc(plot, distances, same, limit, f"{pairs_file.name}: {len(same)} pairs")
        summary["plot"] = str(plot)
    _print_summary(summary, as_json)
    return EXIT_OK


@evaluate.command(name="gallery")
@click.argument("gallery_dir", type=PATH)
@click.argument("probes_dir", type=PATH)
@click.argument("truth_csv", type=PATH)
@threshold_option
@json_option
@click.pass_obj
def evaluate_gallery(settings, gallery_dir, probes_dir, truth_csv, threshold, as_json):
    """Open-set 1:K accuracy: enroll GALLERY_DIR/PERSON/*, identify each probe listed in TRUTH_CSV.

    TRUTH_CSV has the columns file,identity (an empty identity marks a stranger). Prints the share of known
    probes accepted, rank-1 accuracy of those accepted, the share of strangers accepted, detection failures
    and the identities most often refused or mistaken. Your own database is not touched.
    """
    from . import evaluation

    database = settings.database()
    limit = resolve_threshold(threshold, database)
    people = evaluation.labelled_photos(gallery_dir)  # bad inputs fail before the model loads
    truth = evaluation.read_truth(truth_csv)
    summary = evaluation.evaluate_gallery(people, probes_dir, truth, settings.model(database), limit)
    _print_summary(summary, as_json)
    return EXIT_OK


@cli.command()
@click.argument("labelled_dir", required=False, type=PATH)
@click.option("--far", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.001, show_default=True,
              help="Target false-accept rate (share of impostor pairs let in).")
@click.option("--save", is_flag=True, help="Store the recommended threshold in the database.")
@json_option
@plot_option
@click.pass_obj
def calibrate(settings, labelled_dir, far, save, as_json, plot):
    """Find the threshold that holds a false-accept rate, from LABELLED_DIR/PERSON/* photos.

    Without LABELLED_DIR it calibrates from the people already enrolled (those with two or more photos
    supply the genuine pairs). With --save the threshold is stored and used by every command.
    """
    from . import evaluation

    database = settings.database()
    if labelled_dir is not None:
        people = evaluation.labelled_photos(labelled_dir)
        encoded, failures = evaluation.encode_people(people, settings.model(database))
        embeddings = {name: vectors for name, (_, vectors) in encoded.items()}
    else:
        embeddings, failures = evaluation.embeddings_of_database(database), {}
    summary, distances, same = evaluation.calibrate(embeddings, far, resolve_threshold(None, database))
    summary["detection_failures"] = len(failures)
    if summary["far_resolution"] > far:
        _warn(f"warning: {int((~same).sum())} impostor pairs cannot measure a FAR of {far:g}; "
              "use more people or photos")
    if plot:
        evaluation.plot_roc(plot, distances, same, summary["recommended_threshold"], "calibration")
        summary["plot"] = str(plot)
    if save:
        with transaction(database.path) as current:
            current.set_threshold(summary["recommended_threshold"])
        summary["saved"] = True
    _print_summary(summary, as_json)
    return EXIT_OK


def _print_summary(summary, as_json):
    if as_json:
        _emit(summary)
        return
    for key, value in summary.items():
        label = key.replace("_", " ")
        if isinstance(value, float) and ("threshold" in key or "std" in key):
            click.echo(f"{label:<28} {value:.4f}")
        elif isinstance(value, float):
            click.echo(f"{label:<28} {value:.2%}")
        elif key == "worst_identities":
            click.echo(f"{label:<28} " + ("none" if not value else ""))
            for record in value:
                mistaken = ", ".join(f"{k} x{v}" for k, v in record["mistaken_for"].items()) or "-"
                click.echo(f"  {record['identity']}: {record['refused']}/{record['probes']} refused, "
                           f"mistaken for: {mistaken}")
        else:
            click.echo(f"{label:<28} {value if value is not None else '-'}")


@cli.command()
@click.pass_obj
def fetch(settings):
    """Download, verify and cache the model weights and convert the networks now (otherwise done on first use)."""
    from .conversion import detector_network_paths, embedding_network_path

    name = settings.model_name or DEFAULT_MODEL
    path = embedding_network_path(MODELS[name], settings.weights)
    detector_network_paths()
    click.echo(f"{name}: converted networks ready in {path.parent.parent}")


def _face_crop(path, box):
    """The face's box cut from the picture (for --log-faces)."""
    from PIL import Image

    from .imaging import load_image

    x, y, w, h = box
    return Image.fromarray(load_image(path)[y:y + h, x:x + w])


def _log_faces(settings, access_log, command, result, matches, limit):
    """One access-log record per face of an identify or scan result."""
    if not result.faces:
        return
    picture = Path(result.path).read_bytes()
    for face, match in zip(result.faces, matches):
        access_log.record(command, "match" if match.identity else "unknown", identity=match.identity,
                          distance=match.distance, threshold=limit, picture=picture, path=result.path,
                          face=_face_crop(result.path, face.box) if settings.log_faces else None)


def _annotate(result, matches, target):
    """Write the result's image with its faces boxed and named (decoded again: annotation is opt-in)."""
    from .annotate import faces_of_matches, save_annotated
    from .imaging import load_image

    save_annotated(load_image(result.path), faces_of_matches(result, matches), target)


def _expand_photos(arguments):
    """The photo files named by enroll's arguments, folders replaced by the images directly inside them."""
    files = []
    for argument in arguments:
        if argument.is_dir():
            found = [p for p in sorted(argument.iterdir()) if is_image_name(p) and p.is_file()]
            if not found and len(arguments) == 1:
                raise FacegateError(f"{argument}: no image files in this folder")
            if not found:
                _warn(f"{argument}: no image files in this folder")
            files.extend(found)
        else:
            files.append(argument)
    return files


def _face_lines(result, matches):
    for number, (face, match) in enumerate(zip(result.faces, matches), start=1):
        x, y, w, h = face.box
        yield f"{result.path}: face {number} at x={x} y={y} {w}x{h}: {_short_match(match)}"


def _short_match(match):
    if match is None:
        return "unknown (empty database)"
    if match.identity is None:
        return f"unknown (nearest distance {match.distance:.3f})"
    return f"{match.identity} (distance {match.distance:.3f})"


def _emit(record):
    text = json.dumps(record, ensure_ascii=False)
    if not text.isprintable():  # undecodable file-name bytes (lone surrogates): escape them the JSON way
        text = json.dumps(record)
    click.echo(text)


def _say(line):
    """One line of text output, whatever characters the file names in it hold."""
    click.echo(printable(line))


def _warn(message, prefix="facegate: "):
    click.echo(printable(f"{prefix}{message}"), err=True)


class _Progress:
    """'scanning 12/300 (4%)' kept on the last line of a terminal's stderr, cleared before each result line."""

    def __init__(self, total):
        self.total, self.done = total, 0
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
            sys.stderr.write(f"\r\x1b[Kscanning {self.done}/{self.total} ({percent}%)")
            sys.stderr.flush()


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
        _warn("aborted")
        code = EXIT_ERROR
    except FacegateError as exc:
        _warn(f"error: {exc}")
        code = EXIT_ERROR
    except KeyboardInterrupt:
        _warn("interrupted")
        code = 130
    except BrokenPipeError:
        sys.stderr.close()
        code = EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a user must never get a traceback; FACEGATE_DEBUG shows it
        if os.environ.get("FACEGATE_DEBUG"):
            raise
        _warn(f"unexpected error: {type(exc).__name__}: {exc} (set FACEGATE_DEBUG=1 for details)")
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)
