"""``images/``: one row per distinct image URL fetched and hashed in a run. What a rescan reads.

Every hash hashwatch computes is here, so a nightly rescan against a new list never fetches again. Image bytes
are never stored: inline ``data:`` images are identified as ``data:<mime>;sha256=<hex>``.
"""

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Optional

import pyarrow as pa

from schemas.arrow_util import check_record_matches_schema


class ImageRecord(NamedTuple):
    run_id: str
    image_url: str
    final_url: Optional[str]
    page_urls: Sequence[str]  # every page in this run that showed the image (sorted, distinct)
    depth: int  # smallest crawl depth of those pages
    http_status: Optional[int]
    content_type: Optional[str]  # sniffed
    bytes_length: int
    format: Optional[str]  # decoded format: JPEG, PNG, GIF, WEBP, BMP, TIFF
    width: Optional[int]
    height: Optional[int]
    md5: str
    sha1: str
    sha256: str
    crc32c: str
    phash: Optional[str]  # None when the image did not decode or is too small for perceptual hashes
    dhash: Optional[str]
    pdq: Optional[str]  # None also when pdq_quality < 50
    pdq_quality: Optional[int]
    pdq_dihedral: Optional[Sequence[str]]  # PDQ of the 7 flips/rotations, named in DIHEDRAL_VARIANTS order
    exif_orientation: Optional[int]  # the EXIF Orientation tag, if any (hashes are of the stored pixels)
    decode_status: str  # ok | too_small | decode_error | too_many_pixels | unsupported_format
    decode_error: Optional[str]  # one line; never content
    extra_hashes: Mapping[str, str]  # plug-in hash types: name -> hex
    # Query-side candidates (hashwatch.hashing.candidates): "<type>:<candidate>" -> hex, e.g. "pdq:trimmed"
    candidate_hashes: Mapping[str, str]
    hashed_at: int  # epoch microseconds (UTC)


IMAGES_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("image_url", pa.string()),
        ("final_url", pa.string()),
        ("page_urls", pa.list_(pa.string())),
        ("depth", pa.int32()),
        ("http_status", pa.int32()),
        ("content_type", pa.string()),
        ("bytes_length", pa.int64()),
        ("format", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("md5", pa.string()),
        ("sha1", pa.string()),
        ("sha256", pa.string()),
        ("crc32c", pa.string()),
        ("phash", pa.string()),
        ("dhash", pa.string()),
        ("pdq", pa.string()),
        ("pdq_quality", pa.int32()),
        ("pdq_dihedral", pa.list_(pa.string())),
        ("exif_orientation", pa.int32()),
        ("decode_status", pa.string()),
        ("decode_error", pa.string()),
        ("extra_hashes", pa.map_(pa.string(), pa.string())),
        ("candidate_hashes", pa.map_(pa.string(), pa.string())),
        ("hashed_at", pa.timestamp("us", tz="UTC")),
    ]
)

check_record_matches_schema(ImageRecord, IMAGES_SCHEMA)
