"""Which cameras one `facegate watch` runs, and how each is set up: from the command line (`watch SOURCE`, or
several `NAME=SOURCE`) or from a TOML file (`--config cameras.toml`, read with the standard library):

    [defaults]                 # optional: every camera's values unless it sets its own
    fps = 10
    mqtt = "mqtt://127.0.0.1:1883/facegate"

    [cameras.front]            # a camera's name: letters, digits, - and _
    source = "rtsp://192.168.1.20:554/stream1"
    door = "front door"        # its name in the access log (default: the camera's name)
    on_match = "/usr/local/bin/open-front-door"

A key the file does not know, or a value of the wrong kind, is refused in one line naming the key."""
import re
import urllib.parse
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..errors import FacegateError
from .visits import MIN_EVIDENCE_SIDE

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
RESERVED_NAMES = {"availability"}
"""Not a camera name: TOPIC/availability was every watch's availability topic before each camera had its own,
and a Home Assistant may still hold configs that read it."""
TRANSLITERATED = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "œ": "oe", "Œ": "oe",
                                "đ": "d", "Đ": "d", "ł": "l", "Ł": "l", "þ": "th", "Þ": "th"})
"""Letters NFKD does not decompose into ASCII."""


@dataclass(frozen=True)
class CameraSpec:
    """One camera of a watch: its source and everything said of it (None: not set)."""

    source: str
    name: str = None
    """The camera's name in events (`camera`) and in Home Assistant; an unnamed single camera is its door."""
    door: str = None
    claim: str = None
    fps: float = None
    realtime: bool = False
    min_face: int = MIN_EVIDENCE_SIDE
    """Faces smaller than this (pixels) are followed but never decided on."""
    cooldown: float = 10.0
    on_match: str = None
    hook_timeout: float = 10.0
    webhook: str = None
    mqtt: str = None
    liveness: bool = None
    """False: this camera decides on identity alone (said in its summary and heartbeat); None: the command line's."""
    mqtt_snapshots: bool = False
    """Publish the frame of each decision to Home Assistant's camera entity (off: no face leaves for the broker)."""
    snapshots: str = None


