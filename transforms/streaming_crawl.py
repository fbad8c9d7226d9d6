"""Crawl rounds on an unbounded stream of seeds: the batch rounds, windowed, with cross-window URL dedupe.

A Beam graph has no cycles, so as in batch the rounds are unrolled (depth 0..``max_depth`` + the round that
logs the links beyond it as ``skipped``/``max_depth``): the same :class:`transforms.crawl.CrawlRounds`,
given :class:`SeenWithinTtl` as the policy for URLs already seen, on seeds in fixed windows
(:class:`StreamWindowing`): each round is one GroupByKey by host, which in a fixed window fires when the watermark passes the window's
end; the rounds of a window then run one after the other, and their output stays in that window.

Across windows, each round drops URLs already decided within ``--dedupe-ttl`` (:class:`DropRecentlySeen`):
seeds before round 0, the links found by round ``d - 1`` before round ``d``. Round ``d``'s dedupe also learns
every URL decided by rounds ``0..d-1`` (their fetch_log rows, as marks), so a link to a page crawled in an
earlier window at a smaller depth is not fetched again. (A URL first crawled at a *greater* depth is not
known to a shallower round's dedupe: it can be fetched once more, at most once per depth and TTL.)

Within a window, what batch guarantees holds: one fetch_log row per URL, ``--max-pages-per-host`` per host
(per window here). Across windows: one row per URL per TTL; a seed or link seen again within the TTL is
dropped and counted (``Seeds/recently_seen``, ``Round<d>/recently_seen``), as batch drops duplicates.

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads the mapped functions'.
"""

from typing import NamedTuple

import apache_beam as beam
from apache_beam.pvalue import PCollection
from apache_beam.transforms import trigger, window

from hashwatch.crawling.frontier import seed_key
from transforms.coders import with_element_type
from transforms.crawl import _CARRY_LINK, _CarryType
from transforms.url_dedupe import CHECK, MARK, DropRecentlySeen

__all__ = ["SeenWithinTtl", "StreamWindowing"]


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


class SeenWithinTtl:
    """:class:`transforms.crawl.SeenUrls` of a streaming crawl: seeds and each round's links pass through
    :class:`DropRecentlySeen`, so a URL decided in an earlier window within ``ttl_s`` is not crawled again.

    The seeds must already be windowed with ``windowing.into()`` (junk allowed: a bad seed becomes a failed
    row). Example::

        seeds = lines | "Window" >> windowing.into()
        crawl = seeds | "Crawl" >> CrawlRounds(config, run_id, hasher, seen=SeenWithinTtl(windowing, 86400))
    """

    def __init__(self, windowing: StreamWindowing, ttl_s: float) -> None:
        self._windowing = windowing
        self._ttl_s = ttl_s

    def _dedupe(self, name: str) -> DropRecentlySeen:
        return DropRecentlySeen(self._ttl_s, self._windowing.into, namespace=f"hashwatch.{name}")

    def seeds_by_url(self, seeds: PCollection) -> PCollection:
        return (
            seeds
            | "Seeds/Normalise" >> beam.Map(_seed_decision)
            # Bad seeds are keyed by their raw text and checked like good ones: a junk line repeated within
            # the TTL gives one failed row, not one per repeat.
            | "Seeds/Check" >> beam.MapTuple(lambda key, decision: (key, (CHECK, (key, [decision]))))
            | "Seeds/Dedupe" >> self._dedupe("Seeds")
        )

    def fresh_links(self, name: str, carry: PCollection, earlier_rows: list[PCollection]) -> PCollection:
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
        return with_element_type((fresh, states) | f"{name}/Carry" >> beam.Flatten(), _CarryType)
