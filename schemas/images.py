"""``images/``: one row per distinct image URL fetched and hashed in a run. What a rescan reads.

Every hash hashwatch computes is here, so a nightly rescan against a new list never fetches again. Image bytes
are never stored: inline ``data:`` images are identified as ``data:<mime>;sha256=<hex>``.
"""

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Optional

import pyarrow as pa

from hashwatch.hashing.hash_types import IMAGES
from schemas.arrow_util import check_record_matches_schema
from schemas.hash_columns import arrow_fields, record_fields

# The columns before and after the hash columns, which the hash-type registry declares (schemas.hash_columns:
# md5, sha1, sha256, crc32c, phash, dhash, pdq, pdq_quality, pdq_dihedral).
_HEAD = [
    ("run_id", str, pa.string()),
    ("image_url", str, pa.string()),
    ("final_url", Optional[str], pa.string()),
    (
        "page_urls",
        Sequence[str],
        pa.list_(pa.string()),
    ),  # every page in this run that showed it (sorted, distinct)
    ("depth", int, pa.int32()),  # smallest crawl depth of those pages
    ("http_status", Optional[int], pa.int32()),
    ("content_type", Optional[str], pa.string()),  # sniffed
    ("bytes_length", int, pa.int64()),
    ("format", Optional[str], pa.string()),  # decoded format: JPEG, PNG, GIF, WEBP, BMP, TIFF
    ("width", Optional[int], pa.int32()),
    ("height", Optional[int], pa.int32()),
]
_TAIL = [
    (
        "exif_orientation",
        Optional[int],
        pa.int32(),
    ),  # the EXIF Orientation tag, if any (hashes are of the stored pixels)
    (
        "decode_status",
        str,
        pa.string(),
    ),  # ok | too_small | decode_error | too_many_pixels | unsupported_format
    ("decode_error", Optional[str], pa.string()),  # one line; never content
    ("extra_hashes", Mapping[str, str], pa.map_(pa.string(), pa.string())),  # plug-in hash types: name -> hex
    # Query-side candidates (hashwatch.hashing.candidates): "<type>:<candidate>" -> hex, e.g. "pdq:trimmed"
    ("candidate_hashes", Mapping[str, str], pa.map_(pa.string(), pa.string())),
    ("hashed_at", int, pa.timestamp("us", tz="UTC")),  # epoch microseconds (UTC)
]


class FrameHashesRow(NamedTuple):
    """One element of ``images.frame_hashes``: a later distinct frame of an animation and its perceptual
    hashes (hash type name -> hex; the first frame's are the row's own hash columns)."""

    frame_index: int
    hashes: Mapping[str, str]


FRAME_HASHES_TYPE = pa.struct([("frame_index", pa.int32()), ("hashes", pa.map_(pa.string(), pa.string()))])

# Animations (animated GIF, WebP, APNG); null on still images and in files written before them.
_ANIMATION = [
    ("frame_count", Optional[int], pa.int32()),  # frames in the animation
    ("frames_hashed", Optional[int], pa.int32()),  # distinct frames hashed (consecutive near-duplicates once)
    ("frame_hashes", Optional[Sequence[FrameHashesRow]], pa.list_(FRAME_HASHES_TYPE)),
]

ImageRecord = NamedTuple(
    "ImageRecord",
    [(n, t) for n, t, _ in _HEAD]
    + record_fields(IMAGES)
    + [(n, t) for n, t, _ in _TAIL]
    + [(n, t) for n, t, _ in _ANIMATION],
)
ImageRecord.__new__.__defaults__ = (None,) * len(_ANIMATION)
ImageRecord.__doc__ = """One images/ row: where the image was seen, what was fetched, every hash (a hash column is None
when the image did not decode or is too small for perceptual hashes; pdq also when pdq_quality < 50;
pdq_dihedral holds PDQ of the 7 flips and turns, named in DIHEDRAL_VARIANTS order). Its hash fields are
ImageHashes.to_columns()."""

IMAGES_SCHEMA = pa.schema(
    [(n, a) for n, _, a in _HEAD]
    + arrow_fields(IMAGES)
    + [(n, a) for n, _, a in _TAIL]
    + [(n, a) for n, _, a in _ANIMATION]
)

check_record_matches_schema(ImageRecord, IMAGES_SCHEMA)
