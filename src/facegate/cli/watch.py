"""watch: the door camera, one event per visit."""
import contextlib
import sys

import click

from ..errors import FacegateError
from ..matching import Gallery, resolve_threshold
from ..watch.visits import MIN_EVIDENCE_SIDE
from .app import cli
from .common import EXIT_OK, PATH, emit, json_option, say, threshold_option, warn


@cli.command()
@click.argument("sources", nargs=-1, metavar="[NAME=]SOURCE...")
@click.option("--config", "config", type=PATH, default=None,
              help="The cameras from a TOML file (README, 'Several cameras'), instead of SOURCE arguments.")
@click.option("--claim", metavar="NAME", default=None,
              help="Badge-reader mode: only NAME can open (checked before any frame is read).")
@click.option("--fps", type=click.FloatRange(0, min_open=True), default=None,
              help="Frames per second to process: of a file's frames, or at most, of a live source's.")
@click.option("--realtime", is_flag=True, help="Read a file as if it were live: at its frame rate, dropping "
                                                "frames when behind (how a camera is stood in for).")
@click.option("--min-face", "min_face", type=click.IntRange(10, 1000), default=MIN_EVIDENCE_SIDE, show_default=True,
              help="Faces smaller than this (pixels) are followed but never decided on.")
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
@click.option("--mqtt", metavar="mqtt://HOST:PORT/TOPIC", default=None,
              help="Publish each camera's events to TOPIC/<camera id> (its name in a-z, 0-9 and _), and Home "
                   "Assistant discovery configs for each camera (docs/homeassistant.md).")
@click.option("--mqtt-snapshots", "mqtt_snapshots", is_flag=True,
              help="Also publish each decision's frame, face boxed, to Home Assistant's camera entity (off: no "
                   "picture of a face goes to the broker).")
@click.option("--retire-discovery", "retired", metavar="NAME", multiple=True,
              help="Remove this camera (no longer watched) from Home Assistant: clear its retained discovery "
                   "configs on --mqtt's broker. Without a SOURCE, only that is done.")
@click.option("--snapshots", type=PATH, default=None,
              help="Save the annotated frame of each event into this folder.")
@click.option("--insecure-camera", "insecure_cameras", metavar="NAME", multiple=True,
              help="Read this https camera (its name, or its host) even though its certificate does not verify "
                   "(a camera's own self-signed one); any other camera with a bad certificate is refused.")
@click.option("--liveness", type=click.Choice(["on", "off"]), default="on", show_default=True,
              help="Presentation-attack detection: a photo, a print or a screen never opens (off: identity only).")
