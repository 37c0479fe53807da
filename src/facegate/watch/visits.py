"""One decision per visit: a track's best frames combined into one template, compared with the enrolled people
by the same code as verify (verify_encoding) and who_is_it (nearest), at the same threshold.

A visit is announced once: `match` when the template is under the threshold and at least MIN_AGREEING_FRAMES
of its frames have that person as their nearest; `ambiguous` (opens nothing) when frames match two different
people; `unknown` once the face has been seen for UNKNOWN_AFTER_SECONDS without a match. The numbers are
measured in docs/accuracy.md ("Visits")."""
from dataclasses import dataclass

import numpy as np

from ..matching import nearest, nearest_people, verify_encoding

MIN_AGREEING_FRAMES = 3
"""Frames (of the template's) whose nearest person must be the one the template matches."""
TEMPLATE_FRAMES = 8
"""The best frames (by quality.Measures.score) whose embeddings make the template."""
UNKNOWN_AFTER_SECONDS = 1.5
"""A face seen this long (on the source's clock) with no match is announced as unknown."""
MIN_EVIDENCE_SIDE = 32
"""Faces smaller than this (pixels) are followed but not embedded: too small to be evidence either way."""


@dataclass(frozen=True)
class Decision:
    """What a visit was announced as: 'match', 'unknown' or 'ambiguous'; the template's distance to the nearest
    person (or to the claimed one); how many frames made the template."""

    event: str
    identity: str
    distance: float
    frames: int


class Visit:
    """The evidence of one track: unit embeddings of its frames with their quality scores."""

    def __init__(self, first_time):
        self.first_time = first_time
        self.embeddings, self.scores = [], []
        self.decision = None

    def add(self, embedding, score):
        self.embeddings.append(np.asarray(embedding, np.float32))
        self.scores.append(float(score))

    def best_frames(self):
        """The embeddings of the TEMPLATE_FRAMES best frames, best first."""
        order = np.argsort(-np.asarray(self.scores), kind="stable")[:TEMPLATE_FRAMES]
        return np.stack([self.embeddings[i] for i in order])

    def template(self):
        """The normalised sum of the best frames' embeddings: one unit vector for the visit."""
        summed = self.best_frames().sum(axis=0)
        return summed / max(float(np.linalg.norm(summed)), 1e-12)

    def decide(self, gallery, threshold, time, claim=None):
        """The visit's Decision the first time there is one (None before, and None after it was made)."""
        if self.decision is not None or len(self.embeddings) < MIN_AGREEING_FRAMES:
            return None
        frames, template = self.best_frames(), self.template()
        matched = {m.identity for m in nearest(frames, gallery, threshold) if m.identity is not None}
        rank1 = [m.identity for m in nearest_people(frames, gallery)]
        if claim is None:
            best = nearest([template], gallery, threshold)[0]
            identity, distance = best.identity, best.distance
        else:
            distance, opens = verify_encoding(template, claim, gallery, threshold)
            identity = claim if opens else None
        if len(matched | ({identity} if identity else set())) > 1:
            self.decision = Decision("ambiguous", None, distance, len(frames))
        elif identity is not None and rank1.count(identity) >= MIN_AGREEING_FRAMES:
            self.decision = Decision("match", identity, distance, len(frames))
        elif time - self.first_time >= UNKNOWN_AFTER_SECONDS:
            self.decision = Decision("unknown", None, distance, len(frames))
        return self.decision
