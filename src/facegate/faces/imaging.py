"""Image files in, RGB uint8 arrays out: every common format and colour mode, or one clear error."""
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

MAX_PIXELS = 100_000_000
"""Larger images are refused (decompression bombs); a 100-megapixel photo is far beyond any camera need."""

Image.MAX_IMAGE_PIXELS = MAX_PIXELS

IMAGE_SUFFIXES = frozenset(
    ".jpg .jpeg .jpe .jfif .png .bmp .gif .tif .tiff .webp .ppm .pgm .pbm .pnm .tga .ico .heic .heif .avif".split()
)
"""Names a scan looks at; formats Pillow cannot read (HEIC) are reported as unsupported, not skipped silently."""


def _check_file(path):
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except OSError as exc:
        raise ImageError(path, f"cannot access ({exc.strerror or exc})") from None
    if path.is_dir():
        raise ImageError(path, "is a directory, not an image")
    if size == 0:
        raise ImageError(path, "empty file")


def check_image(path):
    """Fail fast, reading only the header, when `path` is clearly not a usable image (before a model loads)."""
    _decode(Path(path), header_only=True)


def load_image(path):
    """Decode `path` into an (H, W, 3) uint8 RGB array, EXIF orientation applied, first frame only."""
    return _decode(Path(path), header_only=False)


def _decode(path, header_only):
    _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about damaged metadata it skips; the pixels decide
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageError(path, f"image too large ({width}x{height} pixels; limit {MAX_PIXELS:,})")
                if header_only:
                    return None
                image.load()
                return _to_rgb_array(_upright(image))
    except ImageError:
        raise
    except PermissionError:
        raise ImageError(path, "permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(path, "not an image, or an unsupported image format") from None
    except Image.DecompressionBombError:
        raise ImageError(path, f"image too large (over {MAX_PIXELS:,} pixels)") from None
    except MemoryError:
        raise ImageError(path, "image too large to decode in memory") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise ImageError(path, f"corrupt or truncated image ({exc})") from None


def _upright(image):
    """Apply the EXIF orientation; a broken EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - Pillow raises many types for malformed EXIF
        return image


def _to_rgb_array(image):
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return _high_depth_gray_to_rgb(image)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        image = canvas
    return np.array(image.convert("RGB"), dtype=np.uint8)


def _high_depth_gray_to_rgb(image):
    """16-bit, 32-bit and float grey images, scaled to 8 bits by the range their values use."""
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    peak = float(finite.max()) if finite.size else 0.0
    full_scale = 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else peak
    gray = np.clip(np.nan_to_num(values) * (255.0 / full_scale), 0, 255).round().astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def is_image_name(path):
    """True when the file name has an image suffix."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def find_images(folder, recursive=True):
    """Image files under `folder`, sorted; symlinked folders are not followed, so loops cannot trap a scan."""
    folder = Path(folder)
    if not recursive:
        return sorted(p for p in folder.iterdir() if is_image_name(p) and not p.is_dir())
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        found.extend(Path(root, name) for name in sorted(files) if is_image_name(name))
    return found
