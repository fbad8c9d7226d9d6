"""Every test in tests/fuzz except the regression tests carries the ``fuzz`` marker (fuzz_config.py sets how
long they run)."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    for item in items:
        path = Path(str(item.fspath))
        if path.parent == _HERE and not path.name.startswith("test_fuzz_regressions"):
            item.add_marker(pytest.mark.fuzz)
