"""The per-visit decision (visits.py) on real embeddings of real photos: two CelebA people, each enrolled from
their two gallery photos, their probe photos standing in for a visit's frames; and the tracker on boxes."""
import numpy as np
import pytest

import facegate
from facegate.evaluation import read_truth
from facegate.matching import Gallery, nearest
from facegate.watch.tracking import Tracker
from facegate.watch.visits import MIN_AGREEING_FRAMES, Visit

from conftest import DATA

CELEBA = DATA / "celeba-dev"


@pytest.fixture(scope="module")
def two_people(model):
    """(gallery of the first two CelebA people, {person: embeddings of their probes that match them at 0.7},
    embeddings of strangers' probes)."""
    truth = read_truth(CELEBA / "truth.csv")
    people = sorted({who for who in truth.values() if who})[:2]
    names, rows = [], []
    for person in people:
        for result in facegate.encode_images(sorted((CELEBA / "gallery" / person).iterdir()), model):
            names.append(person)
            rows.append(result.faces[0].embedding)
    gallery = Gallery(np.array(names, dtype=object), np.stack(rows), model.name)
    frames = {}
    for person in people:
        probes = [CELEBA / "probes" / file for file, who in truth.items() if who == person]
        embeddings = [r.faces[0].embedding for r in facegate.encode_images(probes, model) if r.faces]
        frames[person] = [e for e in embeddings if nearest([e], gallery, 0.7)[0].identity == person]
        assert len(frames[person]) >= 3, person
    strangers = [CELEBA / "probes" / file for file, who in truth.items() if who is None][:6]
    stranger_frames = [r.faces[0].embedding for r in facegate.encode_images(strangers, model) if r.faces]
    return gallery, frames, stranger_frames


def feed(frames, gallery, claim=None, spacing=0.1, scores=None):
    """[(time, Decision or None)] deciding after each frame, as watch does; every frame of quality 1 unless
    `scores` are given."""
    visit, decisions = Visit(0.0), []
    for index, embedding in enumerate(frames):
        visit.add(embedding, 1.0 if scores is None else scores[index])
        decisions.append((index * spacing, visit.decide(gallery, 0.7, index * spacing, claim)))
    return decisions


def test_a_visit_matches_once_on_enough_agreeing_frames_and_never_changes(two_people):
    gallery, frames, strangers = two_people
    a, b = sorted(frames)
    decisions = feed(frames[a][:3] + frames[b][:3], gallery)
    made = [(time, d) for time, d in decisions if d is not None]
    assert len(made) == 1  # announced once; the other person's frames later change nothing
    time, decision = made[0]
    assert decision.event == "match" and decision.identity == a and decision.frames == MIN_AGREEING_FRAMES
    assert decision.distance < 0.7 and time == pytest.approx(0.2)


def test_frames_of_two_enrolled_people_are_ambiguous_and_open_nothing(two_people):
    gallery, frames, _ = two_people
    a, b = sorted(frames)
    mixed = [frames[a][0], frames[b][0], frames[a][1], frames[b][1]]  # two people under one track
    decisions = [d for _, d in feed(mixed, gallery) if d is not None]
    assert [d.event for d in decisions] == ["ambiguous"] and decisions[0].identity is None
    claimed = [d for _, d in feed(mixed, gallery, claim=a) if d is not None]
    assert [d.event for d in claimed] == ["ambiguous"]  # a badge for a does not open on b's frames either


def test_claim_mode_opens_only_for_the_claimed_person(two_people):
    gallery, frames, _ = two_people
    a, b = sorted(frames)
    opened = [d for _, d in feed(frames[a][:4], gallery, claim=a) if d is not None]
    assert opened[0].event == "match" and opened[0].identity == a
    refused = [d for _, d in feed(frames[a][:20], gallery, claim=b, spacing=0.5) if d is not None]
    assert [d.event for d in refused] == ["unknown"]  # a's own frames match nobody else: no ambiguity
    assert refused[0].identity is None and refused[0].distance > 0.7


def test_a_stranger_is_unknown_once_seen_long_enough(two_people):
    """The README's 1.5 s: a face seen that long without a match is announced unknown, not before."""
    gallery, _, strangers = two_people
    decisions = feed(strangers, gallery, spacing=0.5)
    assert all(d is None for time, d in decisions if time < 1.5)
    made = [(time, d) for time, d in decisions if d is not None]
    assert len(made) == 1 and made[0][0] == pytest.approx(1.5)
    assert made[0][1].event == "unknown" and made[0][1].identity is None and made[0][1].distance >= 0.7


def test_the_best_frames_by_quality_make_the_template(two_people):
    """Six poor frames of strangers first, then eight good ones of a (a person standing still: a's frames again), then more:
    the template is made of the eight best, so the visit matches a before 1.5 s. With every frame of the same
    quality the first eight stay the template, and the visit ends unknown."""
    gallery, frames, strangers = two_people
    a = sorted(frames)[0]
    assert len(strangers) >= 6
    seen = strangers[:6] + (frames[a] * 11)[:11]  # 17 frames, 0.1 s apart: past 1.5 s
    by_quality = [d for _, d in feed(seen, gallery, scores=[0.2] * 6 + [0.9] * 11) if d is not None]
    assert [(d.event, d.identity) for d in by_quality] == [("match", a)]
    alike = [d for _, d in feed(seen, gallery) if d is not None]
    assert [(d.event, d.identity) for d in alike] == [("unknown", None)]


def test_the_tracker_follows_a_moving_face_and_starts_anew_after_it_left():
    """The README's 1 s: a face gone for more than a second has left."""
    tracker = Tracker()
    (first,), _ = tracker.update([(100, 100, 80, 100)], 0.0)
    (same,), _ = tracker.update([(130, 110, 80, 100)], 0.1)  # moved 30 px: overlaps
    (jumped,), _ = tracker.update([(165, 120, 80, 100)], 0.4)  # a dropped frame or two: near centre
    assert first is same is jumped and same.frames == 3
    (other, again), _ = tracker.update([(400, 100, 80, 100), (170, 118, 80, 100)], 0.5)
    assert again is first and other is not first  # a second face is a second track
    tracks, ended = tracker.update([], 1.2)
    assert tracks == [] and ended == []
    _, ended = tracker.update([], 1.6)  # both gone for more than a second: they have left
    assert {t.id for t in ended} == {first.id, other.id}
    (back,), _ = tracker.update([(170, 118, 80, 100)], 2.0)
    assert back.id not in (first.id, other.id)  # the same face coming back is a new visit
