"""PNet on tiles (detection.PNET_TILE_SIDES) against PNet on the whole pyramid level: the same maps, bit for bit."""
import numpy as np
import pytest
from PIL import Image

from facegate.faces import detection
from facegate.networks.conversion import detector_network_paths
from facegate.faces.imaging import load_image
from facegate.networks.runtime import Network

from conftest import DATA

LEVEL_SHAPES = [(12, 12), (13, 13), (12, 41), (39, 40), (40, 39), (41, 161), (160, 160), (161, 159), (159, 321),
                (250, 251), (460, 614), (615, 459)]
"""Smaller than one tile, one tile exactly, one row or column over, several tiles, each side odd or even."""


@pytest.fixture(scope="module")
def photo():
    return detection.normalized_pixels(load_image(DATA / "bbt" / "bbt1.jpg"))


@pytest.mark.parametrize("shape", LEVEL_SHAPES)
def test_pnet_on_tiles_gives_the_whole_levels_maps(photo, shape):
    pnet = detector_network_paths()[0]
    level = detection._area_resized(photo, *shape)
    whole = Network(pnet)(level[None])
    tiled = detection._pnet_maps(Network(pnet, kept_elements=detection.PNET_TILE_ELEMENTS), level)
    assert len(tiled) == len(whole) == 2
    for mine, reference in zip(tiled, whole):
        assert mine.shape == reference.shape[1:]
        assert np.array_equal(mine, reference[0])
    scores = whole[1][0, ..., 1]
    assert np.all((scores > 0) & (scores < 1))  # real scores, not an empty map
    if min(shape) >= 250:
        assert scores.max() > 0.9  # the group photo's faces are there


def test_every_output_cell_comes_from_a_tile_that_holds_its_whole_window():
    """Cell i sees rows 2i..2i+11; along an odd side the last sees 11 rows (pooling pads the 12th), so a tile gives
    it only if it ends where the side does (its own pooling pads alike). Every cell once, in order."""
    for side in range(12, 700):
        for tile_side in detection.PNET_TILE_SIDES:
            covered = []
            for start, length, first, count in detection._tiles(side, tile_side):
                assert start % 2 == 0 and length == tile_side - side % 2
                for cell in range(start // 2 + first, start // 2 + first + count):
                    window_end = min(2 * cell + 12, side)
                    assert start <= 2 * cell and window_end <= start + length, (side, tile_side, cell)
                    if length % 2 and 2 * cell + 11 == start + length:  # the tile's own padded last cell
                        assert start + length == side, (side, tile_side, cell)
                    covered.append(cell)
            assert covered == list(range(detection._output_cells(side))), (side, tile_side)


def test_a_recurring_image_size_runs_whole_levels_and_finds_the_same_faces():
    """The first image of a size is searched on tiles; the next of that size on whole levels, each planned once
    on an interpreter of its own (a camera's frames): the same boxes, landmarks and confidences."""
    pnet, rnet, onet = detector_network_paths()
    detector = detection.Detector(Network(pnet, kept_elements=detection.PNET_KEPT_ELEMENTS), Network(rnet),
                                  Network(onet))
    image = np.asarray(Image.fromarray(load_image(DATA / "bbt" / "bbt1.jpg")).resize((640, 480)))  # a VGA frame
    first = detector.detect(image)
    level_shapes = [(1, int(480 * scale), int(640 * scale), 3) for scale in detection._pyramid(640, 480)]
    assert not any(shape in detector.pnet._kept for shape in level_shapes)  # tiles only so far
    again = detector.detect(image)
    assert level_shapes and all(shape in detector.pnet._kept for shape in level_shapes)
    assert len(first) >= 4 and again == first
