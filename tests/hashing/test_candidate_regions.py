"""The ``regions`` candidate family: a known picture inside a larger canvas (issue 23).

The canvases are written here from the issue's words (a screenshot frame with a title bar, a side panel and
text; a 2x2 collage with and without gaps; a page with a uniform surround), with Pillow, from synthetic
pictures; nothing is written to disk.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from hashwatch.hashing import candidate_regions
from hashwatch.hashing.candidate_regions import MAX_DETECT_PIXELS, MAX_REGIONS, find_regions
from hashwatch.hashing.candidates import candidate_family, compute_candidates
from hashwatch.hashing.decode import decode_image
from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes
from hashwatch.sites.synthetic_images import encode, synthetic_photo

PDQ_THRESHOLD = 31


def _hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def _pdq(image: Image.Image) -> str:
    value = compute_image_hashes(encode(image), HashConfig(candidates=())).hash_value("pdq")
    assert value is not None
    return value


def _nearest(canvas: Image.Image, original_pdq: str, families: tuple[str, ...]) -> tuple[int, str]:
    """The smallest PDQ distance of the canvas's plain hash and its candidates of ``families`` to the
    original, with the name of the hash that reached it."""
    hashes = compute_image_hashes(encode(canvas), HashConfig(candidates=families))
    values = {"plain": hashes.hash_value("pdq"), **hashes.candidates("pdq")}
    return min((_hamming(v, original_pdq), k) for k, v in values.items() if v is not None)


def screenshot(picture: Image.Image, size=(1280, 860), at=(300, 110), shown=(820, 615)) -> Image.Image:
    """A desktop screenshot: dark title bar with text, a light side panel listing albums, the picture
    shown resized in the viewer's grey area, a caption line under it."""
    canvas = Image.new("RGB", size, (232, 232, 232))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, size[0], 40), fill=(45, 45, 55))
    draw.text((14, 12), "Photos - holiday_0412.jpg", fill=(255, 255, 255))
    draw.rectangle((0, 40, 220, size[1]), fill=(250, 250, 250))
    for i in range(24):
        draw.text((14, 56 + 30 * i), f"Album {i}: 3{i} items", fill=(30, 30, 30))
    canvas.paste(picture.resize(shown, Image.Resampling.BILINEAR), at)
    draw.text((at[0], at[1] + shown[1] + 14), "Shared by someone - 2 hours ago - 14 comments", fill=(0, 0, 0))
    return canvas


