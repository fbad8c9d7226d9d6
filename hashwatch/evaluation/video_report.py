"""Scores of the video evaluation: thresholds tuned on the tuning half, recall and false matches on the
held-back half, per edit, ours against the reference; as a dict (``summary.json``) and Markdown.

A pair of a query with its own group's original is a *hit* at threshold T when its query_match_percent is
at least T (and above 0); any other pair reaching T is a *false match*. The threshold is tuned per
implementation on the tuning half alone: among the thresholds of :data:`THRESHOLD_GRID` with no false match
there, those with the highest recall, and of those the highest (the widest margin). Use::

    summary = summarise(results)             # results of video_runner.run_video_eval
    text = markdown(summary)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from statistics import median

from hashwatch.evaluation.video_runner import IMPLS, HalfResult, Pair

__all__ = ["META_QUERY_PERCENT", "THRESHOLD_GRID", "markdown", "summarise", "tune_threshold"]

META_QUERY_PERCENT = 80.0  # pytx's VPDQ_QUERY_MATCH_THRESHOLD_PERCENT
THRESHOLD_GRID: tuple[float, ...] = tuple(float(t) for t in range(5, 101, 5))


def _hit(pair: Pair, threshold: float) -> bool:
    return bool(pair.query_percent > 0 and pair.query_percent >= threshold)


def _recall(own: Sequence[Pair], threshold: float) -> float | None:
    return None if not own else sum(_hit(p, threshold) for p in own) / len(own)


def tune_threshold(pairs: Iterable[Pair]) -> dict:
    """The threshold (see the module's doc) and the tuning half's recall and false matches there."""
    pairs = list(pairs)
    own = [p for p in pairs if p.own]
    other = [p for p in pairs if not p.own]
    rows = [(t, _recall(own, t) or 0.0, sum(_hit(p, t) for p in other)) for t in THRESHOLD_GRID]
    clean = [r for r in rows if r[2] == 0]
    if not clean:
        t, recall, false = rows[-1]
    else:
        best = max(r[1] for r in clean)
        t, recall, false = max(r for r in clean if r[1] == best)
    return {
        "threshold": t,
        "tuning_recall": recall,
        "tuning_false_matches": false,
        "tuning_pairs": len(pairs),
        "nearest_non_matching_percent": max((p.query_percent for p in other), default=0.0),
    }


def _stats(pairs: Sequence[Pair], thresholds: dict[str, float]) -> dict:
    out: dict = {"n": len(pairs) // max(1, len({p.impl for p in pairs}))}
    for impl in IMPLS:
        mine = [p for p in pairs if p.impl == impl]
        if not mine:
            continue
        out[impl] = {
            "recall_meta": _recall(mine, META_QUERY_PERCENT),
            "recall_tuned": _recall(mine, thresholds[impl]),
            "median_query_percent": median(p.query_percent for p in mine),
            "median_compared_percent": median(p.compared_percent for p in mine),
        }
    return out


def summarise(results: dict[str, HalfResult], edit_ids: Sequence[str] = ()) -> dict:
    """Everything docs/evaluation.md reports, from the pairs of both halves."""
    tuning = results["tuning"].pairs
    held = results["held_back"].pairs
    impls = [i for i in IMPLS if any(p.impl == i for p in tuning + held)]
    tuned = {i: tune_threshold(p for p in tuning if p.impl == i) for i in impls}
    thresholds = {i: tuned[i]["threshold"] for i in impls}
    own = [p for p in held if p.own]
    per_edit = {
        e: _stats([p for p in own if p.kind == "edit" and p.query == e], thresholds) for e in edit_ids
    }
    variants = sorted({p.query for p in own if p.kind == "variant"})
    per_variant = {
        v: _stats([p for p in own if p.kind == "variant" and p.query == v], thresholds) for v in variants
    }
    false: dict = {}
    for impl in impls:
        other = [p for p in held if p.impl == impl and not p.own]
        false[impl] = {
            "pairs": len(other),
            "distractor_pairs": sum(p.kind == "distractor" for p in other),
            "at_meta": sum(_hit(p, META_QUERY_PERCENT) for p in other),
            "at_tuned": sum(_hit(p, thresholds[impl]) for p in other),
            "nearest_non_matching_percent": max((p.query_percent for p in other), default=0.0),
            "examples": sorted(
                (
                    f"{p.kind} {p.group or ''}/{p.query} vs {p.listed}: {p.query_percent:.0f} %"
                    for p in other
                    if _hit(p, thresholds[impl])
                ),
            )[:10],
        }
    every_edit = {
        impl: {
            "recall_meta": _recall(
                [p for p in own if p.impl == impl and p.kind == "edit"], META_QUERY_PERCENT
            ),
            "recall_tuned": _recall(
                [p for p in own if p.impl == impl and p.kind == "edit"], thresholds[impl]
            ),
        }
        for impl in impls
    }
    return {
        "impls": impls,
        "thresholds": tuned,
        "per_edit": per_edit,
        "all_edits": every_edit,
        "per_variant": per_variant,
        "false_matches": false,
        "halves": {
            half: {
                "groups": sorted({p.group for p in r.pairs if p.group}),
                "failures": r.failures,
                "cross_check_differences": r.cross_check_differences,
                "frames": r.frames,
                "seconds": r.seconds,
            }
            for half, r in results.items()
        },
        "pair_fields": list(PAIR_FIELDS),
        "pairs": compact_pairs(tuning + held),
    }


PAIR_FIELDS = ("half", "impl", "kind", "query", "group", "listed", "query_percent", "compared_percent")


def compact_pairs(pairs: Iterable[Pair]) -> list[list]:
    """The pairs worth keeping in summary.json, as rows of :data:`PAIR_FIELDS`: every own pair and every
    other pair with a matched frame; the rest (both percentages 0) follow from the halves' queries and lists."""
    return [
        [getattr(p, f) for f in PAIR_FIELDS]
        for p in pairs
        if p.own or p.query_percent > 0 or p.compared_percent > 0
    ]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def markdown(summary: dict) -> str:
    """The tables of docs/evaluation.md's video section (held-back half)."""
    impls = summary["impls"]
    t = {i: summary["thresholds"][i]["threshold"] for i in impls}
    head = ["edit", "n"]
    for i in impls:
        head += [f"{i} @ 80 %", f"{i} @ {t[i]:g} %"]
    head += [f"median query % ({'/'.join(impls)})"]
    lines = ["| " + " | ".join(head) + " |", "| --- | " + " | ".join("---:" for _ in head[1:]) + " |"]

    def row(name: str, stats: dict) -> str:
        cells = [name, str(stats["n"])]
        for i in impls:
            s = stats.get(i, {})
            cells += [_pct(s.get("recall_meta")), _pct(s.get("recall_tuned"))]
        cells.append(" / ".join(f"{stats[i]['median_query_percent']:.0f}" for i in impls if i in stats))
        return "| " + " | ".join(cells) + " |"

    for edit, stats in summary["per_edit"].items():
        lines.append(row(f"`{edit}`", stats))
    for variant, stats in summary["per_variant"].items():
        lines.append(row(f"variant `{variant}`", stats))
    cells = ["**all edits**", ""]
    for i in impls:
        cells += [_pct(summary["all_edits"][i]["recall_meta"]), _pct(summary["all_edits"][i]["recall_tuned"])]
    lines.append("| " + " | ".join(cells + [""]) + " |")
    cells = ["**false matches**", ""]
    for i in impls:
        f = summary["false_matches"][i]
        cells += [f"{f['at_meta']} of {f['pairs']}", f"{f['at_tuned']} of {f['pairs']}"]
    lines.append("| " + " | ".join(cells + [""]) + " |")
    lines.append("")
    for i in impls:
        th = summary["thresholds"][i]
        f = summary["false_matches"][i]
        lines.append(
            f"- {i}: query-percent threshold {th['threshold']:g} % tuned on the tuning half (recall there "
            f"{_pct(th['tuning_recall'])}, {th['tuning_false_matches']} false matches in {th['tuning_pairs']} "
            f"pairs, nearest non-matching pair {th['nearest_non_matching_percent']:.0f} %); held back: "
            f"nearest non-matching pair {f['nearest_non_matching_percent']:.0f} %"
            + (f", false matches: {'; '.join(f['examples'])}" if f["examples"] else "")
        )
    for half, h in summary["halves"].items():
        lines.append(
            f"- {half}: groups {', '.join(h['groups'])}; vPDQ frames {h['frames']}; seconds {h['seconds']}; "
            f"match_video vs brute force: {h['cross_check_differences']} differing pairs"
            + (f"; failures: {'; '.join(h['failures'])}" if h["failures"] else "")
        )
    return "\n".join(lines) + "\n"
