"""The video evaluation's command line (issue 19; ``make eval-video``): recall per edit and false matches on
the held-back half, thresholds tuned on the tuning half, ours against the reference ``vpdq``::

    python -m hashwatch.evaluation.video                          # everything, writes docs/eval/video/
    python -m hashwatch.evaluation.video --sources synthetic --synthetic 2 --edits crop@10,trim@15 \\
        --no-reference --out /tmp/video-eval

The reference runs in its own interpreter (``--reference-python``, else ``$HASHWATCH_VPDQ_PYTHON``, else
the venv ``make vpdq-reference`` builds: ``$VPDQ_REFERENCE_VENV`` or ``.cache/venv-bench-video``). Without
it the run says so on stderr and the tables have our columns only (``--require-reference``: exit 2 instead).
``--candidates`` adds ``ours+candidates``. Writes ``results.md`` and ``summary.json`` (names, percentages and
thresholds; no hash, no content) to ``--out``. Bad options: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from hashwatch.evaluation.video_corpus import REPO, SOURCES, video_corpus
from hashwatch.evaluation.video_edits import select_edits
from hashwatch.evaluation.video_report import markdown, summarise
from hashwatch.evaluation.video_runner import VideoEvalSettings, reference_hasher, run_video_eval

__all__ = ["main", "reference_python"]

# benchmarks/vpdq_reference_install.sh (make vpdq-reference) builds the reference here, or in $VPDQ_REFERENCE_VENV.
REFERENCE_VENV = REPO / ".cache" / "venv-bench-video"


def reference_python(explicit: str | None) -> str | None:
    """The interpreter that has the reference ``vpdq`` package, or None."""
    if explicit:
        return explicit
    env = os.environ.get("HASHWATCH_VPDQ_PYTHON")
    if env:
        return env
    venv = Path(os.environ.get("VPDQ_REFERENCE_VENV") or REFERENCE_VENV)
    if not venv.is_absolute():
        venv = REPO / venv
    return str(venv / "bin" / "python") if (venv / "bin" / "python").exists() else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hashwatch.evaluation.video", description=__doc__.split("\n")[0]
    )
    p.add_argument("--sources", default=",".join(SOURCES), help=f"comma-separated, of {', '.join(SOURCES)}")
    p.add_argument("--edits", default=None, help="comma-separated edit ids (default: the whole suite)")
    p.add_argument("--synthetic", type=int, default=8, help="synthetic originals (default 8)")
    p.add_argument(
        "--distractors", type=int, default=4, help="synthetic distractors, never listed (default 4)"
    )
    p.add_argument("--synthetic-seconds", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=10.0, help="known originals' frame rate (default 10)")
    p.add_argument("--max-side", type=int, default=320, help="known originals' longer side (default 320)")
    p.add_argument("--max-seconds", type=float, default=12.0, help="known originals' length cap (default 12)")
    p.add_argument(
        "--seconds-per-hash", type=float, default=1.0, help="the queries' vPDQ sampling (default 1)"
    )
    p.add_argument(
        "--list-seconds-per-hash",
        type=float,
        default=None,
        help="the listed originals' sampling (default: --seconds-per-hash; 0: every frame)",
    )
    p.add_argument("--reference-python", default=None, help="a Python with the reference vpdq package")
    p.add_argument("--no-reference", action="store_true", help="ours only")
    p.add_argument(
        "--candidates",
        action="store_true",
        help="also ours+candidates: each sampled query frame matched through its image candidates",
    )
    p.add_argument("--require-reference", action="store_true", help="fail (exit 2) if it is missing")
    p.add_argument("--out", default=str(REPO / "docs" / "eval" / "video"), help="results folder")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        edits = select_edits(args.edits.split(",") if args.edits else None)
        sources = [s for s in args.sources.split(",") if s]
        if set(sources) - set(SOURCES) or not sources:
            raise ValueError(f"--sources takes {', '.join(SOURCES)}")
        if min(args.fps, args.max_side, args.max_seconds, args.seconds_per_hash) <= 0:
            raise ValueError("--fps, --max-side, --max-seconds and --seconds-per-hash must be positive")
        if args.list_seconds_per_hash is not None and args.list_seconds_per_hash < 0:
            raise ValueError("--list-seconds-per-hash must be 0 (every frame) or positive")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    python = None if args.no_reference else reference_python(args.reference_python)
    if python is None and not args.no_reference:
        message = "reference vpdq interpreter not found (make vpdq-reference, or --reference-python)"
        if args.require_reference:
            print(f"error: {message}", file=sys.stderr)
            return 2
        print(f"warning: {message}; ours only", file=sys.stderr)
    settings = VideoEvalSettings(
        args.fps, args.max_side, args.max_seconds, args.seconds_per_hash, args.list_seconds_per_hash
    )
    corpus = video_corpus(
        sources,
        synthetic_originals=args.synthetic if "synthetic" in sources else 0,
        synthetic_distractors=args.distractors,
        synthetic_seconds=args.synthetic_seconds,
    )
    for skipped in corpus.skipped:
        print(f"warning: source skipped: {skipped}", file=sys.stderr)
    if not corpus.tuning or not corpus.held_back:
        print("error: fewer than two groups of originals: nothing to split", file=sys.stderr)
        return 2
    started = time.perf_counter()
    reference = reference_hasher(python) if python else None
    results = run_video_eval(
        corpus,
        edits,
        settings,
        reference,
        log=lambda m: print(m, file=sys.stderr),
        candidates=args.candidates,
    )
    summary = summarise(results, [e.id for e in edits])
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    summary["run"] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_at_end": [round(x, 2) for x in load] if load else None,
        "seconds": round(time.perf_counter() - started, 1),
        "settings": vars(settings) if hasattr(settings, "__dict__") else str(settings),
        "sources": sources,
        "skipped_sources": list(corpus.skipped),
        "reference": python is not None,
        "distractors": [d.name for d in corpus.distractors],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(summary)
    (out / "results.md").write_text(
        f"# Video evaluation results\n\n{json.dumps(summary['run'])}\n\n{text}", encoding="utf-8"
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True), encoding="utf-8")
    print(text)
    print(
        f"wrote {out / 'results.md'} and {out / 'summary.json'} in {summary['run']['seconds']} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