def collage(pictures: list[Image.Image], gap: int, cell=(500, 375), colour=(255, 255, 255)) -> Image.Image:
    """A 2x2 grid of pictures, ``gap`` px of ``colour`` between and around them (0: edge to edge)."""
    w, h = cell
    canvas = Image.new("RGB", (2 * w + 3 * gap, 2 * h + 3 * gap), colour)
    for i, picture in enumerate(pictures):
        canvas.paste(
            picture.resize(cell, Image.Resampling.BILINEAR),
            (gap + (i % 2) * (w + gap), gap + (i // 2) * (h + gap)),
        )
    return canvas


def page(picture: Image.Image) -> Image.Image:
    """A page: a uniform surround, a heading and paragraphs above, the picture floated right with text
    running down its left side, more text below."""
    canvas = Image.new("RGB", (1100, 1400), (246, 244, 238))
    draw = ImageDraw.Draw(canvas)
    line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor"
    for i in range(8):
        draw.text((80, 60 + 28 * i), line, fill=(20, 20, 20))
    canvas.paste(picture.resize((680, 510), Image.Resampling.BILINEAR), (360, 330))
    for i in range(18):
        draw.text((80, 340 + 28 * i), "incididunt ut labore", fill=(20, 20, 20))
    for i in range(12):
        draw.text((80, 880 + 28 * i), line, fill=(20, 20, 20))
    return canvas


@pytest.fixture(scope="module")
def pictures() -> list[Image.Image]:
    return [synthetic_photo(seed, (800, 600)) for seed in (11, 12, 13, 14)]


def test_region_names_belong_to_the_family():
    assert candidate_family("region-1") == "regions"
    assert candidate_family("region-8") == "regions"


@pytest.mark.parametrize("maker", [screenshot, page], ids=["screenshot", "page"])
def test_a_picture_in_a_frame_is_found_through_regions(pictures, maker):
    original = _pdq(pictures[0])
    canvas = maker(pictures[0])
    without, _ = _nearest(canvas, original, ("trimmed", "uncaptioned", "dihedral_real", "deskew", "extended"))
    assert without > PDQ_THRESHOLD  # nothing else finds it: the test measures the new family
    distance, name = _nearest(canvas, original, ("regions",))
    assert distance <= PDQ_THRESHOLD
    assert candidate_family(name) == "regions"


@pytest.mark.parametrize("gap", [0, 10])
def test_every_picture_of_a_2x2_collage_is_found_through_regions(pictures, gap):
    canvas = collage(pictures, gap)
    hashes = compute_image_hashes(encode(canvas), HashConfig(candidates=("regions",)))
    regions = hashes.candidates("pdq")
    assert 4 <= len(regions) <= MAX_REGIONS
    for picture in pictures:
        original = _pdq(picture)
        distance, name = min((_hamming(v, original), k) for k, v in regions.items())
        assert distance <= PDQ_THRESHOLD, (gap, name, distance)


def test_a_plain_photo_yields_few_regions():
    # The synthetic "photos" hold drawn rectangles with hard straight edges (a picture inside a picture, in
    # effect: 20 of them gave 0-8 regions, 12 none), so some regions are expected; most have none. Real
    # photos: test_real_photos_yield_few_regions.
    counts = [
        len(
            compute_candidates(decode_image(encode(synthetic_photo(seed, (800, 600)))), ("regions",), ["pdq"])
        )
        for seed in range(20, 40)
    ]
    assert counts.count(0) >= 10, counts
    assert sum(counts) <= 2 * len(counts), counts


def test_real_photos_yield_few_regions():
    """Wallpapers and photos of the evaluation's corpus (skipped where it cannot be fetched): mostly none."""
    from hashwatch.evaluation.photo_corpus import PhotoCorpusUnavailable, photos

    try:
        corpus = photos(["mate-backgrounds", "plasma-workspace-wallpapers", "lxqt-themes"], min_side=600)
    except PhotoCorpusUnavailable as exc:
        pytest.skip(f"photo corpus unavailable: {exc}")
    corpus = corpus[:: max(1, len(corpus) // 24)][:24]
    counts = []
    for photo in corpus:
        with Image.open(photo.path) as img:
            rgb = img.convert("RGB")
        rgb.thumbnail((1024, 1024))
        counts.append(len(compute_candidates(decode_image(encode(rgb)), ("regions",), ["pdq"])))
    assert len(counts) >= 10
    assert sum(counts) <= len(counts), counts  # at most one region per photo on average
    assert counts.count(0) >= 0.75 * len(counts), counts


@pytest.mark.parametrize("colour", [0, 128, 255])
def test_a_uniform_canvas_yields_none(colour):
    luma = np.full((600, 800), colour, dtype=np.float32)
    assert find_regions(luma, 2) == []
    image = Image.new("RGB", (1200, 900), (colour, colour, colour))
    assert compute_candidates(decode_image(encode(image, "PNG")), ("regions",)) == {}


def test_a_huge_canvas_is_bounded_in_work(monkeypatch):
    seen: list[int] = []
    real = candidate_regions._edge_evidence

    def spy(luma, axis=1):
        seen.append(luma.size)
        return real(luma, axis)

    monkeypatch.setattr(candidate_regions, "_edge_evidence", spy)
    # A long page: 400 x 30,000 working pixels (12 million), a picture pasted twice on a flat grey.
    luma = np.full((30_000, 400), 200.0, dtype=np.float32)
    rng = np.random.default_rng(3)
    patch = rng.uniform(0, 255, (50, 40)).repeat(6, axis=0).repeat(6, axis=1)
    luma[1000:1300, 60:300] = patch
    luma[20_000:20_300, 60:300] = patch
    boxes = find_regions(luma, 1)
    assert seen and max(seen) <= MAX_DETECT_PIXELS
    assert len(boxes) <= MAX_REGIONS


@pytest.mark.parametrize(
    "shape", [(0, 0), (1, 1), (1, 500), (500, 1), (15, 15), (16, 16), (16, 3000), (3000, 17), (40, 40)]
)
def test_bad_sizes_never_raise(shape):
    rng = np.random.default_rng(0)
    luma = rng.uniform(0, 255, shape).astype(np.float32)
    boxes = find_regions(luma, 1)
    assert len(boxes) <= MAX_REGIONS
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= shape[1] and 0 <= y0 < y1 <= shape[0]


@pytest.mark.parametrize("size", [(1, 1), (2, 300), (300, 2), (33, 17), (64, 64)])
def test_bad_image_sizes_hash_without_error(size):
    image = collage([synthetic_photo(5, (200, 150))] * 4, 4).resize(size)
    hashes = compute_image_hashes(encode(image, "PNG"), HashConfig(candidates=("regions",)))
    assert "candidates failed" not in (hashes.error_message or "")


def test_not_a_2d_array_yields_none():
    assert find_regions(np.zeros((10, 10, 3), dtype=np.float32)) == []
    assert find_regions(np.zeros((300, 300), dtype=np.float32), max_regions=0) == []
