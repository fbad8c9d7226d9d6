"""The held-back evaluation's report (issue 23): both halves side by side, the held-back half the headline.

:func:`write_held_back_report` writes into an output folder (``docs/eval/held_back`` by default):

- ``results.md``: thresholds (hashwatch's current one and the one the tuning half chooses: the largest with no
  false match on the tuning half's distractors, other originals and harder negatives), recall on both halves
  at both, recall per edit family on both halves, families under 85 %, the negatives' nearest distances
  (count, min, p1, median) and false matches per kind, the ROC table;
- ``roc.png``: recall against false-match rate over every threshold, one curve per matcher (held-back solid,
  tuning dashed);
- ``summary.json``: every histogram of both halves (``MatcherSummary.to_dict``) and the run's facts.

Only numbers and labels (paths inside public Debian packages) are written; never image content.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hashwatch.evaluation.metrics import (
    MatcherSummary,
    choose_threshold_with_negatives,
    cumulative,
    nearest_stats,
    negative_false_matches,
    queries_with_false_match,
    recall_at,
    recall_curve,
)
from hashwatch.evaluation.split import HELD_BACK, TUNING

__all__ = [
    "FAMILY_GOAL",
    "family_recall",
    "load_held_back_summary",
    "tuned_thresholds",
    "write_held_back_report",
]

FAMILY_GOAL = 0.85  # issue 23: no family under 85 % on the held-back half


def _pct(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * x:.1f} %"


def _families(edits) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in edits:
        if e.family != "original":
            out.setdefault(e.family, []).append(e.id)
    return out


def tuned_thresholds(tuning: Sequence[MatcherSummary]) -> dict[str, int | None]:
    """Per matcher, the threshold the tuning half chooses (harder negatives counted)."""
    return {s.matcher: choose_threshold_with_negatives(s) for s in tuning}


def family_recall(summary: MatcherSummary, threshold: int, edits) -> dict[str, float]:
    return {
        f: recall_at(summary, threshold, [i for i in ids if i in summary.own_hist])
        for f, ids in _families(edits).items()
    }


def _edited(summary: MatcherSummary) -> list[str]:
    return [e for e in summary.edit_ids if e != "original"]


def _negative_rows(s: MatcherSummary) -> list[tuple[str, np.ndarray | None]]:
    length = s.max_distance + 2
    others = sum((np.asarray(h) for h in s.other_nearest_hist.values()), np.zeros(length, np.int64))
    rows: list[tuple[str, np.ndarray | None]] = [
        ("edited copies vs other originals", others),
        ("distractors", s.distractor_nearest_hist),
        ("same scene (other shots of a copy's series)", s.same_scene_nearest_hist),
    ]
    rows += list(s.negative_nearest_hist.items())
    return rows


def headline_lines(
    by_half: Mapping[str, Sequence[MatcherSummary]], tuned: Mapping[str, int | None]
) -> list[str]:
    lines = [
        "| matcher | current threshold | recall, held-back | recall, tuning | negatives with a false match, "
        "held-back / tuning | threshold chosen on tuning | recall there, held-back | recall there, tuning "
        "| negatives with a false match there, held-back / tuning |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for held, tune in zip(by_half[HELD_BACK], by_half[TUNING], strict=True):
        t, c = held.current_threshold, tuned[held.matcher]

        def fm(s: MatcherSummary, th: int) -> int:
            """Negative queries (copies, distractors, harder negatives) with a false match; not same-scene."""
            negs = negative_false_matches(s, th)
            return queries_with_false_match(s, th) + sum(negs.values()) - negs.get("same scene", 0)

        cells = [
            held.matcher,
            str(t),
            _pct(recall_at(held, t, _edited(held))),
            _pct(recall_at(tune, t, _edited(tune))),
            f"{fm(held, t)} / {fm(tune, t)}",
            "none" if c is None else str(c),
            "-" if c is None else _pct(recall_at(held, c, _edited(held))),
            "-" if c is None else _pct(recall_at(tune, c, _edited(tune))),
            "-" if c is None else f"{fm(held, c)} / {fm(tune, c)}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def family_lines(by_half: Mapping[str, Sequence[MatcherSummary]], edits) -> list[str]:
    held, tune = by_half[HELD_BACK], by_half[TUNING]
    head = " | ".join(f"{s.matcher} @ {s.current_threshold} held-back / tuning" for s in held)
    lines = [f"| edit family | {head} |", "| --- |" + " ---: |" * len(held)]
    fams = _families(edits)
    for fam, ids in fams.items():
        cells = []
        for h, t in zip(held, tune, strict=True):
            ids_here = [i for i in ids if i in h.own_hist]
            r_h, r_t = (
                recall_at(h, h.current_threshold, ids_here),
                recall_at(t, t.current_threshold, ids_here),
            )
            mark = "**" if r_h < FAMILY_GOAL else ""
            cells.append(f"{mark}{_pct(r_h)}{mark} / {_pct(r_t)}")
        lines.append(f"| {fam} ({len(ids)}) | " + " | ".join(cells) + " |")
    cells = [
        f"**{_pct(recall_at(h, h.current_threshold, _edited(h)))}** / {_pct(recall_at(t, t.current_threshold, _edited(t)))}"
        for h, t in zip(held, tune, strict=True)
    ]
    lines.append(f"| **all edits** ({sum(len(v) for v in fams.values())}) | " + " | ".join(cells) + " |")
    return lines


def under_goal_lines(by_half: Mapping[str, Sequence[MatcherSummary]], edits) -> list[str]:
    lines = []
    for s in by_half[HELD_BACK]:
        low = {f: r for f, r in family_recall(s, s.current_threshold, edits).items() if r < FAMILY_GOAL}
        text = ", ".join(
            f"{f} {_pct(r)} ({100 * (FAMILY_GOAL - r):.1f} points short)"
            for f, r in sorted(low.items(), key=lambda x: x[1])
        )
        lines.append(
            f"- {s.matcher} @ {s.current_threshold}: {len(low)} families under 85 %"
            + (f": {text}" if text else "")
        )
    return lines


def negatives_lines(
    by_half: Mapping[str, Sequence[MatcherSummary]], tuned: Mapping[str, int | None]
) -> list[str]:
    lines: list[str] = []
    for held, tune in zip(by_half[HELD_BACK], by_half[TUNING], strict=True):
        t, c = held.current_threshold, tuned[held.matcher]
        lines += [
            "",
            f"**{held.matcher}** (current threshold {t}, chosen on tuning {c}): nearest distance of each negative "
            "to a list entry it must not match",
            "",
            f"| negatives | held-back: count | no hash | min | p1 | median | false @ {t} | false @ {c} "
            f"| tuning: count | no hash | min | p1 | median | false @ {t} | false @ {c} |",
            "| --- |" + " ---: |" * 14,
        ]
        tune_rows = dict(_negative_rows(tune))
        for kind, hist in _negative_rows(held):
            cells = []
            for h in (hist, tune_rows.get(kind)):
                st = nearest_stats(h)
                cells += [
                    f"{st['count']:,}",
                    f"{st['no_hash']:,}",
                    *("-" if st[k] is None else str(st[k]) for k in ("min", "p1", "median")),
                    str(cumulative(h, t)) if h is not None else "-",
                    str(cumulative(h, c)) if h is not None and c is not None else "-",
                ]
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines


def _rate_curve(s: MatcherSummary) -> tuple[np.ndarray, np.ndarray]:
    """(recall over the edited copies, false-match rate per negative query) at every threshold: a negative
    query is an edited copy, a distractor or a harder negative; it is false at t if its nearest wrong list
    entry is within t (same-scene pairs left out, reported apart)."""
    recall = recall_curve(s, _edited(s))
    length = s.max_distance + 2
    nearest = sum((np.asarray(h) for h in s.other_nearest_hist.values()), np.zeros(length, np.int64))
    nearest = nearest + s.distractor_nearest_hist
    for h in s.negative_nearest_hist.values():
        nearest = nearest + np.asarray(h)
    total = max(1, int(nearest.sum()))
    cum = np.cumsum(nearest[:-1])
    rates = np.array([cum[min(t, len(cum) - 1)] / total for t in s.thresholds])
    return recall, rates


def roc_lines(by_half: Mapping[str, Sequence[MatcherSummary]]) -> list[str]:
    lines = [
        "| matcher | threshold | recall held-back | false-match rate held-back | recall tuning | false-match rate tuning |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for held, tune in zip(by_half[HELD_BACK], by_half[TUNING], strict=True):
        r_h, f_h = _rate_curve(held)
        r_t, f_t = _rate_curve(tune)
        grid = held.thresholds
        step = max(1, len(grid) // 12)
        picks = sorted(set(grid[::step]) | {held.current_threshold} & set(grid))
        for t in picks:
            k = grid.index(t)
            lines.append(
                f"| {held.matcher} | {t} | {_pct(r_h[k])} | {f_h[k]:.2e} | {_pct(r_t[k])} | {f_t[k]:.2e} |"
            )
    return lines


def plot_roc(by_half: Mapping[str, Sequence[MatcherSummary]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    curves = [
        (h, t, _rate_curve(h), _rate_curve(t))
        for h, t in zip(by_half[HELD_BACK], by_half[TUNING], strict=True)
    ]
    positive = [r for _, _, (_, a), (_, b) in curves for r in (*a, *b) if r > 0]
    floor = (min(positive) if positive else 1e-4) / 3  # zero false matches drawn at the left edge
    for held, _, (r_h, f_h), (r_t, f_t) in curves:
        (line,) = ax.plot(
            np.maximum(f_h, floor), r_h, "-", marker=".", markersize=3, label=f"{held.matcher} held-back"
        )
        ax.plot(
            np.maximum(f_t, floor),
            r_t,
            "--",
            color=line.get_color(),
            linewidth=0.8,
            label=f"{held.matcher} tuning",
        )
        if held.current_threshold in held.thresholds:
            k = held.thresholds.index(held.current_threshold)
            ax.plot(
                [max(f_h[k], floor)], [r_h[k]], "o", markersize=9, fillstyle="none", color=line.get_color()
            )
    ax.set_xscale("log")
    ax.set_xlabel("false-match rate (negative queries with a wrong list entry within the threshold)")
    ax.set_ylabel("recall (edited copies, spec suite)")
    ax.set_title("ROC per hash type; circle: current threshold; left edge: no false match")
    ax.grid(True, linewidth=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_held_back_report(
    by_half: Mapping[str, Sequence[MatcherSummary]], out_dir: Path, facts: Mapping[str, Any], edits
) -> dict[str, Path]:
    """``results.md``, ``roc.png`` and ``summary.json`` in ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": out_dir / "results.md",
        "roc": out_dir / "roc.png",
        "summary": out_dir / "summary.json",
    }
    tuned = tuned_thresholds(by_half[TUNING])
    paths["summary"].write_text(
        json.dumps(
            {
                "facts": dict(facts),
                "tuned_thresholds": tuned,
                "halves": {h: [s.to_dict() for s in ss] for h, ss in by_half.items()},
            }
        )
        + "\n",
        encoding="utf-8",
    )
    plot_roc(by_half, paths["roc"])
    lines = [
        "# Held-back evaluation results (issue 23)",
        "",
        'Written by `hashwatch eval` (spec suite; docs/evaluation.md, "Held-back evaluation"). Recall: edited',
        "copies within the threshold of their own original. False match: an edited copy, a distractor or a harder",
        "negative within the threshold of a list entry it must not match. The held-back half is the headline;",
        "thresholds are chosen on the tuning half.",
        "",
        "## Run",
        "",
    ]
    for k, v in facts.items():
        text = ", ".join(f"{a} {b}" for a, b in v.items()) if isinstance(v, dict) else v
        lines.append(f"- {k}: {text}")
    lines += ["", "## Thresholds and recall, both halves", ""] + headline_lines(by_half, tuned)
    lines += ["", "## Recall per edit family (held-back / tuning; bold: held-back under 85 %)", ""]
    lines += family_lines(by_half, edits)
    lines += ["", "## Families under 85 % on the held-back half", ""] + under_goal_lines(by_half, edits)
    lines += ["", "## Negatives: nearest distances and false matches"] + negatives_lines(by_half, tuned)
    lines += ["", "## ROC", "", "![ROC](roc.png)", ""] + roc_lines(by_half)
    lines += [
        "",
        "## Closest non-matching pairs (held-back)",
        "",
        "| matcher | distance | query (edit) | list entry |",
        "| --- | ---: | --- | --- |",
    ]
    for s in by_half[HELD_BACK]:
        for p in s.closest[:5]:
            lines.append(f"| {s.matcher} | {p.distance} | `{p.query}` ({p.edit}) | `{p.known}` |")
    lines += [
        "",
        "## Recall per edit (held-back / tuning, current thresholds)",
        "",
        "| edit | " + " | ".join(s.matcher for s in by_half[HELD_BACK]) + " |",
        "| --- |" + " ---: |" * len(by_half[HELD_BACK]),
    ]
    for e in edits:
        cells = [
            f"{_pct(recall_at(h, h.current_threshold, [e.id]))} / {_pct(recall_at(t, t.current_threshold, [e.id]))}"
            for h, t in zip(by_half[HELD_BACK], by_half[TUNING], strict=True)
            if e.id in h.own_hist
        ]
        if cells:
            lines.append(f"| {e.family}: {e.id} | " + " | ".join(cells) + " |")
    paths["results"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def load_held_back_summary(path: Path) -> tuple[dict[str, list[MatcherSummary]], dict[str, Any]]:
    """Read a held-back ``summary.json`` back: (summaries by half, facts). Rewrite the report from it with
    ``python -m hashwatch.evaluation.held_back_report docs/eval/held_back`` (no hashing)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    halves = {h: [MatcherSummary.from_dict(d) for d in ss] for h, ss in data["halves"].items()}
    return halves, data.get("facts", {})


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from hashwatch.evaluation.edits_spec import SPEC_SUITE

    parser = argparse.ArgumentParser(description="rewrite a held-back report from its summary.json")
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    by_half, facts = load_held_back_summary(args.folder / "summary.json")
    ids = set(by_half[HELD_BACK][0].edit_ids)
    write_held_back_report(by_half, args.folder, facts, [e for e in SPEC_SUITE if e.id in ids])
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
