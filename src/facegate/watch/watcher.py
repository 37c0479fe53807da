"""`facegate watch`: the door camera. Frames from a video source, faces followed by the tracker, one decision per
visit (visits.py) on the identity and the liveness evidence of its frames, events out (events.py). Faces of tracks
already decided (an `unknown` once its 10 s of trying are over) are followed but not embedded again: after a
decision, a frame costs detection only."""
import threading
import time as clock
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..faces.annotate import label_for, save_annotated
from ..errors import DatabaseError, FacegateError, UnknownIdentityError, printable
from ..db.base import encryption_of
from ..sealing import seal
from .cameras import slug
from .credentials import shown_source
from .events import event_record
from ..faces.quality import measure
from ..liveness import Evidence
from ..liveness.profiles import SHIPPED
from ..liveness.motion import grey_of
from .gate import MotionGate
from .refusals import RefusedVisits
from .tracking import Tracker
from .visits import MIN_EVIDENCE_SIDE, Visit

GLANCE_SIDE = 40
"""The smallest face the heartbeat looks for in a still scene (the detector's 20 px in the frame halved); a face
that small that never moved is found by the motion it makes."""
IDLE_SECONDS = 0.2
"""While a live camera shows nothing worth a look, at most one of its frames this often is looked at (5 a second:
a still 30 frames/s camera costs 4.9% of a core, 8.0% at 10 a second; someone stepping in is seen 0.2 s later at
worst, then every frame is looked at)."""


@dataclass
class Summary:
    """What a watch did, said on stderr when it ends."""

    frames: int = 0
    undetected: int = 0
    """Frames the motion gate found not worth a detection (nothing moved, no face followed)."""
    tracks: int = 0
    events: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    liveness: bool = True
    failed: int = 0
    """Frames whose processing failed (said on stderr, the camera's alone: the others go on)."""
    liveness_warning: str = None
    """refusals.RefusedVisits' warning as the watch ended: liveness refuses too many recognised visits."""

    def line(self, camera):
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.events.items())) or "no events"
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        warning = "" if self.liveness else "; liveness was off: a photo or a screen could open the door"
        idle = f" ({self.undetected} without motion, not detected)" if self.undetected else ""
        failed = f", {self.failed} failed" if self.failed else ""
        if self.liveness_warning:
            warning += f"; {self.liveness_warning.split(': ', 1)[1]}"
        return (f"watched {camera}: {self.frames} frame(s){idle}{failed} in {self.seconds:.1f} s ({rate:.1f}/s), "
                f"{self.tracks} face track(s), {counts}{warning}")


