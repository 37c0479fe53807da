"""Decide and log: the one path every caller (the command line, the service, the door camera) takes from a face
to a decision and its access-log record. The decision itself is matching.py's; this adds the record."""
from pathlib import Path

from .matching import match_faces, verify_main_face


def face_crop(pixels, box):
    """The face's box cut from an RGB array, as a PIL image (the access log's --log-faces crop)."""
    from PIL import Image

    x, y, w, h = box
    return Image.fromarray(pixels[y:y + h, x:x + w])


def verify_picture(path, name, gallery, model, threshold, access_log=None, require_single_face=False,
                   liveness=False, cue=None, **extra):
    """(dist, door_open, face_count, face, live): the picture's main face against exactly `name`, logged as
    `verify` (LogError under --require-log before the answer is given). With `liveness`, the face is judged by
    the single-frame cue (liveness.judge_still): only a face judged live opens; one judged an attack is logged
    as `spoof`, one too small to judge (live None) as `no-match`; by `cue`, the camera's (a liveness profile's;
    None: the shipped cue). live is None when not judged. `extra` goes into the record (e.g. the caller)."""
    wants_crop = access_log is not None and access_log.faces
    gallery.embeddings_of(name)  # an unknown name is refused before the picture is decoded
    pixels = _pixels_of(path)  # decoded once, for the face, its liveness and its crop
    distance, door_open, face_count, face = verify_main_face(path, name, gallery, model, threshold,
                                                             require_single_face, pixels)
    live, judged = None, {}
    if liveness:
        from .liveness import judge_still

        from .liveness.profiles import shipped_cue

        cue = cue or shipped_cue()
        verdict, probability = judge_still(pixels, face, cue)
        live = verdict.live
        judged = {"live": live, "cues": list(verdict.cues), "liveness_profile": cue.name,
                  "live_probability": None if probability is None else round(probability, 4)}
    door_open = door_open and (not liveness or live is True)
    decision = "spoof" if live is False else "match" if door_open else "no-match"
    if access_log is not None:
        access_log.record("verify", decision, identity=name if door_open else None, claim=name, distance=distance,
                          threshold=threshold, picture=Path(path).read_bytes(),
                          face=face_crop(pixels, face.box) if wants_crop else None, **judged, **extra)
    return distance, door_open, face_count, face, live


def identify_faces(result, gallery, threshold, access_log=None, command="identify", **extra):
    """The Match of each face of an encoded picture (an ImageFaces), each logged as `command` (identify, scan)."""
    matches = match_faces(result, gallery, threshold)
    if access_log is not None and result.faces:
        picture = Path(result.path).read_bytes()
        pixels = _pixels_of(result.path) if access_log.faces else None
        for face, match in zip(result.faces, matches):
            access_log.record(command, "match" if match.identity else "unknown", identity=match.identity,
                              distance=match.distance, threshold=threshold, picture=picture,
                              face=None if pixels is None else face_crop(pixels, face.box), **extra)
    return matches


def log_visit(access_log, record, frame):
    """A door camera's decision (an event record of watch, decided on `frame`) into the access log."""
    face = face_crop(frame.image, record["box"]) if frame is not None and access_log.faces else None
    access_log.record("watch", record["event"], identity=record["identity"], claim=record.get("claim"),
                      distance=record["distance"], threshold=record["threshold"],
                      picture=frame.image.tobytes() if frame is not None else None, face=face,
                      source=record["source"], track=record["track"], live=record.get("live"),
                      cues=record.get("cues", []), snapshot=record.get("snapshot"))


def _pixels_of(path):
    from .faces.imaging import load_image

    return load_image(path)
