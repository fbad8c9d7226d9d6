"""Whether a run could detect anything, and what its exit status says.

A nightly job that detects nothing because its seed file was empty, its list had no usable row or every seed
was refused looks, from outside, like a quiet night. So such a run fails loudly: the summary and the manifest
carry a one-line reason per problem, and the exit status is :data:`EXIT_DETECTED_NOTHING` (3), unless the
user passed ``--allow-empty`` (then the reasons are still printed and recorded, and the run exits 0).

Exit statuses of ``hashwatch crawl`` and ``hashwatch rescan``:

====  ==========================================================================================
0     the run finished and could detect what it was given
1     the run failed (the pipeline raised, or a streaming job lost rows); partial tables are removed
2     bad input or options, found before any work (one line naming the file, line or flag)
3     the run finished but could detect nothing (the reasons are in the summary and the manifest)
====  ==========================================================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from hashwatch.errors import UserError

__all__ = [
    "EXIT_DETECTED_NOTHING",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "blocked_seed_hint",
    "check_output_dir",
    "crawl_problems",
    "index_problems",
    "one_line_error",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DETECTED_NOTHING = 3

ALLOW_EMPTY_HINT = "pass --allow-empty if a run that can detect nothing is what you want"


def check_output_dir(output: str) -> None:
    """Refuse, before any work, a local ``--output-dir`` that cannot hold the run's folders: an existing
    file, a path under a file, or a folder this process cannot write. Remote URLs are checked by the
    writes themselves."""
    if "://" in output:
        return
    path = os.path.abspath(output)
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        where = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise UserError(f"--output-dir {output} {where}: give a folder (it is created if missing)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--output-dir {output}: {existing} is not writable by this user")


def _entries(index_info: Mapping[str, Any]) -> int | None:
    entries = index_info.get("entries")
    if isinstance(entries, Mapping):
        return sum(int(v) for v in entries.values())
    return None


def index_problems(index_info: Mapping[str, Any], match_types: tuple[str, ...] | None = None) -> list[str]:
    """Why nothing could match with this index: no entry at all, or none of the types being matched."""
    entries = index_info.get("entries")
    if not isinstance(entries, Mapping):
        return []
    if not any(entries.values()):
        build = index_info.get("build") or {}
        read, skipped = build.get("rows_read"), build.get("rows_skipped")
        detail = f" ({read} rows read, {skipped} skipped as invalid)" if read is not None else ""
        return [f"the known-hash index has no entry{detail}: nothing can match"]
    if match_types:
        usable = [t for t in match_types if entries.get(t)]
        if not usable:
            held = ", ".join(f"{t} {n}" for t, n in sorted(entries.items()) if n)
            return [f"--match-types {','.join(match_types)} names no type the index holds ({held})"]
    return []


def crawl_problems(report) -> list[str]:
    """Why a finished crawl could detect nothing (empty when it could). ``report``: a RunReport."""
    seeds = report.seed_outcomes
    total = sum(seeds.values())
    if total == 0:
        return ["no seed URL: the seed files hold no URL (only blank or # comment lines, or no rows)"]
    if report.pages_fetched == 0 and report.images_hashed == 0 and report.videos_hashed == 0:
        causes = ", ".join(f"{kind} {n}" for kind, n in sorted(seeds.items(), key=lambda kv: -kv[1]))
        return [f"nothing was fetched: every one of the {total} seed(s) failed or was skipped ({causes})"]
    return []


def blocked_seed_hint(report) -> str | None:
    """A hint when seeds were refused by the address guard (a first crawl of a local site ends so)."""
    blocked = report.seed_outcomes.get("blocked_address", 0)
    if not blocked:
        return None
    return (
        f"{blocked} seed(s) were refused by the SSRF guard (loopback, private or link-local addresses): to "
        "crawl your own or an intranet site, pass --allow-private-networks (loopback and private ranges) or "
        "--allow-network CIDR (docs/crawling.md, SSRF guard)"
    )


def one_line_error(exc: BaseException) -> str:
    """A one-line description of a pipeline failure: the innermost exception's type and the Beam step it
    happened in, never the message text (it could quote anything the step was processing)."""
    chain: list[BaseException] = []
    item: BaseException | None = exc
    while item is not None and item not in chain and len(chain) < 20:
        chain.append(item)
        item = item.__cause__ or item.__context__
    innermost = chain[-1]
    text = str(exc)
    step = ""
    marker = "[while running '"
    if marker in text:
        step = text.rsplit(marker, 1)[1].split("'", 1)[0]
    where = f" in step {step!r}" if step else ""
    kind = type(innermost).__name__
    if kind in ("RuntimeError", "Exception"):
        # Portable runners wrap the worker's exception in a RuntimeError holding its traceback as text.
        raised = _RAISED.findall(text)
        if raised:
            kind = raised[-1]
    return f"{kind}{where}"


_RAISED = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit|Interrupt)):", re.MULTILINE)
