"""liveness calibrate, list, show, remove: each camera's liveness profile, kept in the database."""
import contextlib
import tempfile
from pathlib import Path

import click

from ..db import transaction
from ..errors import FacegateError
from .app import cli
from .common import EXIT_ERROR, EXIT_OK, PATH, Progress, emit, json_option, say, warn


@cli.group()
def liveness():
    """Each camera's liveness profile: its texture cue fitted on its own frames (a camera without one is judged
    by the `default` profile, else by the cue shipped with facegate)."""


@liveness.command()
@click.argument("recordings", required=False, type=PATH)
@click.option("--camera", "camera", required=True, metavar="NAME",
              help="The camera the profile is for, as watch and cameras.toml name it (`default`: every camera "
                   "without a profile of its own).")
@click.option("--from", "source", metavar="SOURCE", default=None,
              help="Record from the camera itself instead (a guided capture: it says what to hold up, and when).")
@click.option("--keep", type=PATH, default=None,
              help="With --from: keep the recordings in this folder (as RECORDINGS would hold them).")
@click.option("--people", type=click.IntRange(2, 20), default=3, show_default=True,
              help="With --from: how many people walk up in turn.")
@click.option("--seconds", type=click.FloatRange(2, 120), default=12.0, show_default=True,
              help="With --from: seconds of each person and of each attack.")
@click.option("--get-ready", type=click.FloatRange(0, 60), default=5.0, show_default=True,
              help="With --from: seconds between announcing a step and recording it.")
@json_option
@click.pass_obj
def calibrate(settings, recordings, camera, source, keep, people, seconds, get_ready, as_json):
    """Fit CAMERA's liveness profile on RECORDINGS made with it: RECORDINGS/live/ (people walking up; a folder per
    person, pictures or clips) and RECORDINGS/attack/ (a folder per kind: print/, screen-photo/, screen-video/).

    Prints the profile's APCER per attack kind and BPCER, cross-validated by person, beside the shipped cue's on
    the same frames. A profile that does not separate the site's people from its attacks is refused (exit 2,
    the database unchanged).
    """
    from ..liveness import calibration
    from ..liveness.profiles import check_profile_name

    check_profile_name(camera)
    if (recordings is None) == (source is None):
        raise click.UsageError("give RECORDINGS or --from SOURCE (one of the two)")
    if keep is not None and source is None:
        raise click.UsageError("--keep goes with --from SOURCE")
    database = settings.database()
    if source is None:
        profile, separates = _fitted(settings, database, recordings, camera)
    else:
        from ..liveness.capture import guided_capture

        with contextlib.ExitStack() as scratch:  # without --keep the recordings (faces) go when it is done
            folder = keep if keep is not None else Path(scratch.enter_context(
                tempfile.TemporaryDirectory(prefix="facegate-calibration-")))
            guided_capture(source, folder, people, seconds, say, get_ready)
            profile, separates = _fitted(settings, database, folder, camera)
    if as_json:
        emit({"camera": camera, "saved": separates, **profile.figures})
    else:
        for line in figure_lines(profile.figures):
            say(line)
    if not separates:
        warn(f"{camera}: profile refused: it does not separate these live people from these attacks (APCER above "
             f"{calibration.REFUSE_APCER:.0%} or BPCER above {calibration.REFUSE_BPCER:.0%}); record more, in the "
             "light the door has")
        return EXIT_ERROR
    with transaction(settings.db_path) as current:
        current.set_liveness_profile(profile)
    if not as_json:
        say(f"{camera}: liveness profile saved: watch {camera}=SOURCE, verify --liveness --camera {camera} and "
            f"/verify?liveness=1&camera={camera} use it")
    return EXIT_OK


