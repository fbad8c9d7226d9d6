"""The C extension ``hashwatch.hashing._mih`` (``_mih.c``): required, and its absence said loudly.

The normal install builds it (setup.py; ``make venv``). Every caller gets it through :func:`mih`, which raises
a one-line :class:`UserError` naming the fix when it is missing, so nothing falls back to a slow numpy path in
silence::

    from hashwatch.hashing.c_extension import mih

    qi, ids, ds = mih().search(...)

Without it the known-hash index would have to scan the whole list per query: at a million PDQ hashes the
numpy scan answers MISSING_COST times slower than the multi-index search (``make bench-hashing``'s index
table; docs/benchmarks.md), so a crawl would crawl.
"""

from __future__ import annotations

from types import ModuleType

from hashwatch.errors import UserError

__all__ = ["MISSING_COST", "mih"]

# Queries/s of the C multi-index search over numpy's brute force, 1e6 random PDQ hashes at radius 31
# (benchmarks.bench_index --quick --methods ours numpy; docs/benchmarks.md has the run).
MISSING_COST = "about 1,000x"

try:
    from hashwatch.hashing import _mih
except ImportError as exc:  # a source tree used without an install, or a build that failed
    _mih = None
    _why = str(exc)
else:
    _why = ""


def mih() -> ModuleType:
    """The loaded extension; a :class:`UserError` (one line: what is missing, how to build it) without it."""
    if _mih is None:
        raise UserError(
            f"hashwatch.hashing._mih, hashwatch's C extension, is not built ({_why or 'not importable'}): "
            "reinstall hashwatch with a C compiler (apt-get install gcc; pip install . or make venv). "
            f"Without it Hamming search would scan the whole list, {MISSING_COST} slower."
        )
    return _mih
