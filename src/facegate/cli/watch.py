"""watch: the door camera, one event per visit."""
import contextlib
import sys

import click

from ..errors import FacegateError
from ..matching import Gallery, resolve_threshold
from .app import cli
from .common import EXIT_OK, PATH, emit, json_option, say, threshold_option, warn


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
@click.option("--mqtt", metavar="mqtt://HOST:PORT/TOPIC", default=None,
              help="Publish each event to this topic (and Home Assistant discovery configs for this door).")
@click.option("--snapshots", type=PATH, default=None,
              help="Save the annotated frame of each event into this folder.")
@click.option("--liveness", type=click.Choice(["on", "off"]), default="on", show_default=True,
              help="Presentation-attack detection: a photo, a print or a screen never opens (off: identity only).")
@click.pass_obj
def watch(settings, source, claim, fps, realtime, threshold, as_json, on_match, hook_timeout, cooldown, webhook,
          mqtt, snapshots, liveness):
    """Watch a camera (index 0, /dev/video0), a video file or a stream URL; announce each visit once.

    Each face is followed from frame to frame; its best frames decide once: match (the door opens, when it is
    also judged live), spoof (a photo or a screen of someone), unknown, or ambiguous; an unknown may still become
    a match (or a spoof) while the person comes closer. Events are printed (--json: one JSON object per line)
    and sent to --on-match, --webhook and --mqtt. Ctrl-C or the end of a file ends it with a summary on stderr.
    """
    from ..watch.events import Cooldown, Dispatcher
    from ..matching import LiveGallery
    from ..watch.video import VideoSource
    from ..watch.watcher import Watcher, run

    database = settings.database()
    resolve_threshold(threshold, database)
    gallery = Gallery.of(database)
    if claim is not None:
        gallery.embeddings_of(claim)  # an unknown claim fails before any frame is read
    elif gallery.is_empty():
        raise FacegateError(f"{database.path}: the database is empty: enroll someone first")

    def show(record):
        emit(record) if as_json else say(_event_line(record))
        sys.stdout.flush()

    access_log = settings.access_log(database)
    dispatch = Dispatcher(show, warn, on_match, hook_timeout, webhook, mqtt, access_log, access_log.door)
    try:
        with VideoSource(source, fps=fps, realtime=realtime, warn=warn) as frames:
            model = settings.model(database)
            watcher = Watcher(model, LiveGallery(database.path, model.name, threshold), source, dispatch, warn,
                              claim=claim, opens=Cooldown(cooldown).allows, snapshots=snapshots,
                              liveness=liveness == "on")
            try:
                with _stopped_by_signals(frames):
                    run(frames, watcher)
            except KeyboardInterrupt:
                pass
    finally:
        dispatch.close()
    warn(watcher.summary.line(source))
    return EXIT_OK


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
