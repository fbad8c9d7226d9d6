"""How long the fuzz and property tests run: bounded in ``make test``, long in ``make fuzz``.

``HASHWATCH_FUZZ=ci`` (the default) keeps the Hypothesis tests to their ``ci`` example counts and each
atheris target to ``FUZZ_SECONDS`` (default 4) seconds. ``HASHWATCH_FUZZ=long`` (``make fuzz``) multiplies
the example counts by ``FUZZ_EXAMPLES_SCALE`` (default 5) and gives each atheris target ``FUZZ_SECONDS``
(default 60). docs/testing.md explains the targets, where crashes land and how one becomes a regression test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("HASHWATCH_FUZZ", "ci") == "long"
SCALE = int(os.environ.get("FUZZ_EXAMPLES_SCALE", "5")) if LONG else 1
ATHERIS_SECONDS = int(os.environ.get("FUZZ_SECONDS", "60" if LONG else "4"))


def fuzz_settings(ci_examples: int) -> settings:
    """Hypothesis settings for a fuzz test that runs ``ci_examples`` examples in ``make test``."""
    return settings(
        max_examples=ci_examples * SCALE,
        deadline=None,  # per-input bounds are explicit (atheris -timeout, the bomb tests' memory)
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
