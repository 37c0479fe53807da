"""Pictures a person looks at afterwards: a frame or photo with each face boxed and labelled."""
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..errors import FacegateError

COLOURS = {"match": (40, 200, 60), "unknown": (230, 50, 40), "ambiguous": (250, 160, 0), "pending": (200, 200, 200),
           "spoof": (200, 0, 200)}


def label_for(identity, distance, state):
    """'younes 0.44', 'unknown 0.93', 'ambiguous', 'spoof: younes 0.41', or '?' for a face not decided yet."""
    if state == "pending":
        return "?"
    name = identity if identity else state
    if state == "spoof":
        name = f"spoof: {identity}" if identity else "spoof"
    return f"{name} {distance:.2f}" if distance is not None else name


def annotated(image, faces):
    """A copy of the RGB array `image` as a PIL picture, each of `faces` drawn: (box, label, state)."""
    picture = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(12, picture.height // 40))
    width = max(2, picture.height // 240)
    for (x, y, w, h), label, state in faces:
        colour = COLOURS.get(state, COLOURS["pending"])
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        left, top, right, bottom = draw.textbbox((x, y), label, font=font)
        top_of_label = y - (bottom - top) - 2 * width if y - (bottom - top) - 2 * width >= 0 else y + h
        draw.rectangle([x, top_of_label, x + (right - left) + 2 * width, top_of_label + (bottom - top) + 2 * width],
                       fill=colour)
        draw.text((x + width, top_of_label + width - (top - y)), label, fill=(0, 0, 0), font=font)
    return picture


def save_annotated(image, faces, path, seal=None):
    """Write the annotated picture to `path` (JPEG, or by its suffix; sealed by `seal(bytes)` when given, as
    watch's snapshots of an encrypted database are); one clear error when it cannot."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if seal is None:
            annotated(image, faces).save(path, quality=90)
        else:
            buffer = io.BytesIO()
            annotated(image, faces).save(buffer, "JPEG", quality=90)
            path.write_bytes(seal(buffer.getvalue()))
    except (OSError, ValueError) as exc:
        raise FacegateError(f"{path}: cannot write the annotated picture ({getattr(exc, 'strerror', None) or exc})")
    return path


def faces_of_matches(result, matches):
    """(box, label, state) of each face of an ImageFaces result with its Match (identify, scan)."""
    faces = []
    for face, match in zip(result.faces, matches):
        state = "match" if match and match.identity else "unknown"
        faces.append((face.box, label_for(match.identity if match else None, match.distance if match else None,
                                          state), state))
    return faces


def save_annotated_result(result, matches, target):
    """Write an encoded picture (ImageFaces) with its faces boxed and named (decoded again: annotation is opt-in)."""
    from .imaging import load_image

    save_annotated(load_image(result.path), faces_of_matches(result, matches), target)
