"""The edit suite: every edit produces a decodable image of the expected geometry, deterministically."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from hashwatch.evaluation.edits import EDIT_SUITE, FAMILIES, QUICK_EDIT_IDS, edits_by_id, select_edits
from hashwatch.sites.synthetic_images import encode, synthetic_photo

W, H = 320, 240


@pytest.fixture(scope="module")
def original():
    image = synthetic_photo(3, (W, H))
    data = encode(image, quality=95)
    return Image.open(io.BytesIO(data)).convert("RGB"), data


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        img.load()  # decodes fully: a truncated or corrupt encoding fails here
        return img.size


def test_ids_are_unique_and_the_quick_subset_exists():
    ids = [e.id for e in EDIT_SUITE]
    assert len(ids) == len(set(ids))
    assert set(QUICK_EDIT_IDS) <= set(ids)
    assert {e.family for e in select_edits(QUICK_EDIT_IDS)} == set(FAMILIES)  # every family in CI
    assert len(EDIT_SUITE) >= 60


EXPECTED_SIZE = {
    "original": (W, H),
    "resize@0.5": (W // 2, H // 2),
    "resize@2": (2 * W, 2 * H),
    "jpeg@20": (W, H),
    "crop_center@10": (W - 2 * 16, H - 2 * 12),
    "crop_corner@20": (256, 192),
    "border@10": (W + 2 * 16, H + 2 * 12),
    "pad_square": (W, W),
    "caption@20": (W, H + 48),
    "rotate90@90": (H, W),
    "rotate90@180": (W, H),
    "stretch@1.25": (400, H),
    "screenshot@0.5": (W // 2, H // 2),
}


@pytest.mark.parametrize("edit", EDIT_SUITE, ids=lambda e: e.id)
def test_every_edit_decodes_and_is_deterministic(edit, original):
    image, data = original
    out = edit.apply(image, data)
    size = _size(out)
    if edit.id in EXPECTED_SIZE:
        assert size == EXPECTED_SIZE[edit.id]
    if edit.name == "rotate":  # canvas expanded around the turned image
        assert size[0] > W and size[1] > H
    fmt = Image.open(io.BytesIO(out)).format
    assert fmt == ("PNG" if edit.family == "screenshot" else "JPEG")
    assert edit.apply(image, data) == out  # deterministic (noise is seeded)
    if edit.transform is None:
        assert out is data
    else:
        assert out != data


def test_labels_read_well():
    by_id = edits_by_id()
    assert by_id["resize@0.25"].label == "resize 0.25x"
    assert by_id["jpeg@20"].label == "jpeg q20"
    assert by_id["crop_center@5"].label == "crop_center 5 %"
    assert by_id["grayscale"].label == "grayscale"


def test_unknown_edits_and_families_are_refused():
    with pytest.raises(ValueError, match="unknown edits: nope"):
        select_edits(["nope"])
    with pytest.raises(ValueError, match="unknown edit families"):
        select_edits(families=["nope"])
    assert [e.id for e in select_edits(families=["flip"])] == ["flip_horizontal", "flip_vertical"]
