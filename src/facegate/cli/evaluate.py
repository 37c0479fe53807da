"""Accuracy on labelled data (evaluate pairs, evaluate gallery) and the threshold that holds a false-accept rate
(calibrate), with the same code as verify and identify."""
import click

from ..db import transaction
from ..matching import resolve_threshold
from .app import cli
from .common import EXIT_OK, PATH, emit, json_option, plot_option, threshold_option, warn


@cli.group()
def evaluate():
    """Measure accuracy on labelled data, with the same code as verify and identify."""


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
    from .. import evaluation

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
    from .. import evaluation

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
    from .. import evaluation

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
        warn(f"warning: {int((~same).sum())} impostor pairs cannot measure a FAR of {far:g}; "
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
        emit(summary)
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
