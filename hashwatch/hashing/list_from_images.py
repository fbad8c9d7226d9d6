"""List rows from original pictures: what a hotline, holding the originals it lists, can publish.

Every file of a folder (recursively, in name order, one at a time: memory is bounded by one picture) is
hashed into known-hash list rows (:data:`~hashwatch.hashing.list_file.COLUMNS`): every built-in image hash
type of the registry (md5, sha1, sha256 of the file's bytes; pdq, phash, dhash of the picture) and, for the
perceptual types, list-side *variants*: the hashes the picture would have after an edit people often make
(a small rotation, a crop, a mirror), so a copy so edited meets a list entry within the type's threshold.
All rows of one picture share its ``item_id`` (the SHA-256 of the file, or its path with
``item_id="path"``), so a pHash match can be corroborated by the same picture's dHash; the ``note`` column
names the variant (``variant=rotate-cropped+3``; ``variant=original`` for the picture's own hashes)::

    rows, bad = list_rows_from_images("originals/", variants=DEFAULT_VARIANTS, source="hotline-x")
    with open("list.csv", "w", newline="") as fh:
        write_list_csv(rows, fh)          # rows is a generator: nothing is held but one picture's rows

Variants (:data:`VARIANTS`), each a transform of the decoded picture:

- ``rotate-canvas±A``: rotated A degrees (2, 4, 6; both ways) on its own canvas: its corners are cut off,
  the canvas's corners black;
- ``rotate-cropped±A``: rotated on its own canvas, cropped to the largest axis-aligned rectangle inside the
  rotated picture (no fill shows, as a "straighten" tool does), scaled back to the canvas size;
- ``rotate-expanded±A``: rotated on an expanded canvas, the corners filled with the picture's mean colour;
- ``crop-center@P``: P % of width and height cut off, half on each side;
- ``crop-corner-tl@P`` (and ``tr``, ``bl``, ``br``): the same amount kept from one corner;
- ``crop-rescale@P``: a centre crop scaled back to the original size;
- the dihedral set (``rot90``, ``rot180``, ``rot270``, ``flipx``, ``flipy``, ``flip_plus1``,
  ``flip_minus1``), only for the types with no dihedral variants of their own on the query side (PDQ has
  them: its list needs no dihedral rows).

Which ones buy recall is measured in docs/evaluation.md (section "List-side hashes"). A variant whose hash
equals one already written for the picture is not written twice. Pixels and bytes are never written: only
hashes and the file's name in the one-line messages about files that are not pictures.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO

from hashwatch.errors import UserError
from hashwatch.hashing.hash_types import IndexKind, Source, hash_types

__all__ = [
    "ALL_VARIANTS",
    "DEFAULT_VARIANTS",
    "VARIANTS",
    "BadFile",
    "ListRow",
    "Variant",
    "iter_image_files",
    "list_rows_from_images",
    "parse_variants",
    "picture_rows",
    "variant_pictures",
    "write_list_csv",
]

# A file larger than this is not read (a picture of the decode limits is far smaller): a bad file, not an OOM.
MAX_FILE_BYTES = 512 * 1024 * 1024
# Variants are made from the picture scaled to fit this many px (PDQ works on 64 x 64, pHash 32 x 32, dHash
# 9 x 8: detail beyond this cannot change a hash, and it bounds the time per variant).
WORKING_SIDE = 512


@dataclass(frozen=True)
class Variant:
    """A list-side variant: ``name`` (written in the ``note`` column), the picture transform, and whether it
    is one of the dihedral set (written only for types without query-side dihedral variants)."""

    name: str
    transform: Callable
    dihedral: bool = False


def _mean_colour(image) -> tuple[int, ...]:
    from PIL import ImageStat

    return tuple(round(v) for v in ImageStat.Stat(image).mean)


def _inscribed(width: int, height: int, degrees: float) -> tuple[float, float]:
    """The largest axis-aligned rectangle inside a ``width`` x ``height`` rectangle rotated by ``degrees``,
    with the canvas's aspect ratio (its width and height)."""
    a = math.radians(abs(degrees))
    c, s = math.cos(a), math.sin(a)
    # w' = k w, h' = k h must fit: k (w c + h s) <= w and k (w s + h c) <= h
    k = min(width / (width * c + height * s), height / (width * s + height * c))
    return width * k, height * k


