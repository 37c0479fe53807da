"""Liveness profiles: a camera's own texture cue, fitted on its frames by `facegate liveness calibrate` and kept in
the enrollment database (folder and PostgreSQL alike, exported and imported with it).

A camera is judged by its own profile (named as the camera), else by the profile named `default`, else by the
cue shipped with facegate (cue_for). A Cue is the pair of regressions a face is judged with: colour, and grey for
frames without colour (an IR night)."""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import DatabaseError
from ..files import vectors_from_text, vectors_to_text
from . import texture

DEFAULT = "default"
"""The profile a camera without one of its own is judged by."""
SHIPPED = "shipped"
"""How the cue shipped with facegate is named in records (not a profile: it cannot be removed or replaced)."""


@dataclass(frozen=True)
class Cue:
    """The texture regressions one camera's faces are judged with, and the profile they come from."""

    colour: texture.TextureModel
    grey: texture.TextureModel
    name: str = SHIPPED


@lru_cache(maxsize=1)
def shipped_cue():
    return Cue(texture.shipped(), texture.shipped_grey())


@dataclass(frozen=True)
class Profile:
    """A camera's liveness profile: its Cue, when it was fitted, and the figures its calibration measured
    (a JSON-ready dict: frames and people used, cross-validated APCER per attack kind and BPCER, the shipped
    cue's on the same frames)."""

    name: str
    cue: Cue
    fitted_at: str
    figures: dict

    def to_record(self):
        return {"fitted_at": self.fitted_at, "figures": self.figures,
                "colour": _model_record(self.cue.colour), "grey": _model_record(self.cue.grey)}

    @classmethod
    def from_record(cls, name, record, where):
        """The Profile stored as `record`, checked against the features the cue computes; DatabaseError naming
        `where` when it is damaged."""
        try:
            check_profile_name(name)
            colour = _model_of(record["colour"], texture.COLOUR_FEATURES)
            grey = _model_of(record["grey"], texture.GREY_FEATURES)
            fitted_at, figures = record["fitted_at"], record["figures"]
            if not isinstance(fitted_at, str) or not isinstance(figures, dict):
                raise ValueError("fitted_at or figures")
        except (KeyError, TypeError, ValueError) as exc:
            raise DatabaseError(f"{where}: damaged liveness profile {name!r} ({exc})") from None
        return cls(name, Cue(colour, grey, name), fitted_at, figures)


def check_profile_name(name):
    """A profile is named as its camera, as watch names cameras (watch/cameras.NAME): 1-40 letters, digits, '-'
    and '_'."""
    from ..watch.cameras import NAME

    if not isinstance(name, str) or not NAME.fullmatch(name) or name == SHIPPED:
        raise DatabaseError(f"invalid liveness profile name {name!r}: a camera's name (1-40 letters, digits, '-' "
                            f"and '_'; not {SHIPPED!r})")
    return name


def cue_for(profiles, camera=None):
    """The Cue a camera is judged by: its own profile, else the `default` one, else the shipped cue.
    `profiles`: {name: Profile} (a database's liveness_profiles)."""
    chosen = profiles.get(camera) if camera else None
    chosen = chosen or profiles.get(DEFAULT)
    return chosen.cue if chosen else shipped_cue()


def _model_record(model):
    return {"mean": vectors_to_text(model.mean), "scale": vectors_to_text(model.scale),
            "weights": vectors_to_text(model.weights), "bias": float(model.bias)}


def _model_of(record, size):
    arrays = [vectors_from_text(record[key]).astype(np.float64) for key in ("mean", "scale", "weights")]
    bias = float(record["bias"])
    if any(len(values) != size for values in arrays):
        raise ValueError(f"{[len(values) for values in arrays]} values where the cue has {size} features")
    if not all(np.isfinite(values).all() for values in arrays) or not np.isfinite(bias) or (arrays[1] <= 0).any():
        raise ValueError("values that are not finite, or a scale that is not positive")
    return texture.TextureModel(*arrays, bias)
