"""The JSON records facegate answers with, shared by the command line and the HTTP service."""
from .matching import nearest


def rounded(value):
    return None if value is None else round(float(value), 6)


def match_faces(result, gallery, limit):
    """The nearest enrolled person (a Match) for each face of an ImageFaces result."""
    if not result.faces:
        return []
    return nearest([face.embedding for face in result.faces], gallery, limit)


def image_record(result, matches):
    """identify / scan: every face of one image with its box, confidence, identity (None: unknown), distance."""
    faces = []
    for face, match in zip(result.faces, matches):
        faces.append({
            "box": [int(v) for v in face.box],
            "confidence": round(face.confidence, 4),
            "identity": match.identity if match else None,
            "distance": rounded(match.distance) if match else None,
        })
    return {"path": result.path, "faces": faces, "error": result.error}


def verify_record(path, identity, distance, door_open, threshold, face_count):
    """verify: the claimed identity, the distance of the main face to it, and the decision."""
    return {"path": str(path), "identity": identity, "distance": rounded(distance), "match": door_open,
            "threshold": threshold, "faces": face_count}
