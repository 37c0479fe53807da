"""Is a live person in front of the camera, or a photo, a print or a screen? Cues in two roles, never averaged
(the design of glance-linux): a DENY cue fails the visit outright and is never outvoted; a CONFIRM cue passes
it; a frame that shows neither leaves it pending. The cues and their numbers are measured in docs/accuracy.md
("Presentation attacks") on the dev sets; `scripts/train-liveness` refits the texture cue.

- texture-attack (DENY): judged frames in a row whose texture says attack (live probability < ATTACK_BELOW), at
  least DENY_FRAMES of them over at least DENY_SECONDS; one frame that does not breaks the run (a flicker of the
  cue, a moment of blur, is not evidence: a live person misjudged for a moment is not refused for the visit).
- flat-motion (DENY): FLAT_PAIRS comparisons in which the face moved with its surroundings as one plane.
- texture-live (CONFIRM): CONFIRM_FRAMES frames whose texture says live (probability >= LIVE_FROM) over at least
  CONFIRM_SECONDS, of frames whose face is the person the visit is decided for (verdict's `belongs`): a live
  accomplice's face for a moment, then the victim's photo in the same place, confirms nobody.
The rules are in seconds of evidence, so that they mean the same at a door camera's 10 judged frames a second and
at the 1.3-2 frames a second of the clips they were fitted on (where DENY_FRAMES and CONFIRM_FRAMES decide).
Faces under MIN_TEXTURE_SIDE pixels are not judged by their texture, and a visit's frames at most every
TEXTURE_INTERVAL seconds (about 10 a second): at 30 frames a second neighbouring frames are nearly the same
picture, not three times the evidence.

A still (verify --liveness) has one frame and no motion: live when its probability >= STILL_LIVE_FROM, else an
attack (a door never opens on doubt); a face under MIN_TEXTURE_SIDE cannot be judged (live None: refused too)."""
from dataclasses import dataclass

import numpy as np

from . import motion, texture

ATTACK_BELOW = 0.2
LIVE_FROM = 0.85
DENY_FRAMES = 2
DENY_SECONDS = 0.45
"""A texture-attack run must last this long (first to last frame): 2 frames of the dev clips (0.5-0.75 s apart),
5-6 judged frames at a door camera's rate."""
CONFIRM_FRAMES = 3
CONFIRM_SECONDS = 0.5
"""Live frames must be spread over this long (first to last): 3 frames of the dev clips, about 6 at a door."""
FLAT_PAIRS = 2
STILL_LIVE_FROM = 0.5
MIN_TEXTURE_SIDE = 48
"""Faces smaller than this (box side, pixels) are not judged by their texture: too few pixels to show it."""
TEXTURE_INTERVAL = 0.09
"""Seconds between the frames of a visit the texture cue judges."""


@dataclass(frozen=True)
class Verdict:
    """live: True (confirmed), False (an attack), None (pending); the cues that fired."""

    live: object
    cues: tuple = ()


def live_probability(image, face, cue=None):
    """The texture cue's probability that one detected face (with landmarks) in an RGB array is live; None when
    its landmarks cannot be aligned (degenerate: the face cannot be judged, which never counts as live). `cue`:
    the camera's (profiles.cue_for; None: the shipped one)."""
    try:
        face_crops = texture.crops(image, face.keypoints)
    except (ValueError, KeyError, np.linalg.LinAlgError):
        return None
    return texture.live_probability_of_crops(face_crops, texture.is_grey(image), cue)


def judgeable(face):
    """Whether the face is large enough for the texture cue (MIN_TEXTURE_SIDE)."""
    return min(face.box[2:]) >= MIN_TEXTURE_SIDE


def judge_still(image, face, cue=None):
    """The Verdict on one picture's face: live or attack; (Verdict, probability). A face too small to judge
    gets live None (cue 'too-small', probability None): not an attack, but nothing to open on either."""
    if not judgeable(face):
        return Verdict(None, ("too-small",)), None
    probability = live_probability(image, face, cue)
    if probability is None:
        return Verdict(None, ("unjudgeable",)), None
    live = probability >= STILL_LIVE_FROM
    return Verdict(live, ("texture-live",) if live else ("texture-attack",)), probability


class Evidence:
    """The liveness evidence of one visit, gathered frame by frame."""

    def __init__(self, cue=None):
        self.cue = cue
        """The camera's texture cue (profiles.cue_for; None: the shipped one)."""
        self.attack_run = self.flat_pairs = 0
        self.attack_seen = False
        self.live_seen = []
        """(time, key) of each frame judged live; key: which of the visit's frames it was (Evidence.add)."""
        self._run_started = None
        self._reference = None
        self._judged_at = None

    @property
    def live_frames(self):
        return len(self.live_seen)

    def add(self, image, face, time, grey=None, key=None):
        """One frame of the visit's face; `grey` (the frame in grey, shared by its faces) enables the motion cue;
        `key` names the frame (the index of its embedding in the visit) for verdict's `belongs`."""
        due = self._judged_at is None or time - self._judged_at >= TEXTURE_INTERVAL
        probability = live_probability(image, face, self.cue) if due and judgeable(face) else None
        if probability is not None:  # (None: not due, too small, or landmarks that cannot be aligned)
            self._judged_at = time
            if probability < ATTACK_BELOW:
                self._run_started = time if self.attack_run == 0 else self._run_started
                self.attack_run += 1
            else:
                self.attack_run = 0
            self.attack_seen = self.attack_seen or (self.attack_run >= DENY_FRAMES and
                                                    time - self._run_started >= DENY_SECONDS - 1e-6)
            if probability >= LIVE_FROM:
                self.live_seen.append((time, key))
        if grey is None:
            return
        if self._reference is None or time - self._reference.time >= motion.MOTION_INTERVAL:
            if self._reference is not None:
                self.flat_pairs += bool(motion.moves_flat(self._reference, grey))
            self._reference = motion.Reference(grey, tuple(face.box), time)

    def verdict(self, belongs=None):
        """The Verdict so far; with `belongs` (key -> whether that frame's face is the visit's person) only their
        live frames confirm."""
        denied = tuple(cue for cue, fired in (("texture-attack", self.attack_seen),
                                              ("flat-motion", self.flat_pairs >= FLAT_PAIRS)) if fired)
        if denied:
            return Verdict(False, denied)
        times = [t for t, key in self.live_seen if belongs is None or (key is not None and belongs(key))]
        if len(times) >= CONFIRM_FRAMES and times[-1] - times[0] >= CONFIRM_SECONDS - 1e-6:
            return Verdict(True, ("texture-live",))
        return Verdict(None)