def rotate_cropped(image, degrees: float):
    """Rotated on its own canvas, cropped to the rectangle no fill shows in, scaled back to the canvas."""
    from PIL import Image

    rotated = image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)
    w, h = _inscribed(image.width, image.height, degrees)
    left, top = (image.width - w) / 2, (image.height - h) / 2
    box = (math.ceil(left), math.ceil(top), math.floor(left + w), math.floor(top + h))
    return rotated.crop(box).resize(image.size, Image.Resampling.BICUBIC)


def rotate_canvas(image, degrees: float):
    """Rotated on its own canvas (its corners cut off), the canvas's corners black: what image tools do by
    default (Pillow's ``rotate``, OpenCV's ``warpAffine``, a phone's rotate without straighten)."""
    from PIL import Image

    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(0, 0, 0))


def rotate_expanded(image, degrees: float):
    """Rotated on an expanded canvas; the corners get the picture's mean colour (black or white would move
    the low frequencies further from the picture's for most pictures)."""
    from PIL import Image

    return image.rotate(
        degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=_mean_colour(image)
    )


def crop_center(image, percent: float):
    dx, dy = round(image.width * percent / 200), round(image.height * percent / 200)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def crop_corner(image, percent: float, corner: str):
    keep_w, keep_h = round(image.width * (1 - percent / 100)), round(image.height * (1 - percent / 100))
    left = 0 if corner[1] == "l" else image.width - keep_w
    top = 0 if corner[0] == "t" else image.height - keep_h
    return image.crop((left, top, left + keep_w, top + keep_h))


def crop_rescale(image, percent: float):
    from PIL import Image

    return crop_center(image, percent).resize(image.size, Image.Resampling.BICUBIC)


def _dihedral(name: str) -> Callable:
    from PIL import Image

    # As PDQ's DIHEDRAL_VARIANTS name them (rot90 = 90 degrees counter-clockwise, flipx = mirrored left-right)
    op = {
        "rot90": Image.Transpose.ROTATE_90,
        "rot180": Image.Transpose.ROTATE_180,
        "rot270": Image.Transpose.ROTATE_270,
        "flipx": Image.Transpose.FLIP_LEFT_RIGHT,
        "flipy": Image.Transpose.FLIP_TOP_BOTTOM,
        "flip_plus1": Image.Transpose.TRANSPOSE,
        "flip_minus1": Image.Transpose.TRANSVERSE,
    }[name]
    return lambda image: image.transpose(op)


def _bind(fn: Callable, *args) -> Callable:
    return lambda image: fn(image, *args)


def _variants() -> dict[str, Variant]:
    out: list[Variant] = []
    for angle in (2, 4, 6):
        for sign in (1, -1):
            a = sign * angle
            out.append(Variant(f"rotate-canvas{a:+d}", _bind(rotate_canvas, a)))
            out.append(Variant(f"rotate-cropped{a:+d}", _bind(rotate_cropped, a)))
            out.append(Variant(f"rotate-expanded{a:+d}", _bind(rotate_expanded, a)))
    for p in (10, 20):
        out.append(Variant(f"crop-center@{p}", _bind(crop_center, p)))
    for corner in ("tl", "tr", "bl", "br"):
        out.append(Variant(f"crop-corner-{corner}@15", _bind(crop_corner, 15, corner)))
    out.append(Variant("crop-rescale@15", _bind(crop_rescale, 15)))
    for name in ("rot90", "rot180", "rot270", "flipx", "flipy", "flip_plus1", "flip_minus1"):
        out.append(Variant(name, _dihedral(name), dihedral=True))
    return {v.name: v for v in out}


VARIANTS: dict[str, Variant] = _variants()
ALL_VARIANTS: tuple[str, ...] = tuple(VARIANTS)
# Chosen on the evaluation's tuning half (docs/lists.md): the variants a greedy choice added while each found
# at least 10 more of the 10,557 edited copies (0.1 %) with no new false match (crop-rescale@15 278,
# crop-corner-tl@15 72, crop-center@10 53, crop-center@20 28, rotate-expanded+2 14, rotate-cropped-2 12), with
# their mirror images (the suite crops one corner and turns one way; a copy on the web may do either).
DEFAULT_VARIANTS: tuple[str, ...] = (
    "crop-rescale@15",
    "crop-center@10",
    "crop-center@20",
    "crop-corner-tl@15",
    "crop-corner-tr@15",
    "crop-corner-bl@15",
    "crop-corner-br@15",
    "rotate-expanded+2",
    "rotate-expanded-2",
    "rotate-cropped+2",
    "rotate-cropped-2",
)


