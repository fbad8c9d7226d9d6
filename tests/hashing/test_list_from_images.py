"""List rows from original pictures (hashwatch.hashing.list_from_images, `hashwatch list from-images`,
`hashwatch index build --from-images`): every type, item_id linking, variants, bad files, and that a list
with variants finds a rotated or cropped copy its plain list does not. Synthetic pictures only, in tmp_path."""

from __future__ import annotations

import csv
import hashlib
import io
import os

import numpy as np
import pytest
from PIL import Image

from hashwatch.cli import main
from hashwatch.hashing.hash_types import IndexKind, Source, hash_types
from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes
from hashwatch.hashing.list_file import COLUMNS, read_list
from hashwatch.hashing.list_from_images import (
    ALL_VARIANTS,
    VARIANTS,
    Tally,
    list_rows_from_images,
    parse_variants,
    picture_rows,
    rotate_cropped,
)

LISTED_TYPES = sorted(
    ht.name
    for ht in hash_types()
    if ht.matchable and ht.index_kind != IndexKind.NONE and ht.computed_from != Source.FRAMES
)


def _picture(seed: int, size=(480, 360)) -> Image.Image:
    """A smooth random picture with structure at several scales (hashes well, differs by seed)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray((rng.random((6, 8, 3)) * 255).astype("uint8")).resize(size, Image.BICUBIC)
    fine = Image.fromarray((rng.random((24, 32, 3)) * 255).astype("uint8")).resize(size, Image.BICUBIC)
    return Image.blend(coarse, fine, 0.35)


def _save(img: Image.Image, path, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, quality=95)
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())
    return buf.getvalue()


@pytest.fixture
def originals(tmp_path):
    folder = tmp_path / "originals"
    (folder / "sub").mkdir(parents=True)
    datas = [_save(_picture(1), folder / "a.png"), _save(_picture(2), folder / "sub" / "b.jpg", "JPEG")]
    return folder, datas


def _rows(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_type_of_the_registry_with_the_values_hashwatch_hash_prints(originals):
    folder, datas = originals
    rows, reason = picture_rows(datas[0], "item", ())
    assert reason is None
    assert sorted(r.hash_type for r in rows) == LISTED_TYPES
    assert {"md5", "sha1", "sha256", "pdq", "phash", "dhash"} <= set(LISTED_TYPES)
    hashes = compute_image_hashes(datas[0])
    for row in rows:
        assert row.hash_value == hashes.hash_value(row.hash_type)
        assert row.variant == "original"


def test_rows_of_one_picture_share_its_item_id_and_name_their_variant(originals, tmp_path):
    folder, datas = originals
    out = tmp_path / "list.csv"
    assert main(["list", "from-images", str(folder), "--out", str(out), "--variants", "all"]) == 0
    rows = _rows(out)
    assert list(rows[0]) == list(COLUMNS)
    ids = {hashlib.sha256(d).hexdigest() for d in datas}
    assert {r["item_id"] for r in rows} == ids
    for item in ids:
        mine = [r for r in rows if r["item_id"] == item]
        originals_ = [r for r in mine if r["note"] == "variant=original"]
        assert sorted(r["hash_type"] for r in originals_) == LISTED_TYPES
        variants = {r["note"].removeprefix("variant=") for r in mine} - {"original"}
        assert variants and variants <= set(VARIANTS)
        # PDQ has dihedral variants on the query side: its list needs none; pHash and dHash get them.
        assert not [r for r in mine if r["hash_type"] == "pdq" and r["note"] == "variant=rot90"]
        assert [r for r in mine if r["hash_type"] == "phash" and r["note"] == "variant=rot90"]
        # crypto hashes of a variant would be this program's own encoding: none
        assert {r["hash_type"] for r in mine if r["note"] != "variant=original"} <= {"pdq", "phash", "dhash"}
        pairs = [(r["hash_type"], r["hash_value"]) for r in mine]
        assert len(pairs) == len(set(pairs))
    # the project's own reader takes it: every row valid, item ids kept
    listed = read_list(str(out))
    assert len(listed.deleted) == len(rows)
    assert set(listed.item_id.to_pylist()) == ids


def test_item_id_path_and_labels(originals, tmp_path):
    folder, _ = originals
    out = tmp_path / "list.csv"
    argv = ["list", "from-images", str(folder), "--out", str(out), "--variants", "none", "--item-id", "path"]
    assert main([*argv, "--source", "hotline-x", "--category", "A1", "--list-version", "7"]) == 0
    rows = _rows(out)
    assert {r["item_id"] for r in rows} == {"a.png", "sub/b.jpg"}
    assert {(r["source"], r["category"], r["list_version"]) for r in rows} == {("hotline-x", "A1", "7")}
    assert len(rows) == 2 * len(LISTED_TYPES)


def test_variants_are_parsed_and_unknown_ones_named():
    assert parse_variants("all") == ALL_VARIANTS
    assert parse_variants("none") == ()
    assert parse_variants("rot90, crop-center@10") == ("rot90", "crop-center@10")
    with pytest.raises(Exception, match="rotate-sideways"):
        parse_variants("rot90,rotate-sideways")


def test_each_variant_is_its_transform_hashed(originals):
    folder, datas = originals
    rows, _ = picture_rows(datas[0], "item", ("rotate-cropped+4",))
    variant = {r.hash_type: r.hash_value for r in rows if r.variant == "rotate-cropped+4"}
    plain = {r.hash_type: r.hash_value for r in rows if r.variant == "original"}
    assert set(variant) == {"pdq", "phash", "dhash"}
    # the picture rotated by hand and hashed by the query side is near its variant, far from the original
    copy = io.BytesIO()
    rotate_cropped(_picture(1), 4).save(copy, format="PNG")
    hashes = compute_image_hashes(copy.getvalue(), HashConfig(candidates=()))
    near = (int(hashes.pdq, 16) ^ int(variant["pdq"], 16)).bit_count()
    far = (int(hashes.pdq, 16) ^ int(plain["pdq"], 16)).bit_count()
    assert near < far


def test_bad_files_get_one_line_each_counted_never_a_traceback(originals, tmp_path, capfd):
    folder, _ = originals
    (folder / "notes.txt").write_text("not a picture")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.png").write_bytes(_save(_picture(3), tmp_path / "x.png")[:200])
    os.symlink(tmp_path / "gone.png", folder / "link.png")  # a broken link: unreadable
    os.symlink(folder / "sub", folder / "again")  # a folder link: not followed, but said
    out = tmp_path / "list.csv"
    assert main(["list", "from-images", str(folder), "--out", str(out), "--variants", "none"]) == 0
    err = capfd.readouterr().err
    assert "Traceback" not in err
    skipped = [
        line for line in err.splitlines() if "skipped" in line and ": " in line and "file(s)" not in line
    ]
    assert sorted(line.split(": skipped ", 1)[1].split(":")[0] for line in skipped) == sorted(
        str(folder / n) for n in ("notes.txt", "empty.jpg", "truncated.png", "link.png", "again")
    )
    assert "cannot read" in next(line for line in skipped if "link.png" in line)
    assert "2 picture(s) hashed" in err and "5 file(s) skipped" in err
    assert {r["item_id"] for r in _rows(out)}  # the good pictures are still listed


def test_tally_counts_by_reason(originals):
    folder, _ = originals
    (folder / "notes.txt").write_text("not a picture")
    tally, bad = Tally(), []
    rows = list(list_rows_from_images(str(folder), variants=(), tally=tally, on_bad=bad.append))
    assert tally.pictures == 2 and tally.rows == len(rows) == 2 * len(LISTED_TYPES)
    assert tally.bad == {"not a picture": 1} and [b.path for b in bad] == [str(folder / "notes.txt")]


def test_an_empty_result_fails_unless_allowed(tmp_path, capfd):
    folder = tmp_path / "nothing"
    folder.mkdir()
    (folder / "readme.txt").write_text("no pictures here")
    out = tmp_path / "list.csv"
    assert main(["list", "from-images", str(folder), "--out", str(out)]) == 3
    assert "no picture under" in capfd.readouterr().err
    assert main(["list", "from-images", str(folder), "--out", str(out), "--allow-empty"]) == 0
    assert main(["index", "build", "--from-images", str(folder), "--out", str(tmp_path / "i.hwidx")]) == 3
    assert main(["list", "from-images", str(tmp_path / "missing"), "--out", str(out)]) == 2
    err = capfd.readouterr().err
    assert "not a folder" in err and "Traceback" not in err


def _match_types(index_path, data: bytes) -> set[str]:
    """Which hash types of the index match the copy, hashed without query-side candidates (the list side
    alone must find it)."""
    from hashwatch.hashing.known_hash_index import KnownHashIndex
    from hashwatch.hashing.match_policy import MatchOptions

    index = KnownHashIndex.load(str(index_path))
    hashes = compute_image_hashes(data, HashConfig(candidates=()))
    return {m.hash_type for m in index.match(hashes, MatchOptions(candidates=()))}


@pytest.mark.parametrize(
    ("edit", "variants"),
    [
        pytest.param(
            lambda im: im.rotate(-5, resample=Image.BICUBIC, expand=False, fillcolor=(0, 0, 0)),
            "rotate-canvas-4",
            id="rotated-5-corners-cropped",
        ),
        pytest.param(
            lambda im: im.crop((0, 0, round(im.width * 0.85), round(im.height * 0.85))).resize(im.size),
            "default",
            id="corner-crop-rescaled",
        ),
        pytest.param(
            lambda im: im.rotate(3, resample=Image.BICUBIC, expand=True), "all", id="rotated+3-expanded"
        ),
    ],
)
def test_an_index_from_images_matches_an_edited_copy_the_plain_list_does_not(
    originals, tmp_path, edit, variants
):
    folder, _ = originals
    plain, with_variants = tmp_path / "plain.hwidx", tmp_path / "variants.hwidx"
    build = ["index", "build", "--from-images", str(folder), "--out"]
    assert main([*build, str(plain), "--variants", "none"]) == 0
    assert main([*build, str(with_variants), "--variants", variants]) == 0
    buf = io.BytesIO()
    edit(_picture(1)).save(buf, format="JPEG", quality=90)
    assert _match_types(plain, buf.getvalue()) == set()
    assert _match_types(with_variants, buf.getvalue())


def test_index_build_takes_lists_and_images_together(originals, tmp_path, capfd):
    folder, datas = originals
    listed = tmp_path / "other.csv"
    listed.write_text("hash_type,hash_value,source\nmd5," + "ab" * 16 + ",other\n")
    out = tmp_path / "both.hwidx"
    assert main(["index", "build", str(listed), "--from-images", str(folder), "--out", str(out)]) == 0
    import json

    report = json.loads(capfd.readouterr().out)
    assert report["items"] == 2  # the two pictures, linked by item_id
    assert report["entries"]["md5"] == 3
    assert main(["index", "build", "--out", str(out)]) == 2
