"""The photo corpus helper now lives in :mod:`hashwatch.evaluation.photo_corpus` (``hashwatch eval`` needs it
from an installed package); this name stays for the benchmarks, the tests and ``make photos``."""

import sys

from hashwatch.evaluation.photo_corpus import (  # noqa: F401 - re-exported
    ALL_PACKAGES,
    DEFAULT_PACKAGES,
    Photo,
    PhotoCorpusUnavailable,
    _scan,
    default_cache_dir,
    ensure_package,
    main,
    photo_paths,
    photos,
)

__all__ = [
    "ALL_PACKAGES",
    "DEFAULT_PACKAGES",
    "Photo",
    "PhotoCorpusUnavailable",
    "default_cache_dir",
    "ensure_package",
    "photo_paths",
    "photos",
]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
