"""Matching videos against the known-hash index: ``videos/`` rows in, ``matches/`` rows out.

The same :class:`~transforms.match.IndexSource` as images (a :class:`~transforms.match.FixedIndex` in a batch
run, an ``IndexWatch`` in a streaming one), loaded once per worker process through
:class:`~transforms.match.SharedIndex`. Each video is matched by
:func:`hashwatch.video.video_match.match_video` (``video_md5`` exact; its vPDQ frames against listed videos'
frames by Meta's rule, and against listed pictures' PDQ) and its rows built by
:func:`schemas.video_matches.video_match_records`: one per page that showed it and per list entry matched.

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

import time
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.utils.shared import Shared

from schemas import MatchRecord
from schemas.video_rows import video_hashes_of
from schemas.videos import VideoRecord
from transforms.match import IndexSource, SharedIndex
from transforms.progress import ProgressConfig, report_bundle_end, start_reporting
from transforms.run_counters import MATCHING, VIDEO_MATCHING, StageCounters

__all__ = ["MatchVideos", "match_video_rows"]


def match_video_rows(
    index, run_id: str, video: VideoRecord, options, checksum: str, now_us: int, allowlist=None
) -> tuple[list, int]:
    """The matches/ rows of one videos/ row against a loaded index, and how many rows the allowlist left
    out (allowlisted list entries; a known-innocent video by its md5, sha1 or sha256)."""
    from hashwatch.video.video_match import match_video, video_digests_mapping
    from schemas.video_matches import video_match_records

    row = video._asdict()
    hashes = video_hashes_of(row)
    matches = match_video(index, hashes, options)
    allowlisted = 0
    if matches and allowlist is not None:
        matches, suppressed = allowlist.split(matches, video_digests_mapping(hashes))
        allowlisted = len(suppressed) * max(1, len(video.page_urls or ()))
    if not matches:
        return [], allowlisted
    return list(video_match_records(run_id, row, matches, checksum, now_us)), allowlisted


class _MatchVideoFn(beam.DoFn):
    def __init__(
        self, index: IndexSource, run_id: str, options, shared: Shared, progress=None, allowlist=None
    ) -> None:
        self._allowlist = allowlist
        self._index = index
        self._run_id = run_id
        self._options = options
        self._shared = shared
        self._progress = progress

    def setup(self) -> None:
        self._counters = StageCounters(self._run_id)
        start_reporting(self._progress)
        self._index_for = SharedIndex(self._shared, VIDEO_MATCHING)  # the DoFn holds the index

    def process(self, video: VideoRecord) -> Iterator[MatchRecord]:
        ref = self._index.current()
        index = self._index_for(ref)
        self._counters.inc(VIDEO_MATCHING, "videos_matched_against_index")
        rows, allowlisted = match_video_rows(
            index, self._run_id, video, self._options, ref.checksum, time.time_ns() // 1000, self._allowlist
        )
        if allowlisted:
            self._counters.inc(MATCHING, "allowlisted_matches", allowlisted)  # the images' counter: one total
        if rows:
            self._counters.inc(VIDEO_MATCHING, "videos_with_a_match")
            self._counters.inc(VIDEO_MATCHING, "match_rows", len(rows))
        yield from rows

    def finish_bundle(self) -> None:
        self._counters.publish()
        report_bundle_end(self._progress)


class MatchVideos(beam.PTransform):
    """``PCollection[VideoRecord] -> PCollection[MatchRecord]`` against ``index`` (an IndexSource). Example::

    matches = videos | "MatchVideos" >> MatchVideos(FixedIndex(ref), run_id, None, progress, allowlist)
    """

    def __init__(
        self,
        index: IndexSource,
        run_id: str,
        options=None,
        progress: ProgressConfig | None = None,
        allowlist=None,
    ):
        super().__init__()
        self._allowlist = allowlist
        self._index = index
        self._run_id = run_id
        self._options = options
        self._progress = progress

    def expand(self, videos: beam.PCollection[VideoRecord]) -> beam.PCollection[MatchRecord]:
        fn = _MatchVideoFn(
            self._index, self._run_id, self._options, Shared(), self._progress, self._allowlist
        )
        return videos | "Match" >> beam.ParDo(fn).with_output_types(MatchRecord)
