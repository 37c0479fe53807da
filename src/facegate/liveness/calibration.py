"""Calibrating a camera's liveness (`facegate liveness calibrate`): its texture cue refitted on its own frames.

The site records live people and attacks with the camera (datasets.site_samples); the profile's regressions are
fitted on those frames with the cue it replaces as their prior (texture.fit: the weights fitted on the training
data are where the fit starts and what it is pulled back to, PRIOR_L2), so a few hundred frames of one camera
adapt the cue to it without forgetting what the training data taught. Its figures are cross-validated by person
(FOLDS folds; each frame judged by a profile fitted without its person): APCER per attack kind and BPCER by the
stills' rule, beside the prior's on the same frames. A profile that does not separate the site's live people
from its attacks (REFUSE_APCER, REFUSE_BPCER) is refused: a door must not be given a cue known not to work."""
from datetime import datetime, timezone

import numpy as np

from ..errors import FacegateError
from . import STILL_LIVE_FROM, texture
from .profiles import Cue, Profile

PRIOR_L2 = 1.0
"""How strongly a profile's weights are held to its prior's (per standardised feature; the site's frames weigh
as many as they are, classes balanced)."""
FOLDS = 5
MIN_FRAMES = 20
"""Live and attack frames a calibration needs at least, each."""
REFUSE_APCER = 0.05
"""A profile whose cross-validated APCER of any attack kind is above this is refused ..."""
REFUSE_BPCER = 0.10
"""... and one that refuses more than this share of the site's live frames."""


class CalibrationError(FacegateError):
    """Recordings that cannot make a profile (too few frames or people, or a profile that does not separate)."""


def fit_cue(rows, prior, name):
    """The Cue fitted on the site's FeatureRows `rows` with the Cue `prior` as its prior: the colour regression
    on the frames with colour, the grey one on the frames without (recorded at night, in IR); each stays the
    prior's when its frames do not hold MIN_FRAMES of both classes. (Grey copies of colour frames are no night:
    refitted on them, the grey cue of the dev sets took more prints for live, not fewer.)"""
    def refit(model, vectors, live):
        if min(int(live.sum()), int((~live).sum())) < MIN_FRAMES:
            return model
        return texture.fit(vectors, live.astype(int), l2=PRIOR_L2, prior=model)

    coloured, grey = ~rows.grey_frame, rows.grey_frame
    return Cue(refit(prior.colour, rows.colour[coloured], rows.live[coloured]),
               refit(prior.grey, rows.grey[grey], rows.live[grey]), name)


def judged(cue, rows):
    """(probabilities as the door judges each frame, probabilities of the frames' grey copies)."""
    grey = cue.grey.live_probability(rows.grey)
    colour = cue.colour.live_probability(rows.colour)
    return np.where(rows.grey_frame, grey, colour), grey


def rates(probabilities, rows):
    """{'BPCER': [refused, live frames], 'APCER': {kind: [judged live, frames]}} by the stills' rule."""
    live = probabilities[rows.live]
    figures = {"BPCER": [int((live < STILL_LIVE_FROM).sum()), int(len(live))], "APCER": {}}
    for kind in sorted(set(rows.kind[~rows.live].tolist())):
        attack = probabilities[~rows.live & (rows.kind == kind)]
        figures["APCER"][kind] = [int((attack >= STILL_LIVE_FROM).sum()), int(len(attack))]
    return figures


def cross_validated(rows, prior):
    """Each frame's probabilities (as judged, of its grey copy) by a profile fitted without its person's frames."""
    people = sorted(set(rows.person.tolist()))
    fold_of = {person: i % min(FOLDS, len(people)) for i, person in enumerate(people)}
    folds = np.array([fold_of[person] for person in rows.person])
    as_judged, grey = np.zeros(len(rows)), np.zeros(len(rows))
    for fold in np.unique(folds):
        held = folds == fold
        cue = fit_cue(rows.where(~held), prior, "cross-validation")
        as_judged[held], grey[held] = judged(cue, rows.where(held))
    return as_judged, grey


def separates(figures):
    """Whether cross-validated figures are good enough for a door (REFUSE_APCER, REFUSE_BPCER)."""
    refused, live = figures["BPCER"]
    return refused <= REFUSE_BPCER * live and all(n <= REFUSE_APCER * total
                                                  for n, total in figures["APCER"].values())


def calibrate(rows, prior, name, grouped_by="person"):
    """(Profile named `name` fitted on the site's FeatureRows, whether it separates). `grouped_by` says how the
    rows' people were told apart: 'person' (the recordings' folders) or 'face' (datasets.grouped_by_face).
    CalibrationError when the recordings are too few to fit or to measure: MIN_FRAMES live and attack frames, of
    two people at least."""
    live, attacks = int(rows.live.sum()), int((~rows.live).sum())
    people = len(set(rows.person.tolist()))
    if live < MIN_FRAMES or attacks < MIN_FRAMES or people < 2:
        raise CalibrationError(f"{live} live and {attacks} attack frames with a face, of {people} people: a "
                               f"profile needs {MIN_FRAMES} of each, of two people at least (record more)")
    validated, validated_grey = cross_validated(rows, prior)
    before, before_grey = judged(prior, rows)
    figures = {
        "frames": {"live": live, **{kind: int(((rows.kind == kind) & ~rows.live).sum())
                                    for kind in sorted(set(rows.kind[~rows.live].tolist()))}},
        "grouped_by": grouped_by, "groups": people, "prior": prior.name,
        "cross_validated": rates(validated, rows), "prior_on_these_frames": rates(before, rows),
        "night_cross_validated": rates(validated_grey, rows), "night_prior": rates(before_grey, rows),
    }
    profile = Profile(name, fit_cue(rows, prior, name), datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      figures)
    return profile, separates(figures["cross_validated"])
