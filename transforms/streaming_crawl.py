"""Crawl rounds on an unbounded stream of seeds: the batch rounds, windowed, with cross-window URL dedupe.

A Beam graph has no cycles, so as in batch the rounds are unrolled (depth 0..``max_depth`` + the round that
logs the links beyond it as ``skipped``/``max_depth``), reusing the batch DoFns of :mod:`transforms.crawl`:
each round is one GroupByKey by host, which in a fixed window fires when the watermark passes the window's
end; the rounds of a window then run one after the other, and their output stays in that window.

Across windows, each round drops URLs already decided within ``--dedupe-ttl`` (:class:`DropRecentlySeen`):
seeds before round 0, the links found by round ``d - 1`` before round ``d``. Round ``d``'s dedupe also learns
every URL decided by rounds ``0..d-1`` (their fetch_log rows, as marks), so a link to a page crawled in an
earlier window at a smaller depth is not fetched again. (A URL first crawled at a *greater* depth is not
known to a shallower round's dedupe: it can be fetched once more, at most once per depth and TTL.)

Within a window, what batch guarantees holds: one fetch_log row per URL, ``--max-pages-per-host`` per host
(per window here). Across windows: one row per URL per TTL; a seed or link seen again within the TTL is
dropped and counted (``Seeds/recently_seen``, ``Round<d>/recently_seen``), as batch drops duplicates.
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
from apache_beam.pvalue import PCollection
from apache_beam.transforms import trigger, window

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.frontier import seed_key
from hashwatch.crawling.url_rules import host_key
from schemas.crawl import CrawlTask, ImageRef
from schemas.fetch_log import FetchLogRecord
from schemas.images import ImageRecord
from transforms.crawl import (
    _CARRY,
    _CARRY_LINK,
    _CARRY_TASK,
    _INLINE,
    _REFS,
    _SKIPPED,
    CrawlResult,
    ImageBodyHandler,
    _CarryType,
    _DecideSeedsFn,
    _FetchPagesFn,
    _with_type,
)
from transforms.url_dedupe import CHECK, MARK, DropRecentlySeen

__all__ = ["StreamWindowing", "StreamingCrawlRounds"]


class StreamWindowing(NamedTuple):
    """Fixed windows of ``length_s`` seconds; elements up to ``allowed_lateness_s`` late fire a late pane
    each (discarding), which the writers put in a file of its own (``pane1``, ...)."""

    length_s: float = 60.0
    allowed_lateness_s: float = 0.0

    def into(self) -> beam.WindowInto:
        return beam.WindowInto(
            window.FixedWindows(self.length_s),
            trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
            accumulation_mode=trigger.AccumulationMode.DISCARDING,
            allowed_lateness=self.allowed_lateness_s,
        )


def _seed_decision(raw: str):
    key, task, problem = seed_key(raw)
    return key, (key, task, problem)


class StreamingCrawlRounds(beam.PTransform):
    """Windowed seed URLs -> :class:`transforms.crawl.CrawlResult`, deduplicating URLs across windows.

    In: ``PCollection[str]`` already windowed with ``windowing.into()`` (junk allowed: a bad seed becomes a
    failed row). Example::

        seeds = lines | "Window" >> windowing.into()
        crawl = seeds | "Crawl" >> StreamingCrawlRounds(config, run_id, hasher, windowing, ttl_s=86400)
    """

    def __init__(
        self,
        config: CrawlConfig,
        run_id: str,
        image_handler: ImageBodyHandler,
        windowing: StreamWindowing,
        ttl_s: float,
    ) -> None:
        super().__init__()
        self._config = config
        self._run_id = run_id
        self._handler = image_handler
        self._windowing = windowing
        self._ttl_s = ttl_s

    def _dedupe(self, name: str) -> DropRecentlySeen:
        return DropRecentlySeen(self._ttl_s, self._windowing.into, namespace=f"hashwatch.{name}")

    def expand(self, seeds: PCollection) -> CrawlResult:
        config, run_id = self._config, self._run_id
        decided = (
            seeds
            | "Seeds/Normalise" >> beam.Map(_seed_decision)
            # Bad seeds are keyed by their raw text and checked like good ones: a junk line repeated within
            # the TTL gives one failed row, not one per repeat.
            | "Seeds/Check" >> beam.MapTuple(lambda key, decision: (key, (CHECK, (key, [decision]))))
            | "Seeds/Dedupe" >> self._dedupe("Seeds")
            | "Seeds/Decide"
            >> beam.ParDo(_DecideSeedsFn(run_id))
            .with_output_types(CrawlTask)
            .with_outputs(_SKIPPED, main="tasks")
        )
        carry = _with_type(decided.tasks, CrawlTask) | "Seeds/KeyByHost" >> beam.Map(
            lambda task: (host_key(task.url), (_CARRY_TASK, task))
        ).with_output_types(_CarryType)
        fetch_logs = [_with_type(decided[_SKIPPED], FetchLogRecord)]
        refs, inline = [], []
        for depth in range(config.max_depth + 2):
            name = f"Round{depth}"
            if depth > 0:
                carry = self._fresh_links(name, carry, fetch_logs)
            fetched = (
                carry
                | f"{name}/GroupByHost" >> beam.GroupByKey()
                | f"{name}/FetchPages"
                >> beam.ParDo(_FetchPagesFn(config, run_id, self._handler))
                .with_output_types(FetchLogRecord)
                .with_outputs(_REFS, _INLINE, _CARRY, main="fetch_log")
            )
            fetch_logs.append(_with_type(fetched.fetch_log, FetchLogRecord))
            refs.append(_with_type(fetched[_REFS], ImageRef))
            inline.append(_with_type(fetched[_INLINE], ImageRecord))
            carry = _with_type(fetched[_CARRY], _CarryType)

        return CrawlResult(
            fetch_log=tuple(fetch_logs) | "FetchLog" >> beam.Flatten(),
            image_refs=tuple(refs) | "ImageRefs" >> beam.Flatten(),
            inline_images=tuple(inline) | "InlineImages" >> beam.Flatten(),
        )

    def _fresh_links(self, name: str, carry: PCollection, earlier_rows: list[PCollection]) -> PCollection:
        """The carry of round ``name`` with links decided within the TTL removed (host states kept)."""
        links, states = carry | f"{name}/SplitCarry" >> beam.Partition(
            lambda entry, _n: 0 if entry[1][0] == _CARRY_LINK else 1, 2
        )
        checks = links | f"{name}/CheckLinks" >> beam.Map(lambda entry: (entry[1][1].url, (CHECK, entry)))
        marks = (
            tuple(earlier_rows)
            | f"{name}/EarlierRows" >> beam.Flatten()
            | f"{name}/MarkDecided" >> beam.Map(lambda row: (row.url, (MARK, None)))
        )
        fresh = (
            (checks, marks)
            | f"{name}/ChecksAndMarks" >> beam.Flatten()
            | f"{name}/Dedupe" >> self._dedupe(name)
        )
        return _with_type((fresh, states) | f"{name}/Carry" >> beam.Flatten(), _CarryType)
