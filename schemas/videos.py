"""``videos/``: one row per distinct video URL fetched in a run, its stream facts, digests and vPDQ frames.

What a rescan reads for videos, as ``images/`` is for images. Video bytes and frames are never stored: only
the digests of the bytes and one PDQ hash (with quality and timestamp) per sampled frame.
"""

from collections.abc import Sequence
from typing import NamedTuple, Optional

import pyarrow as pa

from schemas.arrow_util import check_record_matches_schema


class VpdqFrameRow(NamedTuple):
    """One element of ``videos.vpdq``: a sampled frame's PDQ (:class:`hashwatch.video.frames.VpdqFrame`)."""

    frame_index: int
    timestamp: float
    pdq: str
    quality: int


VPDQ_FRAME_TYPE = pa.struct(
    [
        ("frame_index", pa.int32()),
        ("timestamp", pa.float64()),
        ("pdq", pa.string()),
        ("quality", pa.int32()),
    ]
)

_COLUMNS = [
    ("run_id", str, pa.string()),
    ("video_url", str, pa.string()),
    ("final_url", Optional[str], pa.string()),
    ("page_urls", Sequence[str], pa.list_(pa.string())),  # every page in this run that showed it
    ("depth", int, pa.int32()),
    ("http_status", Optional[int], pa.int32()),
    ("content_type", Optional[str], pa.string()),  # sniffed
    ("bytes_length", int, pa.int64()),
    ("container", Optional[str], pa.string()),  # FFmpeg's format name
    ("codec", Optional[str], pa.string()),
    ("width", Optional[int], pa.int32()),
    ("height", Optional[int], pa.int32()),
    ("duration", Optional[float], pa.float64()),  # seconds
    ("fps", Optional[float], pa.float64()),
    ("frames_decoded", int, pa.int64()),
    ("frames_hashed", int, pa.int32()),  # len(vpdq)
    ("video_md5", str, pa.string()),  # of the file's bytes (pytx video_md5)
    ("video_sha1", Optional[str], pa.string()),
    ("video_sha256", str, pa.string()),
    ("vpdq", Sequence[VpdqFrameRow], pa.list_(VPDQ_FRAME_TYPE)),
    # vPDQ summary: frames at or over the quality floor, and distinct frame hashes among them
    ("vpdq_good_frames", int, pa.int32()),
    ("vpdq_distinct", int, pa.int32()),
    ("decode_status", str, pa.string()),  # ok | a video error kind (hashwatch.video.video_hashes)
    ("decode_error", Optional[str], pa.string()),  # one line; never content
    ("hashed_at", int, pa.timestamp("us", tz="UTC")),
]

VideoRecord = NamedTuple("VideoRecord", [(n, t) for n, t, _ in _COLUMNS])
VideoRecord.__doc__ = """One videos/ row: where the video was seen, its container and stream, its digests and its
vPDQ (one PDQ per sampled frame; frames under the quality floor kept, ignored by matching)."""

VIDEOS_SCHEMA = pa.schema([(n, a) for n, _, a in _COLUMNS])

check_record_matches_schema(VideoRecord, VIDEOS_SCHEMA)
