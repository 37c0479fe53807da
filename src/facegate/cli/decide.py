"""Decisions on one picture: verify (1:1, a claimed name) and identify (1:K, everyone in it)."""
import click

from ..decisions import identify_faces, verify_picture
from ..errors import FacegateError, ImageError, NoFaceError
from ..faces.imaging import check_image
from ..matching import Gallery, resolve_threshold
from ..records import image_record, verify_record
from .app import cli
from .common import (EXIT_NO, EXIT_OK, PATH, annotate_option, emit, face_lines, json_option, say,
                     threshold_option)


@cli.command()
@click.argument("image", type=PATH)
@click.argument("name")
@threshold_option
@click.option("--require-single-face", is_flag=True,
              help="Refuse (exit 2) a picture showing more than one face instead of deciding on the main face.")
@click.option("--liveness", is_flag=True,
              help="Also judge whether the picture shows a live face (not a photo, a print or a screen): only "
                   "a face judged live can match (one under 48 px cannot be judged). A single picture proves less "
                   "than a camera's visit.")
@click.option("--camera", metavar="NAME", default=None,
              help="With --liveness: judge by camera NAME's liveness profile (else the `default` profile, else "
                   "the shipped cue; see `liveness calibrate`).")
@json_option
@click.pass_obj
def verify(settings, image, name, threshold, require_single_face, liveness, camera, as_json):
    """Is the person in IMAGE the enrolled NAME? Decides on the main face.

    In a picture of several faces the main face is the largest or, among faces about as large (box side
    within 80%), the one nearest the centre; the answer says so.

    Exit status: 0 match (door opens), 1 no match, 2 error.
    """
    database = settings.database()
    limit = resolve_threshold(threshold, database)
    gallery = Gallery.of(database)
    gallery.embeddings_of(name)  # unknown names and unusable files fail before the model loads
    if camera is not None and not liveness:
        raise click.UsageError("--camera names the liveness profile: it goes with --liveness")
    check_image(image)
    cue = database.liveness_cue(camera) if liveness else None
    distance, door_open, face_count, _, live = verify_picture(image, name, gallery, settings.model(database), limit,
                                                              settings.access_log(database), require_single_face,
                                                              liveness, cue)
    if as_json:
        emit(verify_record(image, name, distance, door_open, limit, face_count, live, liveness, cue and cue.name))
    else:
        verdict = "MATCH, door opens" if door_open else "NO MATCH, door stays closed"
        if live is False:
            verdict = "SPOOF: a photo, a print or a screen, door stays closed"
        elif liveness and live is None:
            verdict = "face too small to judge liveness, door stays closed"
        among = f" (the main face of {face_count})" if face_count > 1 else ""
        say(f"{image}: {name}{among}: distance {distance:.3f} (threshold {limit:.3f}): {verdict}")
    return EXIT_OK if door_open else EXIT_NO


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
    from ..faces.annotate import save_annotated_result
    from ..faces.pipeline import encode_images

    database = settings.database()
    limit = resolve_threshold(threshold, database)
    gallery = Gallery.of(database)
    if gallery.is_empty():
        raise FacegateError(f"{database.path}: the database is empty: enroll someone first")
    check_image(image)
    result = encode_images([image], settings.model(database))[0]
    if not result.error and not result.faces:
        result.error = NoFaceError(image).reason
    matches = identify_faces(result, gallery, limit, settings.access_log(database), "identify", path=result.path)
    if annotate and result.faces:
        save_annotated_result(result, matches, annotate)
    if as_json:
        emit(image_record(result, matches))
    elif result.error is None:
        for line in face_lines(result, matches):
            say(line)
    if result.error:
        raise ImageError(image, result.error)
    return EXIT_OK if any(m.identity for m in matches) else EXIT_NO


