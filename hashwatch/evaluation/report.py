"""The evaluation's report: markdown tables and a PNG plot, from :class:`MatcherSummary` records.

:func:`write_report` writes into an output folder:

- ``summary.json``: every histogram (what any later comparison, e.g. issue 9's query-side matchers, needs to
  recompute any metric at any threshold) and the run's facts (corpus, edits, timings);
- ``results.md``: the tables (thresholds and what they buy, recall per edit family and per edit, the closest
  non-matching pairs, the goals);
- ``recall_vs_false_matches.png``: recall against false-match rate per comparison, one curve per matcher.

Only numbers and file names (paths inside public Debian packages) are written; never image content.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hashwatch.evaluation.edits import EDIT_SUITE, FAMILIES, Edit
from hashwatch.evaluation.metrics import (
    MatcherSummary,
    choose_threshold,
    false_match_rate,
    false_matches,
    nearest_false_distance,
    queries_with_false_match,
    recall_at,
    recall_curve,
    rule_of_three,
)

__all__ = [
    "GOALS",
    "family_edits",
    "goal_rows",
    "headline_table",
    "load_summaries",
    "plot",
    "write_report",
]

# Edits the hash types are built for (the plot's left panel).
ROBUST_FAMILIES: tuple[str, ...] = ("resize", "re-encode", "colour", "blur/sharpen", "noise", "screenshot")

# The goals: (what, matcher, edit ids, minimum recall).
GOALS: tuple[tuple[str, str, tuple[str, ...], float], ...] = (
    ("resize", "pdq", tuple(e.id for e in EDIT_SUITE if e.name == "resize"), 0.99),
    ("re-encode", "pdq", tuple(e.id for e in EDIT_SUITE if e.name == "jpeg"), 0.99),
    ("grayscale", "pdq", ("grayscale",), 0.99),
    ("brightness", "pdq", tuple(e.id for e in EDIT_SUITE if e.name == "brightness"), 0.99),
    ("mild crop (2 %)", "pdq", ("crop_center@2",), 0.99),
    ("flips", "pdq-dihedral", ("flip_horizontal", "flip_vertical"), 1.0),
    ("90-degree rotations", "pdq-dihedral", ("rotate90@90", "rotate90@180", "rotate90@270"), 1.0),
)


def family_edits(family: str, edit_ids: Sequence[str]) -> list[str]:
    """The ids among ``edit_ids`` whose suite edit is in ``family``."""
    fam = {e.id: e.family for e in EDIT_SUITE}
    return [i for i in edit_ids if fam.get(i) == family]


def _pct(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x >= 0.9995 and x < 1:
        return "99.9 %"
    return f"{100 * x:.1f} %" if x < 1 else "100 %"


def _rate(x: float) -> str:
    if x is None or math.isnan(x):
        return "-"
    return "0" if x == 0 else f"{x:.1e}"


def _threshold_of(summary: MatcherSummary, thresholds: Mapping[str, int] | None) -> int:
    if thresholds and summary.matcher in thresholds:
        return int(thresholds[summary.matcher])
    return summary.current_threshold


def headline_table(
    summaries: Sequence[MatcherSummary], thresholds: Mapping[str, int] | None = None
) -> list[str]:
    """Recall per edit family (rows) and matcher (columns), at each matcher's threshold."""
    head = "| edit family | " + " | ".join(
        f"{s.matcher} @ {_threshold_of(s, thresholds)}{'' if s.matched_by_default else ' (off by default)'}"
        for s in summaries
    )
    lines = [head + " |", "| --- |" + " ---: |" * len(summaries)]
    edit_ids = summaries[0].edit_ids
    for fam in FAMILIES:
        ids = family_edits(fam, edit_ids)
        if not ids or fam == "original":
            continue
        cells = [_pct(recall_at(s, _threshold_of(s, thresholds), ids)) for s in summaries]
        lines.append(f"| {fam} ({len(ids)}) | " + " | ".join(cells) + " |")
    robust = [i for f in ROBUST_FAMILIES for i in family_edits(f, edit_ids)]
    everything = [i for i in edit_ids if i != "original"]
    for name, ids in (("edits hashes are made for", robust), ("all edits", everything)):
        cells = [_pct(recall_at(s, _threshold_of(s, thresholds), ids)) for s in summaries]
        lines.append(f"| **{name}** ({len(ids)}) | " + " | ".join(cells) + " |")
    cells = [f"{false_matches(s, _threshold_of(s, thresholds))} in {s.comparisons():,}" for s in summaries]
    lines.append("| **false matches** | " + " | ".join(cells) + " |")
    cells = [
        f"{false_matches(s, _threshold_of(s, thresholds), [])} in {s.distractor_pairs:,}" for s in summaries
    ]
    lines.append("| of which distractors x originals | " + " | ".join(cells) + " |")
    return lines


