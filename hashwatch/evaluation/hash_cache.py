"""A disk cache of the evaluation's codes: hashes only, never images.

One JSON file per source image and kind of work (``plain``: the file as it is; ``known-<side>-q<quality>``:
the normalised known original and its edited copies), under a folder named by a fingerprint of everything
that produces the codes: the source of the hashing modules and of the edit suite, and the Pillow and numpy
versions. Change any of them and the old entries are simply not found. Inside a file, codes are stored per
matcher (``Matcher.cache_key``) and edit id, as hex rows, so adding a matcher or an edit computes only what
is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["HashCache", "code_fingerprint", "default_cache_dir"]

# Modules whose source decides the codes (relative to the hashwatch package).
_FINGERPRINTED = (
    "hashing/algorithms/dhash.py",
    "hashing/algorithms/digests.py",
    "hashing/algorithms/pdq.py",
    "hashing/algorithms/phash.py",
    "hashing/candidate_detectors.py",
    "hashing/candidate_fills.py",
    "hashing/candidate_regions.py",
    "hashing/candidates.py",
    "hashing/decode.py",
    "hashing/draft_resample.py",
    "hashing/hash_types.py",
    "hashing/image_hashes.py",
    "evaluation/edits.py",
)
# New modules of the same kinds are fingerprinted as they appear (issue 23: query-side candidate families
# such as candidate_regions.py, PDQ colour paths in algorithms/pdq_*.py), so a candidate written after this
# list cannot be read from a stale cache. candidate_defaults.py only chooses families, which the matchers name.
_FINGERPRINTED_GLOBS = ("hashing/candidate*.py", "hashing/algorithms/pdq*.py")
_NOT_FINGERPRINTED = ("hashing/candidate_defaults.py",)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """16 hex digits naming the code that computes hashes and edits (see the module docstring)."""
    import numpy
    import PIL

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    found = {p.relative_to(root).as_posix() for g in _FINGERPRINTED_GLOBS for p in root.glob(g)}
    for rel in sorted((set(_FINGERPRINTED) | found) - set(_NOT_FINGERPRINTED)):
        digest.update(rel.encode())
        digest.update((root / rel).read_bytes())
    digest.update(f"pillow {PIL.__version__} numpy {numpy.__version__}".encode())
    return digest.hexdigest()[:16]


def default_cache_dir() -> Path:
    """``$HASHWATCH_EVAL_CACHE``, else ``<repo>/.cache/eval`` in a checkout, else ``~/.cache/hashwatch/eval``."""
    env = os.environ.get("HASHWATCH_EVAL_CACHE")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "setup.py").is_file():
        return repo / ".cache" / "eval"
    return Path.home() / ".cache" / "hashwatch" / "eval"


class HashCache:
    """Read and write cached codes; ``root=None`` disables caching (tests on synthetic images)."""

    def __init__(self, root: Path | None) -> None:
        self.root = Path(root) / code_fingerprint() if root is not None else None

    def _path(self, kind: str, key: str) -> Path | None:
        if self.root is None:
            return None
        return self.root / kind / key[:2] / f"{key}.json"

    def load(self, kind: str, key: str) -> dict[str, Any]:
        path = self._path(kind, key)
        if path is None or not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a torn or foreign file is recomputed

    def store(self, kind: str, key: str, entry: dict[str, Any]) -> None:
        path = self._path(kind, key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(entry, fh, separators=(",", ":"))
        os.replace(tmp, path)
