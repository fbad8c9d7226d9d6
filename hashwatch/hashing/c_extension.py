"""The C extension ``hashwatch.hashing._mih`` (``_mih.c``): required, and its absence said loudly.

The normal install builds it (setup.py; ``make venv``). Every caller gets it through :func:`mih`, which raises
a one-line :class:`UserError` naming the fix when it is missing, so nothing falls back to a slow numpy path in
silence::

    from hashwatch.hashing.c_extension import mih

    qi, ids, ds = mih().search(...)

Without it the known-hash index would have to scan the whole list per query (what it did on main, in
silence): :data:`MISSING_COST` (docs/benchmarks.md), and the gap grows with the list.
"""

from __future__ import annotations

from types import ModuleType

from hashwatch.errors import UserError

__all__ = ["MISSING_COST", "mih"]

# CPU time per query of numpy's brute force over the C multi-index search, a million random hashes: PDQ at
# radius 31 37.2 ms against 156 us, pHash at radius 10 1.9 ms against 33 us (docs/benchmarks.md, 2026-12-07).
MISSING_COST = "240x slower for PDQ, 58x for pHash at a million list hashes"

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
            f"Without it Hamming search would scan the whole list: {MISSING_COST}."
        )
    return _mih