def threshold_table(summaries: Sequence[MatcherSummary], thresholds: Mapping[str, int] | None) -> list[str]:
    lines = [
        "| matcher | nearest non-matching pair | largest threshold with no false match | recall there "
        "(all edits) | hashwatch default | recall (all edits) | recall (edits hashes are made for) | "
        "false matches | 95 % bound on the rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in summaries:
        everything = [i for i in s.edit_ids if i != "original"]
        robust = [i for f in ROBUST_FAMILIES for i in family_edits(f, s.edit_ids)]
        best = choose_threshold(s)
        t = _threshold_of(s, thresholds)
        fm = false_matches(s, t)
        bound = rule_of_three(s.comparisons()) if fm == 0 else false_match_rate(s, t)
        lines.append(
            f"| {s.matcher} | {nearest_false_distance(s)} | {'none' if best is None else best} | "
            f"{'-' if best is None else _pct(recall_at(s, best, everything))} | "
            f"{t} | {_pct(recall_at(s, t, everything))} | {_pct(recall_at(s, t, robust))} | {fm} | "
            f"{'< ' if fm == 0 else ''}{_rate(bound)} |"
        )
    return lines


def per_edit_table(summaries: Sequence[MatcherSummary], thresholds: Mapping[str, int] | None) -> list[str]:
    by_id: dict[str, Edit] = {e.id: e for e in EDIT_SUITE}
    lines = [
        "| family | edit | " + " | ".join(s.matcher for s in summaries) + " |",
        "| --- | --- |" + " ---: |" * len(summaries),
    ]
    for edit_id in summaries[0].edit_ids:
        edit = by_id.get(edit_id)
        cells = [_pct(recall_at(s, _threshold_of(s, thresholds), [edit_id])) for s in summaries]
        fam, label = (edit.family, edit.label) if edit else ("", edit_id)
        lines.append(f"| {fam} | {label} | " + " | ".join(cells) + " |")
    return lines


def goal_rows(summaries: Sequence[MatcherSummary], thresholds: Mapping[str, int] | None) -> list[dict]:
    by_name = {s.matcher: s for s in summaries}
    rows = []
    for what, matcher, goal_ids, minimum in GOALS:
        s = by_name.get(matcher)
        ids = [i for i in goal_ids if s is not None and i in s.own_hist]
        if s is None or not ids:
            continue
        r = recall_at(s, _threshold_of(s, thresholds), ids)
        rows.append({"goal": what, "matcher": matcher, "minimum": minimum, "recall": r, "met": r >= minimum})
    return rows


def closest_table(summaries: Sequence[MatcherSummary], per_matcher: int = 5) -> list[str]:
    lines = ["| matcher | distance | query (edit) | known original |", "| --- | ---: | --- | --- |"]
    for s in summaries:
        for p in s.closest[:per_matcher]:
            lines.append(f"| {s.matcher} | {p.distance} | `{p.query}` ({p.edit}) | `{p.known}` |")
    return lines


def plot(
    summaries: Sequence[MatcherSummary], path: Path, thresholds: Mapping[str, int] | None = None
) -> None:
    """Recall against false-match rate per comparison, one curve per matcher and a point per threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    edit_ids = summaries[0].edit_ids
    panels = (
        ("Edits hashes are made for", [i for f in ROBUST_FAMILIES for i in family_edits(f, edit_ids)], 0.5),
        ("Full edit suite", [i for i in edit_ids if i != "original"], 0.0),
    )
    # Zero false matches cannot sit on a log axis: such points are drawn in a band left of the smallest
    # non-zero rate this run could measure (one false match in all its comparisons).
    smallest = min(1 / s.comparisons() for s in summaries if s.comparisons())
    floor = smallest / 4
    for ax, (title, ids, ymin) in zip(axes, panels, strict=True):
        for s in summaries:
            comparisons = s.comparisons()
            if not comparisons:  # a fusion whose score saturates for every unrelated pair: no rate to draw
                continue
            recall = recall_curve(s, ids)
            rates = [false_matches(s, t) / comparisons for t in s.thresholds]
            xs = [max(r, floor) for r in rates]
            label = s.matcher if s.matched_by_default else f"{s.matcher} (off by default)"
            (line,) = ax.plot(xs, recall, marker=".", markersize=3, label=label)
            t = _threshold_of(s, thresholds)
            if t in s.thresholds:
                k = s.thresholds.index(t)
                ax.plot(
                    [xs[k]], [recall[k]], marker="o", markersize=9, color=line.get_color(), fillstyle="none"
                )
        ax.set_xscale("log")
        ax.axvspan(floor / 2, smallest / 1.5, color="0.92", zorder=0)
        ax.text(floor, ymin + 0.02, "no false\nmatch", ha="center", fontsize=8, color="0.3")
        ax.set_xlim(floor / 2, 1.5)
        ax.set_ylim(ymin, 1.01)
        ax.set_title(title)
        ax.set_xlabel("false-match rate per comparison")
        ax.grid(True, which="major", linewidth=0.3)
    axes[0].set_ylabel("recall")
    axes[1].legend(title="circle: hashwatch default", loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    summaries: Sequence[MatcherSummary],
    out_dir: Path,
    facts: Mapping[str, Any],
    thresholds: Mapping[str, int] | None = None,
) -> dict[str, Path]:
    """``summary.json``, ``results.md`` and the plot in ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary": out_dir / "summary.json",
        "results": out_dir / "results.md",
        "plot": out_dir / "recall_vs_false_matches.png",
    }
    goals = goal_rows(summaries, thresholds)
    paths["summary"].write_text(
        json.dumps({"facts": dict(facts), "goals": goals, "matchers": [s.to_dict() for s in summaries]})
        + "\n",
        encoding="utf-8",
    )
    plot(summaries, paths["plot"], thresholds)
    lines = [
        "# Detection-quality results",
        "",
        "Written by `hashwatch eval` (see docs/evaluation.md for the method). Recall is the share of edited",
        "copies found within the threshold of their own original; a false match is an edited copy or a",
        "distractor within the threshold of a *different* original.",
        "",
        "## Run",
        "",
    ]
    for k, v in facts.items():
        text = ", ".join(f"{a} {b}" for a, b in v.items()) if isinstance(v, dict) else v
        lines.append(f"- {k}: {text}")
    lines += [f"- pairs within a photo series, not counted: {summaries[0].same_scene_pairs:,}"]
    lines += ["", "## Thresholds", ""] + threshold_table(summaries, thresholds)
    lines += ["", "## Recall per edit family at hashwatch's default thresholds", ""]
    lines += headline_table(summaries, thresholds)
    lines += [
        "",
        "## Goals",
        "",
        "| goal | matcher | recall | minimum | met |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    lines += [
        f"| {g['goal']} | {g['matcher']} | {_pct(g['recall'])} | {_pct(g['minimum'])} | "
        f"{'yes' if g['met'] else '**no**'} |"
        for g in goals
    ]
    lines += ["", "## Recall per edit", ""] + per_edit_table(summaries, thresholds)
    lines += ["", "## Closest non-matching pairs", ""] + closest_table(summaries)
    lines += ["", "## Queries with a false match at the default", ""]
    lines += [
        f"- {s.matcher} @ {_threshold_of(s, thresholds)}: "
        f"{queries_with_false_match(s, _threshold_of(s, thresholds))}"
        for s in summaries
    ]
    paths["results"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def load_summaries(path: Path) -> tuple[list[MatcherSummary], dict[str, Any]]:
    """Read a ``summary.json`` back (e.g. to compare a new matcher with this run)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [MatcherSummary.from_dict(d) for d in data["matchers"]], data.get("facts", {})
