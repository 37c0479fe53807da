"""A bad-input corpus, generated at test time: every kind of file a camera or a person may feed facegate.

Each case names what facegate must make of it: an error whose message holds some words, the enrolled person
"younes" found, a face of nobody enrolled, no face at all, or a crowd of at least so many faces.
"""
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
FACE = ROOT / "images" / "younes.jpg"
BBT = (ROOT / "../shared/data/bbt").resolve()


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    expect: str
    """'error', 'younes', 'noface' or 'crowd'."""
    words: tuple = ()
    """For errors: the one-line message holds one of these words (besides the file name)."""
    scanned: bool = True
    """Whether a folder scan reports the file (image-like names only)."""


def _face(scale=2):
    image = Image.open(FACE).convert("RGB")
    return image.resize((image.width * scale, image.height * scale), Image.BICUBIC)


def _jpeg_bytes(image, **params):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, **params)
    return buffer.getvalue()


def _png_with_size(width, height):
    """A tiny PNG whose header claims width x height: decoding it would need width*height*3 bytes."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def _bomb():
    """A real, valid PNG of 12000 x 9000 blank pixels: ~100 KB on disk, 324 MB decoded."""
    buffer = io.BytesIO()
    Image.new("1", (12000, 9000)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _crowd():
    """30 different faces (grayscale crops of 6 people), 5 rows of 6, on one 1020 x 850 picture."""
    crops = sorted(p for p in BBT.glob("*/*.png"))[:30]
    canvas = Image.new("RGB", (6 * 170, 5 * 170), (200, 200, 200))
    for index, crop in enumerate(crops):
        canvas.paste(Image.open(crop).convert("RGB"), ((index % 6) * 170 + 10, (index // 6) * 170 + 10))
    return canvas


def make_corpus(folder):
    """Write every case into `folder` and return the list of Cases."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    face = _face()
    cases = []

    def add(name, content, expect, words=(), scanned=True):
        path = folder / name
        if isinstance(content, Image.Image):
            content.save(path)
        elif content is not None:
            path.write_bytes(content)
        cases.append(Case(name, path, expect, tuple(words), scanned))
        return path

    add("empty.jpg", b"", "error", ["empty file"])
    add("notes.jpg", b"Dear camera,\nthis is not a picture.\n", "error", ["not an image"])
    add("truncated.jpg", _jpeg_bytes(face)[:1500], "error", ["corrupt or truncated"])
    png = io.BytesIO()
    face.save(png, "PNG")
    add("corrupt.png", png.getvalue()[:60] + b"\x00" * 40 + png.getvalue()[100:], "error", ["corrupt"])
    add("photo.heic", b"\x00\x00\x00\x18ftypheic" + bytes(200), "error", ["not an image"])
    add("huge-20000x20000.png", _png_with_size(20000, 20000), "error", ["too large"])
    add("bomb.png", _bomb(), "error", ["too large"])
    add("one-pixel.png", Image.new("RGB", (1, 1), (128, 90, 70)), "noface")
    (folder / "folder.jpg").mkdir()
    cases.append(Case("folder.jpg", folder / "folder.jpg", "error", ("is a directory", "no image files"), False))
    dangling = folder / "dangling.jpg"
    dangling.symlink_to(folder / "gone.jpg")
    cases.append(Case("dangling.jpg", dangling, "error", ("no such file",)))
    (folder / "loop").symlink_to(folder, target_is_directory=True)

    add("gray16.png", Image.fromarray((__import__("numpy").asarray(face.convert("L"), "uint16") * 257)), "younes")
    add("cmyk.jpg", _jpeg_bytes(face.convert("CMYK")), "younes")
    palette = face.convert("RGBA").quantize(colors=255)
    palette.info["transparency"] = 0
    add("palette-transparent.png", None, "younes").write_bytes(b"")
    palette.save(folder / "palette-transparent.png", transparency=0)
    frames = [face, Image.new("RGB", face.size, (0, 0, 255))]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    cases.append(Case("animated.gif", folder / "animated.gif", "younes"))
    frames[0].save(folder / "pages.tiff", save_all=True, append_images=frames[1:])
    cases.append(Case("pages.tiff", folder / "pages.tiff", "younes"))
    add("face.webp", None, "younes")
    face.save(folder / "face.webp", "WEBP", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned left: viewers (and facegate) turn it right by 90 degrees
    add("exif-rotated.jpg", _jpeg_bytes(face.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes()), "younes")
    add("large-6000x6000.jpg", _jpeg_bytes(face.resize((6000, 6000), Image.BILINEAR)), "younes")
    add("crowd-of-30.jpg", _crowd(), "crowd")
    add("name with spaces é 東京\nand a newline.jpg", _jpeg_bytes(face), "younes")
    add("rocket-no-face.jpg", (BBT / "../negatives/rocket.jpg").resolve().read_bytes(), "noface")
    return cases