def _positive(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _text(value):
    return isinstance(value, str) and value.strip() != ""


def _url(*schemes):
    return lambda value: _text(value) and urllib.parse.urlsplit(value).scheme in schemes


CHECKS = {
    "source": (_text, "a source (a camera index, a device, a file or a stream URL)"),
    "door": (_text, "a door name"),
    "claim": (_text, "an enrolled name"),
    "fps": (_positive, "a number above 0"),
    "realtime": (lambda value: isinstance(value, bool), "true or false"),
    "min_face": (lambda value: isinstance(value, int) and not isinstance(value, bool) and 10 <= value <= 1000,
                 "a whole number of pixels from 10 to 1000"),
    "cooldown": (lambda value: _positive(value) or value == 0 and not isinstance(value, bool),
                 "a number of seconds, 0 or more"),
    "on_match": (_text, "a command"),
    "hook_timeout": (_positive, "a number of seconds above 0"),
    "webhook": (_url("http", "https"), "an http:// or https:// URL"),
    "mqtt": (_url("mqtt"), "an mqtt://HOST[:PORT]/TOPIC URL"),
    "mqtt_snapshots": (lambda value: isinstance(value, bool), "true or false"),
    "liveness": (lambda value: isinstance(value, bool), "true or false"),
    "snapshots": (_text, "a folder"),
}
assert set(CHECKS) == {f.name for f in fields(CameraSpec)} - {"name"}


def from_arguments(sources, base):
    """The cameras of `watch SOURCE...`: one source as it is (or NAME=SOURCE), several each NAME=SOURCE; `base`
    (a CameraSpec without a source) holds the command line's options for all of them."""
    cameras = []
    for argument in sources:
        name, source = _split_name(argument)
        if name is None and len(sources) > 1:
            raise FacegateError(f"{argument}: with several sources each needs a name: NAME=SOURCE")
        cameras.append(replace(base, source=source, name=name))
    _refuse_repeated_names(cameras, "the command line")
    return cameras


def _split_name(argument):
    """(name, source) of NAME=SOURCE; (None, argument) for a plain source (an existing file named a=b is one)."""
    name, equals, source = argument.partition("=")
    if not equals or not NAME.fullmatch(name) or Path(argument).exists():
        return None, argument
    if name in RESERVED_NAMES or not source:
        raise FacegateError(f"{argument}: {'an empty source' if not source else f'{name!r} is not a camera name'}")
    return name, source


def from_file(path, base):
    """The cameras of a --config file; `base` holds the command line's options, which the file's [defaults] and
    each camera's own keys override."""
    try:
        with open(path, "rb") as stream:
            document = tomllib.load(stream)
    except FileNotFoundError:
        raise FacegateError(f"{path}: no such file") from None
    except OSError as exc:
        raise FacegateError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FacegateError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(document) - {"defaults", "cameras"}
    if unknown:
        raise FacegateError(f"{path}: {sorted(unknown)[0]}: unknown key (expected [defaults] and [cameras.NAME])")
    defaults = _settings(path, "defaults", document.get("defaults", {}), allow_source=False)
    tables = document.get("cameras")
    if not isinstance(tables, dict) or not tables:
        raise FacegateError(f"{path}: cameras: no camera (expected at least one [cameras.NAME] with a source)")
    cameras = []
    for name, table in tables.items():
        if not NAME.fullmatch(name) or name in RESERVED_NAMES:
            raise FacegateError(f"{path}: cameras.{name}: not a camera name (letters, digits, - and _)")
        own = _settings(path, f"cameras.{name}", table, allow_source=True)
        if "source" not in own:
            raise FacegateError(f"{path}: cameras.{name}.source: missing")
        cameras.append(replace(base, name=name, **{**defaults, **own}))
    return cameras


def _settings(path, where, table, allow_source):
    if not isinstance(table, dict):
        raise FacegateError(f"{path}: {where}: expected a table of settings")
    for key, value in table.items():
        if key not in CHECKS or key == "source" and not allow_source:
            known = ", ".join(k for k in CHECKS if allow_source or k != "source")
            raise FacegateError(f"{path}: {where}.{key}: unknown key (known: {known})")
        check, expected = CHECKS[key]
        if not check(value):
            raise FacegateError(f"{path}: {where}.{key}: expected {expected}, got {value!r}")
    return dict(table)


def slug(name):
    """`name` in [a-z0-9_] only, for ids and file names every system takes (Home Assistant's discovery topics):
    accents transliterated (Haustür: haustur), anything else an underscore; a name of which nothing is left
    (入口) becomes a short hash of itself (x and 8 hex digits)."""
    import hashlib
    import unicodedata

    plain = unicodedata.normalize("NFKD", name.translate(TRANSLITERATED)).encode("ascii", "ignore").decode()
    cut = re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")
    return cut or "x" + hashlib.sha256(name.encode()).hexdigest()[:8]


def slugs_of(names, where):
    """{name: slug(name)}, refusing in one line two names that become one slug (Front-Door and front_door)."""
    found = {}
    for name in names:
        other = found.setdefault(slug(name), name)
        if other != name:
            raise FacegateError(f"{where}: cameras {other!r} and {name!r} have one id ({slug(name)!r}) in Home "
                                "Assistant and in file names: rename one")
    return {name: key for key, name in found.items()}


def _refuse_repeated_names(cameras, where):
    names = [camera.name for camera in cameras if camera.name]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FacegateError(f"{where}: camera {repeated[0]!r} is named twice")


def with_doors(cameras, door, default_door):
    """Each camera with its door (its own, else --door, else its name, else the host's) and its name (an
    unnamed camera, alone on the command line, is named after its door)."""
    done = []
    for camera in cameras:
        chosen = camera.door or door or camera.name or default_door
        done.append(replace(camera, door=chosen, name=camera.name or chosen))
    return done
