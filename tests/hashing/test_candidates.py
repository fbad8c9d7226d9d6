"""Query-side candidates: each family on a synthetic image with a known border, caption, rotation, flip or
crop yields the expected candidate, close to the original's hash; images without such an edit yield none."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from hashwatch.hashing import candidate_detectors as D
from hashwatch.hashing import candidates as C
from hashwatch.hashing.algorithms.pdq import pdq_dct
from hashwatch.hashing.decode import decode_image
from hashwatch.hashing.draft_resample import _jarosz_full
from hashwatch.hashing.image_hashes import HashConfig, ImageHashes, compute_image_hashes
from hashwatch.sites.synthetic_images import encode, synthetic_photo


def bits(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return synthetic_photo(21, (640, 480))


@pytest.fixture(scope="module")
def original(photo) -> ImageHashes:
    return compute_image_hashes(encode(photo, quality=92))


def _candidates(image: Image.Image, fmt: str = "JPEG") -> ImageHashes:
    return compute_image_hashes(encode(image, fmt))


def _caption(image: Image.Image, fraction: float, *, top: bool, colour=(0, 0, 0), ink=(255, 255, 255)):
    band = round(image.height * fraction)
    canvas = Image.new("RGB", (image.width, image.height + band), colour)
    canvas.paste(image, (0, band if top else 0))
    y = band / 2 if top else image.height + band / 2
    font = ImageFont.load_default(size=int(band * 0.5))
    ImageDraw.Draw(canvas).text((image.width / 2, y), "a caption", fill=ink, font=font, anchor="mm")
    return canvas


# ---------------------------------------------------------------- the downscale


@pytest.mark.parametrize("n", [64, 65, 100, 127, 128, 129, 300, 683, 1000, 1024, 4001])
def test_fast_jarosz_band_equals_the_reference_matrix(n):
    starts, weights = C.jarosz_band(n)
    dense = np.zeros((64, n))
    for i in range(64):
        idx = starts[i] + np.arange(weights.shape[1])
        ok = idx < n
        dense[i, idx[ok]] += weights[i, ok]
    assert np.abs(dense - _jarosz_full(n)).max() < 1e-12


def test_a_large_png_is_worked_on_as_a_reduced_draft():
    luma = np.random.default_rng(1).random((3000, 4000), dtype=np.float32)
    reduced, scale = C.reduce_working_image(luma, 1)
    assert scale == 11 and reduced.shape == (3000 // 11, 4000 // 11)
    assert np.isclose(reduced[0, 0], luma[:11, :11].mean(), atol=1e-5)
    small, same = C.reduce_working_image(luma[:300, :400], 2)
    assert same == 2 and small.shape == (300, 400)


@pytest.mark.parametrize("k", [2, 3, 5, 7, 11])
def test_block_means_are_bit_identical_to_numpy_mean_for_8_bit_luma(k):
    luma = np.random.default_rng(k).integers(0, 256, (256 * k + k - 1, 300 * k + 1)).astype(np.float32)
    reduced, _ = C.reduce_working_image(luma, 1)
    h2, w2 = luma.shape[0] // k, luma.shape[1] // k
    reference = luma[: h2 * k, : w2 * k].reshape(h2, k, w2, k).mean(axis=(1, 3), dtype=np.float32)
    assert reduced.dtype == np.float32 and np.array_equal(reduced, reference)


@pytest.mark.parametrize(("h", "w"), [(408, 612), (342, 513), (257, 259), (31, 17)])
def test_column_pass_is_bit_identical_to_the_row_pass(h, w):
    """Hasher.rows_t (C: transpose, then sums down the columns, vectorised) against _apply_rows (C: sums
    along rows): the same bits, for every candidate axis kind, on non-integer data too."""
    luma = (np.random.default_rng(h).random((h, w)) * 255).astype(np.float32)
    hasher = C._Hasher(luma, (2 * w, 2 * h), 2, C.candidate_hash_types(("pdq",)))
    for spec in [("range",), ("reversed",), ("extend", 5, "centre"), ("extend", 10, "end")]:
        band = hasher.sized_axis(spec[0], False, *spec[1:])
        assert np.array_equal(hasher.rows_t(band), C._apply_rows(luma, band).T)
    band = C.axis_band(np.arange(6, 2 * w - 8), 2, w)  # a box's axis, as trimmed uses
    assert np.array_equal(hasher.rows_t(band), C._apply_rows(luma, band).T)


def test_batched_hashes_equal_one_at_a_time(photo):
    """_Hasher.add_many (stacked products and partitions) against add (one candidate at a time)."""
    rng = np.random.default_rng(5)
    buffers = [rng.random((64, 64)) * 255 for _ in range(5)]
    dcts = [None, pdq_dct(buffers[1]).T, None, None, pdq_dct(buffers[4])]
    one, many = (
        C._Hasher(buffers[0], (64, 64), 1, C.candidate_hash_types(("pdq", "phash"))),
        C._Hasher(buffers[0], (64, 64), 1, C.candidate_hash_types(("pdq", "phash"))),
    )
    for i, (b, d) in enumerate(zip(buffers, dcts, strict=True)):
        one.add(f"c{i}", b, gate=False, dct=d)
    many.add_many([(f"c{i}", b, d) for i, (b, d) in enumerate(zip(buffers, dcts, strict=True))])
    assert many.out == one.out and len(one.out) == 10


# ---------------------------------------------------------------- families


@pytest.mark.parametrize(
    ("name", "transpose"),
    [
        ("rot90-real", Image.Transpose.ROTATE_90),
        ("rot180-real", Image.Transpose.ROTATE_180),
        ("rot270-real", Image.Transpose.ROTATE_270),
        ("flipx-real", Image.Transpose.FLIP_TOP_BOTTOM),
        ("flipy-real", Image.Transpose.FLIP_LEFT_RIGHT),
        ("flip_minus1-real", Image.Transpose.TRANSVERSE),
    ],
)
@pytest.mark.parametrize("size", [(640, 480), (1600, 1200)])
def test_real_dihedral_candidates_are_the_transformed_images_hashes(photo, name, transpose, size):
    """On pixels, not from the DCT: equal to hashing the actually flipped or turned image."""
    image = photo.resize(size)
    h = _candidates(image, "PNG")
    turned = compute_image_hashes(encode(image.transpose(transpose), "PNG"))
    assert bits(h.candidates("pdq")[name], turned.pdq) <= 2
    assert bits(h.candidates("phash")[name], turned.phash) <= 4


def test_real_flip_finds_fine_texture_the_dct_variant_misses():
    """A fine stripe pattern: PDQ's box downscale does not commute with a mirror, so the DCT-derived variant
    of a mirrored copy is far from the original; the real one is not."""
    x = np.arange(1000)
    stripes = (127 + 120 * np.sin(x / 1.9) * (x[::-1] / 1000.0))[None, :] * np.ones((700, 1))
    blobs = np.asarray(synthetic_photo(5, (1000, 700)).convert("L"), dtype=np.float64)
    image = Image.fromarray(np.clip(0.6 * stripes + 0.4 * blobs, 0, 255).astype(np.uint8), "L")
    original = compute_image_hashes(encode(image, "PNG"))
    mirrored = compute_image_hashes(encode(ImageOps.mirror(image), "PNG"))
    dct_variant = mirrored.variants("pdq")["flipy"]
    real = mirrored.candidates("pdq")["flipy-real"]
    assert bits(real, original.pdq) <= 2
    assert bits(real, original.pdq) < bits(dct_variant, original.pdq)


@pytest.mark.parametrize(
    ("border", "colour"),
    [
        ((40, 0, 40, 0), (0, 0, 0)),  # pillar box
        ((0, 60, 0, 60), (0, 0, 0)),  # letterbox
        ((30, 30, 30, 30), (255, 255, 255)),  # white frame
        ((0, 0, 50, 0), (200, 30, 40)),  # one coloured side
        ((10, 25, 35, 5), (90, 90, 90)),  # grey, every side different
    ],
)
def test_uniform_borders_are_trimmed(photo, original, border, colour):
    framed = ImageOps.expand(photo, border=border, fill=colour)
    h = _candidates(framed)
    assert bits(h.pdq, original.pdq) > 31
    assert bits(h.candidates("pdq")["trimmed"], original.pdq) <= 16
    assert bits(h.candidates("phash")["trimmed"], original.phash) <= 4
    decoded = decode_image(encode(framed))
    luma, k = decoded.luma, decoded.draft_scale  # the box is in the working image's (draft) pixels
    x0, y0, x1, y1 = D.find_uniform_border(luma)
    assert abs(x0 * k - border[0]) <= 2 * k and abs(y0 * k - border[1]) <= 2 * k
    assert abs((luma.shape[1] - x1) * k - border[2]) <= 2 * k
    assert abs((luma.shape[0] - y1) * k - border[3]) <= 2 * k


def test_no_border_no_trimmed_candidate(photo):
    h = _candidates(photo)
    assert "pdq:trimmed" not in h.candidate_hashes and "pdq:uncaptioned" not in h.candidate_hashes
    assert D.find_uniform_border(decode_image(encode(photo)).luma) is None


@pytest.mark.parametrize(
    ("fraction", "top", "colour", "ink"),
    [
        (0.12, False, (0, 0, 0), (255, 255, 255)),
        (0.2, False, (0, 0, 0), (255, 255, 255)),
        (0.15, True, (255, 255, 255), (0, 0, 0)),  # a meme-style band on top
    ],
)
def test_caption_bands_are_removed(photo, original, fraction, top, colour, ink):
    captioned = _caption(photo, fraction, top=top, colour=colour, ink=ink)
    h = _candidates(captioned)
    assert bits(h.pdq, original.pdq) > 31
    assert bits(h.candidates("pdq")["uncaptioned"], original.pdq) <= 16
    decoded = decode_image(encode(captioned))
    y0, y1 = D.find_caption_bands(decoded.luma)
    k, rows = decoded.draft_scale, decoded.luma.shape[0]
    band = captioned.height - photo.height
    assert abs((y0 if top else rows - y1) * k - band) <= 4 * k


def test_captions_on_both_sides_and_plain_borders():
    # A uniform band with no text is a border (trimming's), not a caption.
    image = ImageOps.expand(synthetic_photo(3), border=(0, 50, 0, 50), fill=(0, 0, 0))
    assert D.find_caption_bands(decode_image(encode(image)).luma) is None
    both = _caption(_caption(synthetic_photo(3), 0.12, top=True), 0.1, top=False)
    decoded = decode_image(encode(both))
    y0, y1 = D.find_caption_bands(decoded.luma)  # in the working image's (draft) pixels
    k, rows = decoded.draft_scale, decoded.luma.shape[0]
    assert abs(y0 * k - round(480 * 0.12)) <= 4 * k
    assert abs((rows - y1) * k - round((480 + round(480 * 0.12)) * 0.1)) <= 4 * k


def test_a_captioned_picture_with_flat_margins_of_its_own_keeps_them():
    """A studio shot on black: trimming the uncaptioned rows would take the picture's own black margins;
    uncaptioned-bands removes the band only and is the candidate that finds it."""
    picture = ImageOps.expand(synthetic_photo(9, (480, 400)), border=(80, 0, 80, 0), fill=(0, 0, 0))
    known = compute_image_hashes(encode(picture, quality=92))
    h = _candidates(_caption(picture, 0.12, top=False))
    cands = h.candidates("pdq")
    assert bits(cands["uncaptioned-bands"], known.pdq) <= 16
    assert bits(cands["uncaptioned"], known.pdq) > 31  # the margins trimmed too: not the original


def test_a_band_found_on_both_sides_also_gives_each_side_alone():
    luma = np.full((400, 300), 128.0, np.float32)
    luma[30:360, 100:200] = np.random.default_rng(3).random((330, 100)) * 255  # flat margins beside a picture
    boxes = dict(C._uncaptioned_boxes(luma, (30, 360), None))
    assert boxes["uncaptioned"] == (100, 30, 200, 360)
    assert boxes["uncaptioned-bands"] == (0, 30, 300, 360)
    assert boxes["uncaptioned-top"] == (0, 30, 300, 400) and boxes["uncaptioned-bottom"] == (0, 0, 300, 360)
    textured = np.random.default_rng(4).random((400, 300)).astype(np.float32) * 255
    only_bottom = dict(C._uncaptioned_boxes(textured, (0, 360), None))
    assert only_bottom == {"uncaptioned": (0, 0, 300, 360)}  # the same box twice is listed once


def test_a_rotation_is_measured_when_one_side_of_the_picture_is_dark(photo, original):
    """The picture's left side is black but for a trace (3), up to a wavy line: that edge of the rotated copy
    cannot be told from the black corner triangles and is not straight, but the other three edges agree,
    which is enough."""
    import math

    dark = photo.copy()
    wave = [(round(90 + 70 * math.sin(y / 23.0)), y) for y in range(0, 481, 8)]
    ImageDraw.Draw(dark).polygon([(0, 0), *wave, (0, 480)], fill=(3, 3, 3))
    known = compute_image_hashes(encode(dark, quality=92))
    rotated = dark.rotate(3, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))
    luma = decode_image(encode(rotated)).luma
    assert D.find_skew(luma) == pytest.approx(3, abs=0.25)
    assert D.find_skew(luma, min_edges=4) is None  # all four edges asked for: not found
    assert D.find_skew(luma, content_tol=16, min_edges=4) is None  # nor by the detector before
    h = _candidates(rotated)
    (name,) = [k for k in h.candidates("pdq") if k.startswith("deskew")]
    assert bits(h.candidates("pdq")[name], known.pdq) <= 24


def test_the_added_part_of_a_re_extension_is_smoothed_along_its_edge():
    """Repeated edge pixels make streaks; the candidate blurs the added lines of its 64 x 64 buffer only."""
    assert list(C._pad_lines(900, 10, "centre")) == [0, 1, 2, 61, 62, 63]
    assert list(C._pad_lines(900, 10, "start")) == list(range(58, 64))
    streaks = np.tile(np.arange(64, dtype=np.float64) * 4, (64, 1))  # columns of one value each

    class Sizes:
        full_w = full_h = 900

    out = C._smoothed_extension(streaks, 10, "start", "start", Sizes)
    assert np.array_equal(out[:58, :58], streaks[:58, :58])  # the copy's own part is untouched
    assert np.ptp(out[60, :]) < np.ptp(streaks[60, :])  # an added row: its streaks smoothed


@pytest.mark.parametrize("angle", [-5, -2, 2, 3.5, 5])
def test_small_rotations_are_measured_and_undone(photo, original, angle):
    rotated = photo.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))
    luma = decode_image(encode(rotated)).luma
    assert D.find_skew(luma) == pytest.approx(angle, abs=0.25)
    h = _candidates(rotated)
    assert bits(h.pdq, original.pdq) > 31
    (name,) = [k for k in h.candidates("pdq") if k.startswith("deskew")]
    assert name == f"deskew{-D.find_skew(luma):+.1f}"
    assert bits(h.candidates("pdq")[name], original.pdq) <= 24


def test_no_skew_on_an_upright_or_bordered_image(photo):
    assert D.find_skew(decode_image(encode(photo)).luma) is None
    framed = ImageOps.expand(photo, border=30, fill=(0, 0, 0))
    assert D.find_skew(decode_image(encode(framed)).luma) is None


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((16, 12, 624, 468), "extend-c5"),  # 5 % lost, half on each side
        ((32, 24, 640, 480), "extend-br5"),  # 5 % lost on the left and top
        ((64, 48, 640, 480), "extend-br10"),  # 10 % lost on the left and top
    ],
)
def test_slight_crops_are_re_extended(photo, original, box, expected):
    """Found as the matcher finds it: PDQ within 31 or pHash within 4 (any-of). Re-extension is a guess:
    the repeated edge pixels are not the lost strip, so a 10 % corner crop is found only on some photos."""
    h = _candidates(photo.crop(box))
    assert bits(h.pdq, original.pdq) > 31  # the plain PDQ misses it
    pdq = bits(h.candidates("pdq")[expected], original.pdq)
    phash = bits(h.candidates("phash")[expected], original.phash)
    assert pdq <= 31 or phash <= 4, (pdq, phash)


# ---------------------------------------------------------------- configuration


def test_families_can_be_switched_off_and_names_are_checked(photo):
    framed = ImageOps.expand(photo, border=40, fill=(255, 255, 255))
    assert compute_image_hashes(encode(framed), HashConfig(candidates=())).candidate_hashes == {}
    only = compute_image_hashes(encode(framed), HashConfig(candidates=("trimmed",))).candidate_hashes
    assert set(only) == {"pdq:trimmed", "phash:trimmed"}
    with pytest.raises(ValueError, match="unknown candidate families: wobble"):
        HashConfig(candidates=("wobble",))
    every = compute_image_hashes(encode(photo)).candidate_hashes
    # A plain photo: the flips and re-extensions always apply; no border, caption, turn or region is found
    # (unbanded may read a hard edge of the synthetic photo as a band: a candidate that matches nothing).
    families = {C.candidate_family(k.split(":", 1)[1]) for k in every}
    assert {"dihedral_real", "extended"} <= families <= {"dihedral_real", "extended", "unbanded"}


def test_candidate_family_names():
    assert C.candidate_family("trimmed") == "trimmed"
    assert C.candidate_family("uncaptioned") == "uncaptioned"
    assert C.candidate_family("uncaptioned-bands") == C.candidate_family("uncaptioned-top") == "uncaptioned"
    assert C.candidate_family("rot90-real") == "dihedral_real"
    assert C.candidate_family("deskew-2.0") == "deskew"
    assert C.candidate_family("extend-tl10") == "extended"
    assert C.candidate_family("rot90") is None  # a DCT dihedral variant


def test_image_hashes_keep_candidates_through_dict_round_trip(photo):
    h = _candidates(ImageOps.expand(photo, border=20, fill=(0, 0, 0)))
    again = ImageHashes.from_dict(h.to_dict())
    assert again.candidate_hashes == h.candidate_hashes and "pdq:trimmed" in again.candidate_hashes
    assert again.candidates("pdq")["trimmed"] == h.candidate_hashes["pdq:trimmed"]


def test_no_candidates_without_a_plain_hash():
    flat = Image.new("RGB", (300, 200), (128, 128, 128))
    h = compute_image_hashes(encode(flat))
    assert h.pdq is None
    assert not [k for k in h.candidate_hashes if k.startswith("pdq:")]


# ---------------------------------------------------------------- matching through the index


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """A list of 6 synthetic originals' PDQ and pHash (categories photo0..photo5)."""
    from hashwatch.hashing.index_build import build_index
    from hashwatch.hashing.known_hash_index import KnownHashIndex

    folder = tmp_path_factory.mktemp("list")
    rows = ["hash_type,hash_value,category,source"]
    for k in range(6):
        h = compute_image_hashes(encode(synthetic_photo(200 + k), quality=92))
        rows += [f"pdq,{h.pdq},photo{k},test", f"phash,{h.phash},photo{k},test"]
    (folder / "list.csv").write_text("\n".join(rows) + "\n")
    build_index([str(folder / "list.csv")], str(folder / "k.hwidx"))
    return KnownHashIndex.load(str(folder / "k.hwidx"))


