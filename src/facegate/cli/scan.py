"""scan: identify the faces of every image under a folder, here or on a Ray cluster, resumably."""
import csv
import sys

import click

from ..errors import FacegateError
from ..faces.imaging import find_images
from ..matching import Gallery, resolve_threshold
from ..records import CSV_HEADER, csv_rows, image_record
from .app import cli
from .common import (EXIT_OK, PATH, Progress, annotate_option, emit, json_option, say, short_match, threshold_option,
                     warn)


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
    from ..scans import encode_here, encode_on_ray
    from ..scans.resumable import ResultFile
    from ..scans.run import Scan

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
    scanning = Scan(gallery, limit, model.name, settings.access_log(database) if log_decisions else None, annotate,
                    folder, results)
    writer = None
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_HEADER)
    with Progress(len(paths)) as progress:
        encoded = encode_on_ray(paths, model.name, ray_address) if ray_address else encode_here(paths, model)
        for result in encoded:
            progress.clear()
            _print_result(result, scanning.decide(result), as_json, writer)
            progress.update(1)
    if results:
        results.close()
    counts = scanning.counts
    already = f" ({skipped} already in {output})" if skipped else ""
    warn(
        f"scanned {counts['images']} image(s) under {folder}{already}: {counts['faces']} face(s), "
        f"{counts['identified']} identified, {counts['errors']} error(s)",
        prefix="",
    )
    return EXIT_OK


def _print_result(result, matches, as_json, writer):
    """One image's result on stdout: its JSON record, its CSV rows, or a line."""
    if as_json:
        emit(image_record(result, matches))
    elif writer:
        writer.writerows(csv_rows(image_record(result, matches)))
    elif result.error:
        say(f"{result.path}: error: {result.error}")
    elif not result.faces:
        say(f"{result.path}: no face")
    else:
        say(f"{result.path}: " + ", ".join(short_match(m) for m in matches))
    sys.stdout.flush()
