"""The JSON records facegate answers with, shared by the command line and the HTTP service."""
from .files import vectors_to_text


def rounded(value):
    return None if value is None else round(float(value), 6)


def image_record(result, matches, model_name=None):
    """identify / scan: every face of one image with its box, confidence, identity (None: unknown), distance.
    With `model_name` (a scan's --output file) also each face's embedding, what `cluster` reads back."""
    faces = []
    for face, match in zip(result.faces, matches):
        faces.append({
            "box": [int(v) for v in face.box],
            "confidence": round(face.confidence, 4),
            "identity": match.identity if match else None,
            "distance": rounded(match.distance) if match else None,
        })
        if model_name:
            faces[-1]["embedding"] = vectors_to_text(face.embedding)
    record = {"path": result.path, "faces": faces, "error": result.error}
    return {**record, "model": model_name} if model_name else record


def verify_record(path, identity, distance, door_open, threshold, face_count, live=None, liveness=False,
                  profile=None):
    """verify: the claimed identity, the distance of the main face to it, and the decision; with `liveness`,
    also whether the face was judged live, and by which liveness profile (`profile`; 'shipped': none)."""
    record = {"path": str(path), "identity": identity, "distance": rounded(distance), "match": door_open,
              "threshold": threshold, "faces": face_count}
    if liveness:
        record["live"] = live
        record["liveness_profile"] = profile
    return record


CSV_HEADER = ["path", "face", "x", "y", "width", "height", "confidence", "identity", "distance", "error"]


def csv_rows(record):
    """scan --csv: the rows of an image record (image_record), one per face, or one for an image without one."""
    if not record["faces"]:
        return [[record["path"], "", "", "", "", "", "", "", "", record["error"] or ""]]
    return [[record["path"], number, *face["box"], f"{face['confidence']:.4f}", face["identity"] or "",
             "" if face["distance"] is None else f"{face['distance']:.4f}", ""]
            for number, face in enumerate(record["faces"], start=1)]
