"""DropRecentlySeen: a URL passes once per TTL across windows; marks count as seen; state expires."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing import test_stream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from streaming_support import T0, streaming_pipeline

from transforms.streaming_crawl import StreamWindowing
from transforms.url_dedupe import CHECK, MARK, DropRecentlySeen


def check(url: str, tag: str, at: float):
    return TimestampedValue((url, (CHECK, (url, tag))), at)


def test_once_per_ttl_across_windows_marks_count_and_state_expires():
    windowing = StreamWindowing(60)
    events = (
        test_stream.TestStream()
        .advance_watermark_to(T0)
        .add_elements([check("a", "w0", T0 + 1), check("a", "w0-dup", T0 + 2), check("b", "w0", T0 + 3)])
        .add_elements([TimestampedValue(("m", (MARK, None)), T0 + 4)])
        .advance_watermark_to(T0 + 70)
        .add_elements([check("a", "w1", T0 + 71), check("m", "w1", T0 + 72), check("c", "w1", T0 + 73)])
        # TTL 300 s from T0+1: "a" is forgotten once the watermark passes T0+301.
        .advance_watermark_to(T0 + 400)
        .add_elements([check("a", "w6", T0 + 401), check("b", "w6", T0 + 402)])
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        passed = (
            p
            | events
            | "Window" >> windowing.into()
            | DropRecentlySeen(300, windowing.into)
            | beam.WindowInto(beam.transforms.window.GlobalWindows())
        )
        assert_that(passed, equal_to([("a", "w0"), ("b", "w0"), ("c", "w1"), ("a", "w6"), ("b", "w6")]))


def test_survivors_go_back_to_their_windows():
    windowing = StreamWindowing(60)
    events = (
        test_stream.TestStream()
        .advance_watermark_to(T0)
        .add_elements([check("a", "x", T0 + 1), check("b", "y", T0 + 61)])
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        windows = (
            p
            | events
            | "Window" >> windowing.into()
            | DropRecentlySeen(3600, windowing.into)
            | beam.Map(lambda kv, w=beam.DoFn.WindowParam: (kv[0], int(w.start) - T0))
        )
        assert_that(windows, equal_to([("a", 0), ("b", 60)]))
