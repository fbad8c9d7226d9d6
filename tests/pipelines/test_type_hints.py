"""Beam reads the type hints of every ``expand``, ``process`` and mapped function; none may be a string.

A string hint (``from __future__ import annotations`` in a module whose hints Beam reads) becomes ``Any``
with an INFO line "Converting string literal type hint to Any": 63 of them in every crawl before the
hints were fixed. An output hint other than a PCollection's gets a warning that it is ignored. Building the
graphs (not running them) is enough to see both; tests/test_progress_e2e.py checks a whole crawl's log.
"""

import logging

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.crawl_match import build_pipeline, run_config_from
from schemas.known_hashes import IndexRef

_NOISE = ("Converting string literal type hint", "type hint will be ignored")


def _hint_lines(records) -> list[str]:
    return [r.getMessage() for r in records if any(text in r.getMessage() for text in _NOISE)]


def _config(tmp_path, *extra):
    (tmp_path / "seeds").mkdir(exist_ok=True)
    (tmp_path / "seeds" / "a.txt").write_text("http://127.0.0.1/\n")
    argv = [
        f"--seeds={tmp_path / 'seeds' / '*.txt'}",
        f"--output-dir={tmp_path / 'out'}",
        "--index=i",
        *extra,
    ]
    return run_config_from(PipelineOptions(argv)).with_run_id("run-1")


def test_the_batch_crawl_graph_has_no_string_type_hints(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    ref = IndexRef(str(tmp_path / "i.hwidx"), "0" * 64)
    build_pipeline(beam.Pipeline(), _config(tmp_path), "2026-01-01", ref)
    assert _hint_lines(caplog.records) == []
    # The check can fire: a string hint is logged.
    beam.Pipeline() | beam.Create(["x"]) | beam.Map(lambda s: s).with_input_types("str")
    assert _hint_lines(caplog.records)


def test_the_streaming_crawl_graph_has_no_string_type_hints(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    ref = IndexRef(str(tmp_path / "i.hwidx"), "0" * 64)
    build_pipeline(beam.Pipeline(), _config(tmp_path, "--streaming"), "2026-01-01", ref)
    assert _hint_lines(caplog.records) == []


def test_the_rescan_graph_has_no_string_type_hints(tmp_path, caplog):
    from hashwatch.hashing.match_policy import MatchOptions
    from pipelines import rescan
    from transforms.rescan import TombstonesRef

    caplog.set_level(logging.INFO)
    rescan.build_pipeline(
        beam.Pipeline(),
        output=str(tmp_path / "out"),
        run_id="run-1",
        day="2026-01-01",
        ref=IndexRef(str(tmp_path / "i.hwidx"), "0" * 64),
        tombstones=TombstonesRef(None, ""),
        history_files=[str(tmp_path / "images.parquet")],
        match_files=[str(tmp_path / "matches.parquet")],
        retraction_files=[],
        match_options=MatchOptions(),
        allowlist=None,
    )
    assert _hint_lines(caplog.records) == []