def parse_variants(text: str | None) -> tuple[str, ...]:
    """``--variants``: ``default``, ``all``, ``none`` or names separated by commas (``rotate-cropped+2,rot90``).
    Raises UserError naming the unknown ones."""
    if text is None or text.strip() == "default":
        return DEFAULT_VARIANTS
    text = text.strip()
    if text == "all":
        return ALL_VARIANTS
    if text in ("none", ""):
        return ()
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise UserError(
            f"unknown list-side variant(s) {', '.join(unknown)} (known: default, all, none, {', '.join(VARIANTS)})"
        )
    return names


# ---------------------------------------------------------------- rows


@dataclass(frozen=True)
class ListRow:
    """One list row (the list format's columns)."""

    hash_type: str
    hash_value: str
    item_id: str
    variant: str
    category: str = ""
    source: str = ""
    list_version: str = ""

    def as_csv(self) -> list[str]:
        return [
            self.hash_type,
            self.hash_value,
            self.category,
            self.source,
            self.list_version,
            "",  # deleted: an add
            self.item_id,
            f"variant={self.variant}",
        ]


@dataclass(frozen=True)
class BadFile:
    """A file that gave no rows: its path and why (one line)."""

    path: str
    reason: str

    def line(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Tally:
    """What a run did: pictures hashed, rows written, bad files by reason."""

    pictures: int = 0
    rows: int = 0
    bad: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        bad = sum(self.bad.values())
        text = f"{self.pictures} picture(s) hashed into {self.rows} list row(s)"
        if bad:
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.bad.items()))
            text += f"; {bad} file(s) skipped ({reasons})"
        return text


def iter_image_files(folder: str) -> Iterator[str]:
    """Every file name under ``folder`` (recursively, sorted by name; folder links not followed), broken
    links and special files included: :func:`list_rows_from_images` says why they give no rows."""
    if not os.path.isdir(folder):
        raise UserError(f"not a folder: {folder}")
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]  # not descended: said, not lost
        for name in sorted(files + links):
            yield os.path.join(root, name)


def _perceptual_types() -> list:
    """The registered matchable types computed from the picture (pdq, phash, dhash, picture plug-ins)."""
    return [
        ht
        for ht in hash_types()
        if ht.computed_from == Source.PICTURE and ht.matchable and ht.index_kind != IndexKind.NONE
    ]


def variant_pictures(image, variants: Sequence[str]) -> Iterator[tuple[Variant, object]]:
    """Each named variant of a PIL picture, made one at a time (a generator: one variant alive at once)."""
    for name in variants:
        variant = VARIANTS[name]
        yield variant, variant.transform(image)


def _hash_picture(image, types: Iterable, *, skip_dihedral: bool) -> dict[str, str]:
    """The perceptual hashes of a PIL RGB picture (no bytes involved): ``{type: hex}``; a type under its
    quality gate is left out. ``skip_dihedral``: only the types without query-side dihedral variants."""
    from hashwatch.hashing.decode import DecodedImage, DecodeStatus

    by_mode: dict[str, DecodedImage] = {}
    out: dict[str, str] = {}
    for ht in types:
        if skip_dihedral and ht.variant_names:
            continue
        mode = ht.image_mode
        if mode not in by_mode:
            picture = image if image.mode == mode else image.convert(mode)
            by_mode[mode] = DecodedImage(
                DecodeStatus.OK,
                width=picture.width,
                height=picture.height,
                image=picture,
                full_size=picture.size,
            )
        result = ht.without_variants().compute(b"", by_mode[mode])
        if result.value is None:
            continue
        if ht.min_quality is not None and result.quality is not None and result.quality < ht.min_quality:
            continue
        out[ht.name] = ht.parse(result.value)
    return out