@click.pass_obj
def watch(settings, sources, config, claim, fps, realtime, min_face, threshold, as_json, on_match, hook_timeout,
          cooldown, webhook, mqtt, mqtt_snapshots, retired, snapshots, insecure_cameras, liveness):
    """Watch cameras (index 0, /dev/video0), video files or stream URLs; announce each visit once.

    Each face is followed from frame to frame; its best frames decide once: match (the door opens, when it is
    also judged live), spoof (a photo or a screen of someone), unknown, or ambiguous; an unknown may still become
    a match (or a spoof) while the person comes closer. Events are printed (--json: one JSON object per line)
    and sent to --on-match, --webhook and --mqtt. Several cameras (NAME=SOURCE each, or --config FILE) share
    one model; the options above are every camera's defaults. Ctrl-C or the end of the files ends it with a
    summary per camera on stderr.
    """
    from dataclasses import replace

    from ..accesslog import default_door
    from ..matching import LiveGallery
    from ..retention import Keeper
    from ..watch.cameras import CameraSpec, from_arguments, from_file, with_doors
    from ..watch.credentials import shown_source
    from ..watch.events import Cooldown, Dispatcher
    from ..watch.heartbeat import Heartbeat
    from ..watch.sinks import retire_discovery, sinks_for
    from ..watch.video import VideoSource
    from ..watch.watcher import Watcher, run_cameras

    base = CameraSpec(source=None, claim=claim, fps=fps, realtime=realtime, min_face=min_face, cooldown=cooldown,
                      on_match=on_match, hook_timeout=hook_timeout, webhook=webhook, mqtt=mqtt,
                      mqtt_snapshots=mqtt_snapshots, snapshots=None if snapshots is None else str(snapshots))
    if config is not None and sources:
        raise FacegateError("watch: give SOURCE arguments or --config FILE, not both")
    if retired and not mqtt:
        raise FacegateError("--retire-discovery: give the broker and TOPIC the camera was published on: --mqtt URL")
    if config is None and not sources:
        if retired:
            retire_discovery(mqtt, retired, say)
            return EXIT_OK
        raise FacegateError("watch: no source: give SOURCE (NAME=SOURCE for each of several) or --config FILE")
    cameras = from_file(config, base) if config is not None else from_arguments(sources, base)
    labels = [f"{camera.name} ({shown_source(camera.source)})" if camera.name else shown_source(camera.source)
              for camera in cameras]
    cameras = with_doors(cameras, settings.door, default_door())
    if retired:
        retire_discovery(mqtt, retired, warn, watched=[camera.name for camera in cameras])
    insecure = _insecure(cameras, insecure_cameras)

    database = settings.database()
    resolve_threshold(threshold, database)
    gallery = Gallery.of(database)
    for camera in cameras:
        if camera.claim is not None:
            gallery.embeddings_of(camera.claim)  # an unknown claim fails before any frame is read
        elif gallery.is_empty():
            raise FacegateError(f"{database.path}: the database is empty: enroll someone first")

    def show(record):
        emit(record) if as_json else say(_event_line(record))
        sys.stdout.flush()

    access_log = settings.access_log(database)
    dispatchers = []
    try:
        sinks = sinks_for(cameras, warn)
        dispatchers = [Dispatcher(show, warn, sinks[camera.name], replace(access_log, door=camera.door))
                       for camera in cameras]
        with contextlib.ExitStack() as opened:
            frames = [opened.enter_context(VideoSource(camera.source, fps=camera.fps, realtime=camera.realtime,
                                                       warn=warn, must_open=len(cameras) == 1,
                                                       insecure=camera.name in insecure))
                      for camera in cameras]
            model = settings.model(database)
            live = LiveGallery(database.path, model.name, threshold)
            judged = [liveness == "on" if camera.liveness is None else camera.liveness for camera in cameras]
            watchers = [Watcher(model, live, camera.source, dispatch, warn, claim=camera.claim,
                                opens=Cooldown(camera.cooldown).allows, snapshots=camera.snapshots,
                                liveness=on, min_face=camera.min_face, camera=camera.name,
                                heartbeat=Heartbeat(access_log.store, camera.door, camera.name or camera.source,
                                                    camera.source, warn, liveness=on))
                        for camera, dispatch, on in zip(cameras, dispatchers, judged)]
            keeper = Keeper(lambda: live.current()[0], warn, [c.snapshots for c in cameras if c.snapshots]).start()
            try:
                with _stopped_by_signals(frames):
                    run_cameras(list(zip(frames, watchers)))
            except KeyboardInterrupt:
                pass
            finally:
                keeper.stop()
    finally:
        for dispatch in dispatchers:
            dispatch.close()
    for label, watcher in zip(labels, watchers):
        warn(watcher.summary.line(label))
    return EXIT_OK


def _insecure(cameras, names):
    """The names of the cameras --insecure-camera names (by name, or by the host of their URL); a name that is no
    camera's is refused in one line."""
    import urllib.parse

    chosen = set()
    for name in names:
        found = [camera.name for camera in cameras
                 if name in (camera.name, urllib.parse.urlsplit(str(camera.source)).hostname)]
        if not found:
            raise FacegateError(f"--insecure-camera {name}: no camera of this watch has that name or host")
        chosen.update(found)
    return chosen


def _event_line(record):
    """A readable line for an event: time, track, what was decided."""
    head = f"{record['time']:9.3f} s  track {record['track']}"
    distance = f"distance {record['distance']:.3f}" if record["distance"] is not None else "no distance"
    if record["event"] == "match":
        door = "door opens" if record["opens"] else "door not opened again (cooldown)"
        return f"{head}  MATCH {record['identity']} ({distance}, {record['frames']} frames): {door}"
    if record["event"] == "spoof":
        whose = f"of {record['identity']} " if record["identity"] else ""
        return (f"{head}  SPOOF: a photo or a screen {whose}({', '.join(record['cues'])}, {distance}): "
                f"door stays closed")
    if record["event"] == "left":
        return f"{head}  left ({record['identity'] or 'not matched'})"
    return f"{head}  {record['event'].upper()} ({distance}, {record['frames']} frames): door stays closed"


@contextlib.contextmanager
def _stopped_by_signals(sources):
    """Ctrl-C or SIGTERM (a service manager stopping the watch) ends it at the next frame, with its pending
    decisions and summary, exit 0; a second one interrupts at once. The first only sets a flag: raised in the
    middle of a frame, an interrupt could leave a lock held that the summary then waits for."""
    import signal

    def stop(_signum, _frame):
        if any(source.stopping for source in sources):
            raise KeyboardInterrupt
        for source in sources:
            source.request_stop()

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
