"""The spec edit suite (hashwatch.evaluation.edits_spec): each edit's geometry on a synthetic picture, its
parameters within the written ranges and drawn apart per half."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from hashwatch.evaluation.edits_spec import (
    SPEC_FAMILIES,
    SPEC_SUITE,
    band_opaque,
    band_translucent,
    collage,
    crop_rescale,
    rotate_cropped,
    rotate_expanded,
    screenshot,
    select_spec_edits,
    spec_edits_by_id,
)
from hashwatch.evaluation.split import HELD_BACK, TUNING, edit_rng
from hashwatch.sites.synthetic_images import synthetic_photo

W, H = 320, 240


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    return np.asarray(synthetic_photo(5, (W, H)))


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _rng(k: int = 0, half: str = TUNING) -> np.random.Generator:
    return edit_rng(half, f"synthetic/{k}.jpg", "test")


def test_a_cropped_rotation_keeps_the_canvas_and_leaves_no_corner_fill():
    # A picture that is white everywhere: any fill (black by default in OpenCV) would show in a corner.
    white = np.full((H, W, 3), 255, np.uint8)
    for k in range(8):
        out, params = rotate_cropped(white, _rng(k))
        assert out.shape == white.shape
        assert 0.5 <= abs(params["angle"]) <= 6.0
        assert out.min() >= 250, params  # corners are picture, not fill


def test_a_cropped_rotation_really_turns_the_picture(picture):
    out, params = rotate_cropped(picture, _rng(1))
    diff = np.abs(out.astype(int) - picture.astype(int)).mean()
    assert diff > 5, params


def test_an_expanded_rotation_grows_the_canvas_and_fills_the_corners():
    white = np.full((H, W, 3), 255, np.uint8)
    out, params = rotate_expanded(white, _rng(2))
    a = np.radians(abs(params["angle"]))
    assert out.shape[1] == pytest.approx(W * np.cos(a) + H * np.sin(a), abs=2)
    assert out.shape[0] == pytest.approx(H * np.cos(a) + W * np.sin(a), abs=2)
    assert tuple(out[0, 0]) == tuple(params["fill"])


def test_bands_are_painted_over_the_picture_within_their_range(picture):
    for fn, opaque in ((band_opaque, True), (band_translucent, False)):
        for k in range(6):
            out, params = fn(picture, _rng(k))
            assert out.shape == picture.shape
            assert 5 <= params["share"] <= 25 and params["where"] in ("top", "bottom", "across")
            changed = np.abs(out.astype(int) - picture.astype(int)).sum(axis=2) > 0
            rows = np.flatnonzero(changed.any(axis=1))
            # The painted rows are one band of about the drawn share of the height (text inside it).
            assert rows.size and (rows[-1] - rows[0] + 1) <= H * params["share"] / 100 + 2
            assert rows.size >= H * params["share"] / 100 * 0.9
            assert (params["alpha"] == 1.0) == opaque


def test_a_crop_is_scaled_back_to_the_original_size(picture):
    for k in range(5):
        out, params = crop_rescale(picture, _rng(k))
        assert out.shape == picture.shape and 3 <= params["cut"] <= 20


def test_a_screenshot_and_a_collage_hold_the_picture_in_a_larger_canvas(picture):
    canvas, params = screenshot(picture, _rng(3))
    assert canvas.shape[1] > W * 1.3 and params["format"] == "PNG"
    grid, params = collage(picture, _rng(4))
    rows, cols = (int(x) for x in params["grid"].split("x"))
    assert rows * cols >= 2
    # The picture itself is in its cell, pixel for pixel.
    r, c = divmod(params["cell"], cols)
    y, x = params["gap"] + r * (H + params["gap"]), params["gap"] + c * (W + params["gap"])
    assert (grid[y : y + H, x : x + W] == picture).all()


def test_every_edit_draws_in_range_and_apart_per_half(picture):
    """Each edit encodes; its draws are the same for one (half, picture) and differ between the halves."""
    drawn_apart = 0
    for edit in SPEC_SUITE:
        if edit.fn is None:
            continue
        data, params = edit.draw(picture, TUNING, "synthetic/a.jpg")
        again, same = edit.draw(picture, TUNING, "synthetic/a.jpg")
        assert data == again and params == same, edit.id
        other_data, other = edit.draw(picture, HELD_BACK, "synthetic/a.jpg")
        assert _decode(data).ndim == 3
        drawn_apart += params != other or data != other_data
        if "angle" in params:
            assert 0.5 <= abs(params["angle"]) <= 6.0
        if edit.family == "jpeg low":
            assert 5 <= params["quality"] <= 15
    # Edits without parameters (grayscale, flips) draw nothing; every other one differs between halves.
    assert drawn_apart >= len(SPEC_SUITE) - 5


def test_selection_and_families():
    assert {"rotate cropped", "rotate expanded", "band", "crop+rescale", "border", "aspect"} <= set(
        SPEC_FAMILIES
    )
    assert {"screenshot", "collage", "jpeg low", "mirrored crop", "combined"} <= set(SPEC_FAMILIES)
    assert [e.id for e in select_spec_edits(families=["band"])] == [
        "band_opaque#1",
        "band_opaque#2",
        "band_translucent#1",
        "band_translucent#2",
    ]
    assert len(spec_edits_by_id()) == len(SPEC_SUITE)
    with pytest.raises(ValueError, match="unknown edits"):
        select_spec_edits(["rotate@5"])
