"""Visits (watch): frames of one person decided once, as the door camera decides."""
import math
from dataclasses import dataclass

import numpy as np

from ..matching import Gallery, nearest
from .rates import _share

@dataclass
class VisitFrames:
    """The frames of one visit: who it is (None: a stranger), unit embeddings (n, D) and quality scores."""
    identity: str
    embeddings: np.ndarray
    scores: list


def decide_visit(frames, gallery, threshold, claim=None, spacing=0.1):
    """The visits.Decision of a visit whose frames arrive `spacing` seconds apart, decided after each frame as
    `facegate watch` decides (identity only): its match if it ever matched (an `unknown` may become one), else
    its first decision; None when the frames end first."""
    from ..watch.visits import Visit

    visit, decisions = Visit(0.0), []
    for index, (embedding, score) in enumerate(zip(frames.embeddings, frames.scores)):
        visit.add(embedding, score)
        decision = visit.decide(gallery, threshold, index * spacing, claim)
        if decision is not None:
            decisions.append(decision)
    matches = [d for d in decisions if d.event == "match"]
    return (matches or decisions or [None])[0]


def without(gallery, identity):
    """The gallery with `identity` removed: whoever that person's visits now match is a false accept."""
    keep = gallery.names != identity
    return Gallery(gallery.names[keep], gallery.embeddings[keep], gallery.model)


def evaluate_visits(visits, gallery, threshold, spacing=0.1):
    """Accept rates of genuine visits and false accepts of impostor visits, in identify and in claim mode, with
    frames `spacing` seconds apart (longer visits: an `unknown` first, then the door keeps trying).

    Impostors are measured as hard as genuine visits: each genuine visit is decided again against the gallery
    without its person (identify) and claiming every other enrolled person (claim); each stranger visit against
    the gallery and claiming every enrolled person. Single frames of the same visits are counted too."""
    genuine = [v for v in visits if v.identity is not None]
    strangers = [v for v in visits if v.identity is None]
    people = sorted(set(gallery.names))
    outcome = {"match": 0, "wrong": 0, "ambiguous": 0, "unknown": 0, "undecided": 0}
    impostor_identify = stranger_identify = claims = impostor_claims = false_claims = 0
    frames_right = frames_total = stranger_frames_in = stranger_frames = 0
    closest_impostor = float("inf")
    for visit in genuine:
        decision = decide_visit(visit, gallery, threshold, spacing=spacing)
        kind = "undecided" if decision is None else decision.event
        outcome["wrong" if kind == "match" and decision.identity != visit.identity else kind] += 1
        others = without(gallery, visit.identity)
        closest_impostor = min(closest_impostor, _template_distance(visit, others))
        impostor = decide_visit(visit, others, threshold, spacing=spacing)
        impostor_identify += impostor is not None and impostor.event == "match"
        own = decide_visit(visit, gallery, threshold, claim=visit.identity, spacing=spacing)
        claims += own is not None and own.event == "match"
        for person in people:
            if person != visit.identity:
                claimed = decide_visit(visit, gallery, threshold, claim=person, spacing=spacing)
                impostor_claims += 1
                false_claims += claimed is not None and claimed.event == "match"
        matches = nearest(visit.embeddings, gallery, threshold)
        frames_right += sum(m.identity == visit.identity for m in matches)
        frames_total += len(matches)
    for visit in strangers:
        closest_impostor = min(closest_impostor, _template_distance(visit, gallery))
        decision = decide_visit(visit, gallery, threshold, spacing=spacing)
        stranger_identify += decision is not None and decision.event == "match"
        for person in people:
            claimed = decide_visit(visit, gallery, threshold, claim=person, spacing=spacing)
            impostor_claims += 1
            false_claims += claimed is not None and claimed.event == "match"
        stranger_frames_in += sum(m.identity is not None for m in nearest(visit.embeddings, gallery, threshold))
        stranger_frames += len(visit.embeddings)
    return {
        "threshold": threshold, "people": len(people), "genuine_visits": len(genuine),
        "stranger_visits": len(strangers),
        "genuine_accepted": _share(outcome["match"], len(genuine)),
        "genuine_outcomes": outcome,
        "genuine_claims_accepted": _share(claims, len(genuine)),
        "single_frames_accepted": _share(frames_right, frames_total),
        "impostor_visits_accepted": f"{impostor_identify}/{len(genuine)}",
        "stranger_visits_accepted": f"{stranger_identify}/{len(strangers)}",
        "impostor_claims_accepted": f"{false_claims}/{impostor_claims}",
        "stranger_single_frames_accepted": f"{stranger_frames_in}/{stranger_frames}",
        "closest_impostor_template_distance": round(closest_impostor, 4),
    }


def _template_distance(frames, gallery):
    """The distance of a visit's whole template (all its best frames) to the nearest person of `gallery`."""
    from ..watch.visits import Visit

    visit = Visit(0.0)
    for embedding, score in zip(frames.embeddings, frames.scores):
        visit.add(embedding, score)
    return nearest([visit.template()], gallery, threshold=math.inf)[0].distance
