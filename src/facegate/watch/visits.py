"""One decision per visit: a track's best frames combined into one template, compared with the enrolled people
by the same code as verify (verify_encoding) and who_is_it (nearest), at the same threshold, and judged live or
not by the liveness cues (facegate.liveness) when they are on.

A visit is announced as `match` when the template is under the threshold, at least MIN_AGREEING_FRAMES of its
frames have that person as their nearest and liveness is confirmed; `spoof` (opens nothing; names whom it would
have matched) as soon as a liveness DENY cue fires; `ambiguous` (opens nothing) when frames match two different
people; `unknown` once the face has been seen for UNKNOWN_AFTER_SECONDS without a match (LIVENESS_SECONDS when
it matches but liveness is still pending). The door keeps trying: for KEEP_TRYING_SECONDS after an `unknown` the
visit may still become `match` (or `spoof`) once, never another person after a match. The numbers are measured
in docs/accuracy.md ("Visits", "Presentation attacks")."""
from dataclasses import dataclass

import numpy as np

from ..matching import distance_to_enrolled, nearest, nearest_people, verify_encoding

MIN_AGREEING_FRAMES = 3
"""Frames (of the template's) whose nearest person must be the one the template matches."""
TEMPLATE_FRAMES = 8
"""The best frames (by quality.Measures.score) whose embeddings make the template."""
UNKNOWN_AFTER_SECONDS = 1.5
"""A face seen this long (on the source's clock) with no match is announced as unknown."""
LIVENESS_SECONDS = 4.0
"""A face that matches but whose liveness is not confirmed this long after it was first seen is unknown."""
KEEP_TRYING_SECONDS = 10.0
"""After an `unknown`, the visit goes on gathering evidence this long (the person walking up to the camera)."""
MIN_EVIDENCE_SIDE = 32
"""Faces smaller than this (pixels) are followed but not embedded: too small to be evidence either way."""


@dataclass(frozen=True)
class Decision:
    """What a visit was announced as: 'match', 'spoof', 'unknown' or 'ambiguous'; the template's distance to the
    nearest person (or to the claimed one); how many frames made the template; live (True, False, or None when
    not confirmed or not judged) and the liveness cues that fired."""

    event: str
    identity: str
    distance: float
    frames: int
    live: object = None
    cues: tuple = ()


class Visit:
    """The evidence of one track: unit embeddings of its frames with their quality scores, and its liveness
    evidence (a liveness.Evidence, or None when liveness is off)."""

    def __init__(self, first_time, liveness=None):
        self.first_time = first_time
        self.embeddings, self.scores = [], []
        self.liveness = liveness
        self.decision = None
        """The last announcement (None before the first)."""
        self._announced_at = None

    def add(self, embedding, score):
        self.embeddings.append(np.asarray(embedding, np.float32))
        self.scores.append(float(score))

    def wants_evidence(self, time):
        """Whether frames still count: before a decision, and for KEEP_TRYING_SECONDS after an `unknown`."""
        if self.decision is None:
            return True
        return self.decision.event == "unknown" and time - self._announced_at <= KEEP_TRYING_SECONDS

    def best_frames(self):
        """The embeddings of the TEMPLATE_FRAMES best frames, best first."""
        order = np.argsort(-np.asarray(self.scores), kind="stable")[:TEMPLATE_FRAMES]
        return np.stack([self.embeddings[i] for i in order])

    def template(self):
        """The normalised sum of the best frames' embeddings: one unit vector for the visit."""
        summed = self.best_frames().sum(axis=0)
        return summed / max(float(np.linalg.norm(summed)), 1e-12)

    def decide(self, gallery, threshold, time, claim=None):
        """A new Decision when there is one to announce (None when nothing changed: see the module docstring)."""
        if not self.embeddings or not self.wants_evidence(time):
            return None
        # the DENY cues alone first (no frame confirms before the identity is known)
        verdict = self.liveness.verdict(belongs=lambda key: False) if self.liveness is not None else None
        denied = verdict is not None and verdict.live is False
        if len(self.embeddings) < MIN_AGREEING_FRAMES and not denied:
            return None
        frames, template = self.best_frames(), self.template()
        if claim is None:
            best = nearest([template], gallery, threshold)[0]
            identity, distance = best.identity, best.distance
        else:
            distance, opens = verify_encoding(template, claim, gallery, threshold)
            identity = claim if opens else None
        if verdict is not None and not denied and identity is not None:
            verdict = self.liveness.verdict(self._frames_of(identity, gallery, threshold))
        live, cues = (verdict.live, verdict.cues) if verdict is not None else (None, ())
        if denied:
            return self._announce("spoof", identity, distance, len(frames), live, cues, time)
        matched = {m.identity for m in nearest(frames, gallery, threshold) if m.identity is not None}
        rank1 = [m.identity for m in nearest_people(frames, gallery)]
        if len(matched | ({identity} if identity else set())) > 1:
            if self.decision is not None:
                return None  # an `unknown` stays unknown: it becomes a match or a spoof, or nothing
            return self._announce("ambiguous", None, distance, len(frames), live, cues, time)
        matches = identity is not None and rank1.count(identity) >= MIN_AGREEING_FRAMES
        if matches and (verdict is None or live):
            return self._announce("match", identity, distance, len(frames), live, cues, time)
        waited = time - self.first_time
        if self.decision is None and waited >= (LIVENESS_SECONDS if matches else UNKNOWN_AFTER_SECONDS):
            return self._announce("unknown", None, distance, len(frames), live, cues, time)
        return None

    def _frames_of(self, identity, gallery, threshold):
        """key -> whether the visit's frame `key` (an index into its embeddings) shows `identity`: the liveness
        that confirms a visit must be the liveness of the face that makes its identity."""
        enrolled = gallery.embeddings_of(identity)
        return lambda key: 0 <= key < len(self.embeddings) and \
            distance_to_enrolled(self.embeddings[key], enrolled) < threshold

    def _announce(self, event, identity, distance, frames, live, cues, time):
        self._announced_at = time
        self.decision = Decision(event, identity, distance, frames, live, cues)
        return self.decision