def _edited(k: int, edit: str) -> bytes:
    image = synthetic_photo(200 + k)
    if edit == "bordered":
        image = ImageOps.expand(image, border=(0, 50, 0, 50), fill=(0, 0, 0))
    elif edit == "captioned":
        image = _caption(image, 0.15, top=False)
    elif edit == "rotated":
        image = image.rotate(3, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(255, 255, 255))
    elif edit == "flipped":
        image = ImageOps.mirror(image)
    elif edit == "turned":
        image = image.transpose(Image.Transpose.ROTATE_270)
    return encode(image)


@pytest.mark.parametrize(
    ("edit", "family"),
    [
        ("bordered", "trimmed"),
        ("captioned", "uncaptioned"),
        ("rotated", "deskew"),
        ("flipped", None),  # the DCT variant (flipy) or the real flip
        ("turned", None),
    ],
)
@pytest.mark.parametrize("k", [0, 3])
def test_edited_copies_are_found_through_their_candidate(index, edit, family, k):
    from hashwatch.hashing.match_policy import MatchOptions

    h = compute_image_hashes(_edited(k, edit))
    found = index.match(h)
    assert found and {m.category for m in found} == {f"photo{k}"}, found
    best = min((m for m in found if m.hash_type == "pdq"), key=lambda m: m.distance, default=None)
    if family is not None:
        assert best is not None and C.candidate_family(best.variant) == family, found
        # Switched off, the candidate is not matched (neither the hashes nor the matching try it).
        assert not [m for m in index.match(h, MatchOptions(candidates=())) if m.variant == best.variant]
        off = compute_image_hashes(_edited(k, edit), HashConfig(candidates=()))
        assert not index.match(off), "the plain hashes alone should not find this edit"
    else:
        assert all(m.variant is not None for m in found)
    # pHash candidates are matched only when asked (they add false matches on the real-photo evaluation).
    assert all(m.variant is None for m in found if m.hash_type == "phash")


