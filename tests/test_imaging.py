"""Image decoding. These tests do not use the model: they check decoding only, on generated and seed images."""
import io

import numpy as np
import pytest
from PIL import Image

from facegate.errors import ImageError
from facegate.faces.imaging import MAX_PIXELS, find_images, load_image

from conftest import IMAGES


def save(tmp_path, name, image, **params):
    path = tmp_path / name
    image.save(path, **params)
    return path


def test_rgba_seed_photo_becomes_rgb():
    pixels = load_image(IMAGES / "danielle.png")
    assert pixels.shape == (96, 96, 3) and pixels.dtype == np.uint8
    assert np.array_equal(pixels, np.asarray(Image.open(IMAGES / "danielle.png"))[..., :3])


def test_transparent_pixels_are_composited_on_white(tmp_path):
    image = Image.new("RGBA", (40, 30), (10, 20, 30, 0))
    pixels = load_image(save(tmp_path, "clear.png", image))
    assert pixels.shape == (30, 40, 3) and (pixels == 255).all()


@pytest.mark.parametrize("mode", ["L", "LA", "P", "CMYK", "1", "I;16", "I", "F", "YCbCr"])
def test_colour_modes_decode_to_rgb(tmp_path, mode):
    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    image = Image.fromarray(np.stack([ramp] * 3, axis=2)).convert(mode if mode not in ("I;16", "I", "F") else "L")
    if mode == "I;16":
        image = Image.fromarray(ramp.astype(np.uint16) * 257)
        assert image.mode == "I;16"
    elif mode in ("I", "F"):
        image = image.convert(mode)
    suffix = {"CMYK": ".jpg", "YCbCr": ".jpg", "F": ".tiff", "I": ".tiff"}.get(mode, ".png")
    pixels = load_image(save(tmp_path, f"ramp{suffix}", image))
    assert pixels.shape == (48, 64, 3) and pixels.dtype == np.uint8
    # the ramp survives: dark on the left, bright on the right
    assert pixels[:, :8].mean() < 60 and pixels[:, -8:].mean() > 190


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (60, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 10, 20))  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree clockwise turn
    pixels = load_image(save(tmp_path, "rotated.jpg", image, exif=exif.tobytes()))
    assert pixels.shape == (60, 20, 3)
    assert pixels[:10].mean() > 200 and pixels[-10:].mean() < 50


def test_animated_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    pixels = load_image(path)
    assert pixels[..., 0].mean() > 200 and pixels[..., 2].mean() < 50


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"hello, I am text\n", "not an image"),
])
def test_non_images_are_refused(tmp_path, content, reason):
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=reason) as caught:
        load_image(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_truncated_jpeg_is_refused(tmp_path):
    data = (IMAGES / "younes.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(path)


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "absent.jpg")
    (tmp_path / "folder.jpg").mkdir()
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path / "folder.jpg")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    side = int(MAX_PIXELS ** 0.5) + 100
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG")  # a few kB on disk, >100 megapixels decoded
    path = tmp_path / "bomb.png"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageError, match="too large"):
        load_image(path)


def test_find_images_recurses_and_survives_symlink_loops(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/one.jpg", "a/b/two.PNG", "a/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a" / "b" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    found = [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)]
    assert found == ["a/one.jpg", "a/b/two.PNG"]


# Alignment geometry: model-independent, on synthetic points and images.

def test_similarity_transform_recovers_scale_rotation_and_shift():
    from facegate.faces.alignment import similarity_transform

    angle, scale, shift = 0.3, 1.7, np.array([5.0, -2.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = np.array([[0, 0], [10, 0], [5, 6], [1, 9], [9, 9]], float)
    target = source @ (scale * rotation).T + shift
    matrix, offset = similarity_transform(source, target)
    assert np.allclose(matrix, scale * rotation) and np.allclose(offset, shift)
    with pytest.raises(ValueError):
        similarity_transform(np.ones((5, 2)), target)


def test_aligned_crop_levels_a_tilted_face():
    from facegate.faces.alignment import LANDMARKS, TEMPLATE, aligned_crop

    size = 160
    canvas = np.zeros((400, 400, 3), np.uint8)
    angle = np.radians(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (TEMPLATE * 200 - 100) @ rotation.T + 200  # the template, twice as large, tilted 25 degrees
    for x, y in points[:2]:  # bright eyes
        canvas[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4] = 255
    crop = aligned_crop(canvas, dict(zip(LANDMARKS, map(tuple, points))), size)
    assert crop.shape == (size, size, 3)
    for x, y in TEMPLATE[:2] * size:  # the eyes land on the template, level
        assert crop[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2].mean() > 200