def _fitted(settings, database, recordings, camera):
    """(Profile, whether it separates) fitted on the recordings under `recordings`."""
    from ..liveness import calibration, datasets
    from ..liveness.profiles import shipped_cue

    if not recordings.is_dir():
        raise FacegateError(f"{recordings}: no such folder" if not recordings.exists() else
                            f"{recordings}: not a folder (a calibration reads DIR/live/ and DIR/attack/)")
    samples = datasets.site_samples(recordings)
    if not any(s.live for s in samples) or all(s.live for s in samples):
        raise FacegateError(f"{recordings}: a calibration needs pictures or clips under both live/ and attack/ "
                            f"({sum(s.live for s in samples)} live, {sum(not s.live for s in samples)} attack found)")
    model = settings.model(database)
    unreadable = {}  # each said once, after the progress bar
    by_folder = all(s.person != str(s.path) for s in samples)
    samples = samples if by_folder else datasets.grouped_by_face(samples, model, on_unreadable=unreadable.setdefault)
    with Progress(len(samples), "reading faces") as progress:
        rows = datasets.feature_rows(samples, model, on_frame=lambda done, total: progress.update(1),
                                     on_unreadable=unreadable.setdefault)
    for path, error in unreadable.items():
        warn(f"skipped: {error}")
    return calibration.calibrate(rows, shipped_cue(), camera, "person" if by_folder else "face")


def _share(pair):
    n, total = pair
    return f"{n}/{total} ({100 * n / total:.1f}%)" if total else "0/0"


def figure_lines(figures):
    """A profile's figures as lines of text."""
    frames = ", ".join(f"{n} {kind}" for kind, n in figures["frames"].items())
    groups = "people" if figures["grouped_by"] == "person" else "people told apart by their faces"
    lines = [f"frames with a face: {frames}; {figures['groups']} {groups}"]
    for title, key, prior_key in (("this camera's profile (cross-validated by " + figures["grouped_by"] + ")",
                                   "cross_validated", "prior_on_these_frames"),
                                  ("at night (grey copies)", "night_cross_validated", "night_prior")):
        ours, theirs = figures[key], figures[prior_key]
        lines.append(f"{title}: BPCER {_share(ours['BPCER'])} (the {figures['prior']} cue: "
                     f"{_share(theirs['BPCER'])})")
        lines += [f"  APCER {kind}: {_share(pair)} (the {figures['prior']} cue: {_share(theirs['APCER'][kind])})"
                  for kind, pair in ours["APCER"].items()]
    return lines


@liveness.command(name="list")
@json_option
@click.pass_obj
def list_profiles(settings, as_json):
    """The cameras with a liveness profile, when each was fitted and its cross-validated figures."""
    profiles = settings.database().liveness_profiles
    if as_json:
        emit([{"camera": name, "fitted_at": p.fitted_at, **p.figures} for name, p in sorted(profiles.items())])
        return EXIT_OK
    if not profiles:
        say("no liveness profiles: every camera is judged by the cue shipped with facegate")
    for name, profile in sorted(profiles.items()):
        validated = profile.figures["cross_validated"]
        apcer = ", ".join(f"{kind} {_share(pair)}" for kind, pair in validated["APCER"].items())
        say(f"{name}: fitted {profile.fitted_at}: BPCER {_share(validated['BPCER'])}; APCER {apcer}")
    return EXIT_OK


@liveness.command()
@click.argument("camera")
@json_option
@click.pass_obj
def show(settings, camera, as_json):
    """CAMERA's liveness profile: its recordings and figures."""
    profile = _profile(settings, camera)
    if as_json:
        emit({"camera": camera, "fitted_at": profile.fitted_at, **profile.figures})
    else:
        say(f"{camera}: fitted {profile.fitted_at}")
        for line in figure_lines(profile.figures):
            say(line)
    return EXIT_OK


@liveness.command()
@click.argument("camera")
@click.pass_obj
def remove(settings, camera):
    """Forget CAMERA's liveness profile (it is judged by the `default` profile, else the shipped cue, again)."""
    _profile(settings, camera)
    with transaction(settings.db_path) as current:
        current.remove_liveness_profile(camera)
    say(f"{camera}: liveness profile removed")
    return EXIT_OK


def _profile(settings, camera):
    database = settings.database()
    if camera not in database.liveness_profiles:
        known = ", ".join(sorted(database.liveness_profiles)) or "none"
        raise FacegateError(f"{database.path}: no liveness profile for camera {camera!r} (profiles: {known})")
    return database.liveness_profiles[camera]