def picture_rows(
    data: bytes,
    item_id: str,
    variants: Sequence[str],
    *,
    category: str = "",
    source: str = "",
    list_version: str = "",
) -> tuple[list[ListRow], str | None]:
    """The rows of one picture (its bytes), or ``([], reason)`` when it is not a picture hashwatch hashes.

    The picture's own hashes are ``compute_image_hashes``'s (what ``hashwatch hash`` prints): every
    matchable type, byte digests included. Variants are hashed for the perceptual types only (a variant's
    bytes would be this program's own encoding: no copy on the web has them)."""
    from hashwatch.hashing.decode import DecodeConfig, DecodeStatus, decode_image
    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    hashes = compute_image_hashes(data, HashConfig(pdq_dihedral=False, candidates=()))
    if hashes.decode_status != DecodeStatus.OK:
        return [], f"not hashed as a picture ({hashes.decode_status}: {hashes.error_message})"
    labels = {"category": category, "source": source, "list_version": list_version}
    rows: list[ListRow] = []
    seen: set[tuple[str, str]] = set()

    def add(name: str, value: str, variant: str) -> None:
        if (name, value) not in seen:
            seen.add((name, value))
            rows.append(ListRow(name, value, item_id, variant, **labels))

    for ht in hash_types():
        if ht.matchable and ht.index_kind != IndexKind.NONE and ht.computed_from != Source.FRAMES:
            value = hashes.hash_value(ht.name)
            if value is not None:
                add(ht.name, value, "original")
    if variants:
        decoded = decode_image(data, DecodeConfig(mode="RGB", draft_min_side=WORKING_SIDE))
        if decoded.image is None:  # decoded once already: only a failing second decode lands here
            return rows, None
        image = decoded.image
        if max(image.size) > WORKING_SIDE:
            from PIL import Image

            scale = WORKING_SIDE / max(image.size)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
        types = _perceptual_types()
        for variant, picture in variant_pictures(image, variants):
            for name, value in _hash_picture(picture, types, skip_dihedral=variant.dihedral).items():
                add(name, value, variant.name)
            del picture
    return rows, None


def _item_id(path: str, folder: str, data: bytes, kind: str) -> str:
    if kind == "path":
        return os.path.relpath(path, folder).replace(os.sep, "/")
    return hashlib.sha256(data).hexdigest()


def list_rows_from_images(
    folder: str,
    *,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    item_id: str = "sha256",
    category: str = "",
    source: str = "",
    list_version: str = "",
    tally: Tally | None = None,
    on_bad: Callable[[BadFile], None] | None = None,
) -> Iterator[ListRow]:
    """The rows of every picture under ``folder``, one picture at a time. A file that gives no rows (not a
    picture, unreadable, too large) goes to ``on_bad`` and is counted in ``tally.bad`` by reason."""
    if item_id not in ("sha256", "path"):
        raise UserError(f"item_id must be sha256 or path, not {item_id!r}")
    tally = tally if tally is not None else Tally()

    def bad(path: str, kind: str, reason: str) -> None:
        tally.bad[kind] = tally.bad.get(kind, 0) + 1
        if on_bad is not None:
            on_bad(BadFile(path, reason))

    for path in iter_image_files(folder):
        try:
            info = os.stat(path)
            if stat.S_ISDIR(info.st_mode):
                bad(path, "folder link", "a link to a folder: not followed (give that folder itself)")
                continue
            if not stat.S_ISREG(info.st_mode):
                bad(path, "not a regular file", "not a regular file (a socket, a pipe or a device)")
                continue
            size = info.st_size
            if size > MAX_FILE_BYTES:
                bad(path, "too large", f"{size} bytes, over the {MAX_FILE_BYTES}-byte limit for a picture")
                continue
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            bad(path, "unreadable", f"cannot read ({exc.strerror or type(exc).__name__})")
            continue
        rows, reason = picture_rows(
            data,
            _item_id(path, folder, data, item_id),
            variants,
            category=category,
            source=source,
            list_version=list_version,
        )
        del data
        if reason is not None:
            bad(path, "not a picture", reason)
            continue
        tally.pictures += 1
        tally.rows += len(rows)
        yield from rows


def write_list_csv(rows: Iterable[ListRow], out: IO[str]) -> int:
    """Write rows as a list CSV (header :data:`~hashwatch.hashing.list_file.COLUMNS`); returns the count."""
    from hashwatch.hashing.list_file import COLUMNS

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    for row in rows:
        writer.writerow(row.as_csv())
        n += 1
    return n