def test_distractors_match_nothing_with_every_candidate(index):
    from hashwatch.hashing.match_policy import MatchOptions

    every = MatchOptions(candidates=C.CANDIDATE_FAMILIES, candidate_hash_types=("pdq", "phash"))
    for seed in range(300, 316):
        image = synthetic_photo(seed)
        if seed % 4 == 1:
            image = ImageOps.expand(image, border=40, fill=(255, 255, 255))
        elif seed % 4 == 2:
            image = _caption(image, 0.12, top=True)
        elif seed % 4 == 3:
            image = image.rotate(4, expand=True)
        h = compute_image_hashes(encode(image), HashConfig(candidates=C.CANDIDATE_FAMILIES))
        assert h.candidate_hashes
        assert index.match(h, every) == [], seed


def test_a_failing_candidate_keeps_the_plain_hashes_and_says_so(photo, monkeypatch):
    """A bug in the candidates must not lose the image's plain hashes: the record is a hash_error naming it."""
    from hashwatch.hashing import image_hashes

    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(image_hashes, "compute_candidates", broken)
    hashes = compute_image_hashes(encode(photo, "JPEG", quality=90))
    assert hashes.pdq and hashes.phash and hashes.md5
    assert hashes.candidate_hashes == {}
    assert hashes.decode_status == "hash_error"
    assert hashes.error_message == "candidates failed (ValueError)"
