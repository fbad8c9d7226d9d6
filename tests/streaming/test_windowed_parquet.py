"""Per-window Parquet output: every row written exactly once, in its window's file, on the streaming runner.

The case that broke Beam's streaming ``WriteToParquet``: one bundle holding records of several windows (and a
late pane of an earlier window). Runs on the bundle-based DirectRunner with TestStream (named explicitly: the
default DirectRunner tries to download Prism).
"""

from __future__ import annotations

import collections
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from apache_beam.testing import test_stream
from apache_beam.transforms.window import TimestampedValue
from streaming_support import T0, streaming_pipeline

from schemas import FETCH_LOG_SCHEMA, FetchLogRecord
from transforms.streaming_crawl import StreamWindowing
from transforms.windowed_parquet import ParquetFileSink, WriteWindowedParquet, window_file_name

RUN_ID = "test-run"


def row(i: int, at: float) -> FetchLogRecord:
    return FetchLogRecord(
        run_id=RUN_ID,
        url=f"http://127.0.0.1/{i}",
        kind="page",
        depth=0,
        parent_url=None,
        outcome="ok",
        error_kind=None,
        error_message=None,
        http_status=200,
        final_url=None,
        redirect_count=0,
        robots="allowed",
        content_type="text/html",
        declared_content_type=None,
        bytes_length=i,
        attempts=1,
        fetched_at=int(at * 1_000_000),
        elapsed_ms=1.0,
    )


def read_files(root: Path) -> dict[str, list[dict]]:
    return {
        str(path.relative_to(root)): pq.read_table(path).to_pylist()
        for path in sorted(root.rglob("*.parquet"))
    }


def test_rows_written_exactly_once_per_window_and_pane(tmp_path):
    on_time = [(i, T0 + (i % 3) * 60 + 1 + i / 100) for i in range(30)]  # 3 windows, interleaved, one batch
    late = [(100 + i, T0 + 5 + i) for i in range(4)]  # window 0, after the watermark passed it
    events = (
        test_stream.TestStream()
        .advance_watermark_to(T0)
        .add_elements([TimestampedValue(row(i, at), at) for i, at in on_time])
        .advance_watermark_to(T0 + 200)
        .add_elements([TimestampedValue(row(i, at), at) for i, at in late])
        .advance_watermark_to_infinity()
    )
    windowing = StreamWindowing(60, allowed_lateness_s=600)
    with streaming_pipeline() as p:
        (
            p
            | events
            | windowing.into()
            | WriteWindowedParquet(str(tmp_path), "fetch_log", FETCH_LOG_SCHEMA, RUN_ID, codec="zstd")
        )

    files = read_files(tmp_path / "fetch_log")
    day = "dt=2025-11-24/run_id=test-run"
    expected_names = {
        f"{day}/window-20251124T160000Z-20251124T160100Z-pane0-00000-of-00001.parquet",
        f"{day}/window-20251124T160100Z-20251124T160200Z-pane0-00000-of-00001.parquet",
        f"{day}/window-20251124T160200Z-20251124T160300Z-pane0-00000-of-00001.parquet",
        f"{day}/window-20251124T160000Z-20251124T160100Z-pane1-00000-of-00001.parquet",
    }
    assert set(files) == expected_names
    written = collections.Counter(r["bytes_length"] for rows in files.values() for r in rows)
    assert written == collections.Counter([i for i, _ in on_time + late])  # each row once
    for name, rows in files.items():
        start = 0 if "T160000Z-" in name else (1 if "T160100Z-" in name else 2)
        for r in rows:
            at = r["fetched_at"].timestamp()
            assert T0 + 60 * start <= at < T0 + 60 * (start + 1), (name, r["bytes_length"])
    assert sorted(r["bytes_length"] for r in files[sorted(n for n in files if "pane1" in n)[0]]) == [
        100,
        101,
        102,
        103,
    ]
    assert not list((tmp_path / "_temp").rglob("*.parquet")), "temporary files left behind"


def test_file_name_carries_window_pane_and_partition():
    from apache_beam.transforms.window import IntervalWindow
    from apache_beam.utils.windowed_value import PaneInfo, PaneInfoTiming

    window = IntervalWindow(T0, T0 + 60)
    pane = PaneInfo(False, False, PaneInfoTiming.LATE, 2, 1)
    assert window_file_name("r1", window, pane, 0, 1) == (
        "dt=2025-11-24/run_id=r1/window-20251124T160000Z-20251124T160100Z-pane2-00000-of-00001.parquet"
    )


def test_sink_writes_one_valid_file_even_if_flushed_twice(tmp_path):
    path = tmp_path / "one.parquet"
    sink = ParquetFileSink(FETCH_LOG_SCHEMA, "snappy")
    with path.open("wb") as handle:
        sink.open(handle)
        for i in range(5):
            sink.write(row(i, T0))
        sink.flush()
        sink.flush()
    assert pq.read_table(path).num_rows == 5


@pytest.mark.parametrize("codec", ["zstd", "snappy", "gzip", "none"])
def test_every_codec_option_is_accepted(tmp_path, codec):
    sink = ParquetFileSink(FETCH_LOG_SCHEMA, codec)
    with (tmp_path / "f.parquet").open("wb") as handle:
        sink.open(handle)
        sink.write(row(1, T0))
        sink.flush()
    assert pq.read_table(tmp_path / "f.parquet").num_rows == 1