class Watcher:
    """Turns the frames of one camera into events. `emit(record, frame)` receives each event record with the frame
    it was decided on (None for `left`); `opens(identity, time)` says whether a match may open (the cooldown);
    `liveness` False decides on identity alone; faces under `min_face` pixels are followed, never decided on;
    `camera` names the camera in the events (default: the source); `heartbeat` (heartbeat.Heartbeat) is told of
    each frame and event."""

    def __init__(self, model, live, source_name, emit, warn, claim=None, opens=None, snapshots=None,
                 liveness=True, min_face=MIN_EVIDENCE_SIDE, camera=None, heartbeat=None):
        self.model, self.live, self.source_name = model, live, shown_source(source_name)
        self.heartbeat = heartbeat
        self.camera = camera or self.source_name
        self.liveness, self.min_face = liveness, min_face
        self.emit, self.warn, self.claim = emit, warn, claim
        self.opens = opens or (lambda identity, time: True)
        self.snapshots = Path(snapshots) if snapshots else None
        self.tracker = Tracker()
        self.gate = MotionGate()
        self.summary = Summary(liveness=liveness)
        self._claim_missing = self._database_failing = False
        self._threshold = None
        self._failures_said = set()
        self._cue = None
        """The liveness cue new visits are judged by (the camera's profile; _judge_by)."""
        self.refusals = RefusedVisits()

    def process_safely(self, frame):
        """process(frame), a failure of which is this camera's alone: counted, said once per kind of failure
        (and in the camera's heartbeat), and the frame skipped; the door stays shut on it."""
        try:
            self.process(frame)
        except Exception as exc:  # noqa: BLE001 - one camera's bad frame must not stop every camera
            self.summary.failed += 1
            reason = printable(f"{type(exc).__name__}: {exc}")
            if reason not in self._failures_said:
                self._failures_said.add(reason)
                self.warn(f"{self.camera}: a frame could not be processed ({reason}); the frame is skipped")
                if self.heartbeat is not None:
                    self.heartbeat.failed(reason)

    def process(self, frame):
        """Detect (when the motion gate says the frame is worth it), follow, embed the undecided faces, decide;
        emit what was decided on this frame."""
        self.summary.frames += 1
        if self.heartbeat is not None:
            self.heartbeat.frame()
        following = bool(self.tracker.active)
        reason = self.gate.worth_detecting(frame.image, frame.time, following)
        if reason is None:
            self.summary.undetected += 1
            return
        if reason == "glance" and not self._glance(frame.image):
            return
        gallery, threshold = self._gallery()
        # the enlarged second pass (small, uncertain faces) only keeps a followed face from being lost (without it a
        # track of the dev clip ends 0.4 s early): with nobody followed it is the dearest part of an empty frame,
        # and a newcomer is found as they come closer
        faces = self.model.detect(frame.image, enlarge=following)
        tracks, ended = self.tracker.update([face.box for face in faces], frame.time)
        for track in tracks:
            if track.visit is None:
                track.visit = Visit(frame.time, Evidence(self._cue) if self.liveness else None)
                self.summary.tracks += 1
        evidence = [(face, track) for face, track in zip(faces, tracks)
                    if track.visit.wants_evidence(frame.time) and min(face.box[2:]) >= self.min_face]
        decided = []
        if evidence and self._can_decide(gallery):
            embeddings = self.model.embed([self.model.crop(frame.image, face) for face, _ in evidence])
            grey = grey_of(frame.image) if self.liveness else None
            for (face, track), embedding in zip(evidence, embeddings):
                track.visit.add(embedding, measure(frame.image, face).score())
                if track.visit.liveness is not None:
                    track.visit.liveness.add(frame.image, face, frame.time, grey, len(track.visit.embeddings) - 1)
                decision = track.visit.decide(gallery, threshold, frame.time, self.claim)
                if decision is not None:
                    decided.append((track, decision, threshold))
        for track, decision, threshold in decided:
            opens = decision.event == "match" and self.opens(decision.identity, frame.time)
            self._send(event_record(decision.event, track.id, decision.identity, decision.distance, threshold,
                                    decision.frames, frame.time, track.box, self.source_name, self.camera,
                                    self.claim, opens, decision.live, decision.cues), frame, tracks)
        for track in ended:
            self._left(track, threshold)

    def _glance(self, image):
        """A glance at a still scene: whether a face of GLANCE_SIDE px or more is in the frame halved
        (a quarter of a full detection's cost); only then is the frame detected in full."""
        import cv2

        height, width = image.shape[:2]
        if min(height, width) < 2 * GLANCE_SIDE:
            return True
        half = cv2.resize(image, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
        return bool(self.model.detect(half, enlarge=False))

    @property
    def idle(self):
        """Whether this camera shows nothing worth a look (no face followed, nothing moved): its source may then
        hand out fewer frames (VideoSource.idle_interval)."""
        return self.gate.still and not self.tracker.active

    @property
    def deciding(self):
        """Whether a visit in view still gathers evidence (its camera goes first when several share the model)."""
        return any(track.visit is not None and track.visit.decision is None for track in self.tracker.active)

    def finish(self):
        """The source has ended: every visit still open has left."""
        for track in self.tracker.end_all():
            self._left(track, self._threshold)
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def _judge_by(self, cue):
        """New visits are judged by `cue` (the camera's liveness profile, as the database has it now); a profile
        taken up (or given up) is said."""
        if (self._cue.name if self._cue else SHIPPED) != cue.name:
            profile = "the liveness cue shipped with facegate" if cue.name == SHIPPED else \
                f"liveness profile {cue.name!r}"
            self.warn(f"{self.camera or self.source_name}: liveness judged by {profile}")
        self._cue = cue

    def _gallery(self):
        """(gallery, threshold) as the database is now; (None, last threshold) while it cannot be read."""
        try:
            database, gallery, self._threshold = self.live.current()
            if self.liveness:
                self._judge_by(database.liveness_cue(self.camera))
        except DatabaseError as exc:
            if not self._database_failing:
                self.warn(f"{exc}: no decisions until the database can be read again")
            self._database_failing = True
            return None, self._threshold
        if self._database_failing:
            self.warn(f"{self.live.db_path}: the database can be read again")
        self._database_failing = False
        return gallery, self._threshold

    def _can_decide(self, gallery):
        """False (said once) while the claimed name is not enrolled, or nobody is, or the database cannot be
        read: the door stays shut."""
        if gallery is None:
            return False
        try:
            if self.claim is not None:
                gallery.embeddings_of(self.claim)
            elif gallery.is_empty():
                raise UnknownIdentityError("anyone")
        except UnknownIdentityError as exc:
            if not self._claim_missing:
                self._claim_missing = True
                self.warn(f"{exc}: no decisions until that changes")
            return False
        self._claim_missing = False
        return True

    def _left(self, track, threshold):
        decision = track.visit.decision if track.visit else None
        if decision is None:
            return  # a visit never decided (too short, too small) leaves quietly
        self._send(event_record("left", track.id, decision.identity, decision.distance, threshold, track.frames,
                                track.last_time, track.box, self.source_name, self.camera, self.claim,
                                live=decision.live, cues=decision.cues), None, None)

    def _send(self, record, frame, tracks):
        self.summary.events[record["event"]] += 1
        if self.liveness:
            self._read_liveness(record)
        if self.heartbeat is not None:
            self.heartbeat.event(record)
        if self.snapshots and frame is not None:
            try:
                record["snapshot"] = str(self._snapshot(record, frame, tracks))
            except FacegateError as exc:  # a full disk must not stop the door
                self.warn(str(exc))
        self.emit(record, frame)

    def _read_liveness(self, record):
        """Count the recognised visits liveness refused (refusals.py); say it when their share becomes too high."""
        self.refusals.event(record)
        if record["event"] != "left":
            return
        warning = self.refusals.warning(record["time"], self.camera)
        if warning and not self.summary.liveness_warning:
            self.warn(warning)
        self.summary.liveness_warning = warning
        if self.heartbeat is not None:
            self.heartbeat.liveness_read(*self.refusals.counts(record["time"]), warning)

    def _snapshot(self, record, frame, tracks):
        faces = []
        for track in tracks:
            decision = track.visit.decision
            state = decision.event if decision else "pending"
            faces.append((track.box, label_for(decision and decision.identity, decision and decision.distance,
                                               state), state))
        stamp = record["wall_time"][:19].replace(":", "")
        name = f"{slug(self.camera)}-{stamp}-t{record['time']:09.3f}-track{record['track']}-{record['event']}.jpg"
        encrypted = encryption_of(self.live.db_path)
        return save_annotated(frame.image, faces, self.snapshots / name,
                              (lambda data: seal(data, "snapshot")) if encrypted else None)


def run_cameras(cameras):
    """Watch several cameras, [(VideoSource, Watcher)], with one model: in rounds, each camera's frame due now
    (its newest, for a live one) to its watcher, cameras with an undecided visit first and the others in turn,
    so that no camera starves; waiting, when no camera has a frame, until one has. Each camera ends on its own
    (its file's end), all at a stop (VideoSource.request_stop) or Ctrl-C. The Summary of each, in order."""
    started, wake = clock.monotonic(), threading.Event()
    watching = list(cameras)
    for source, _ in watching:
        source.start(wake)
    turn = 0
    try:
        while watching:
            wake.clear()
            rotated = watching[turn % len(watching):] + watching[:turn % len(watching)]
            processed = False
            for source, watcher in sorted(rotated, key=lambda camera: not camera[1].deciding):
                source.idle_interval = IDLE_SECONDS if watcher.idle else None
                frame = source.poll()
                if frame is not None:
                    watcher.process_safely(frame)
                    processed = True
                elif source.ended:
                    watching.remove((source, watcher))
                    _end(source, watcher, started)
            turn += 1
            if not processed and watching:
                wake.wait(min(source.wait_hint() for source, _ in watching))
    finally:
        for source, watcher in watching:
            _end(source, watcher, started)
    return [watcher.summary for _, watcher in cameras]


def _end(source, watcher, started):
    source.close()
    watcher.finish()
    watcher.summary.seconds = clock.monotonic() - started
