"""Coverage-guided fuzzing (atheris, libFuzzer for Python) of every parser, one subprocess per target.

``make test`` gives each target ``FUZZ_SECONDS`` (default 4) seconds after its seed corpus; ``make fuzz``
gives it a minute or more (``fuzz_config.py``). The contracts are the ``check_*`` functions of
``fuzz_targets.py``; a crash, a contract violation, a hang over ``--timeout`` seconds or a process over
``--rss-mb`` is written to ``<tmp>/crashes/<target>/`` and fails the test with the replay command
(docs/testing.md: how to turn it into a regression test). Inputs are never printed: an image target's
input is image data, and libFuzzer's own dumps of the input are dropped from the report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_config import ATHERIS_SECONDS, LONG
from fuzz_targets import TARGETS

RUNNER = Path(__file__).with_name("fuzz_runner.py")

pytest.importorskip("atheris", reason="atheris is in the test extras: make venv installs it")


def _report(output: str, limit: int = 60) -> str:
    """The end of libFuzzer's output without its dumps of the input (hex bytes, escaped text, base64)."""
    lines, skip_next = [], False
    for line in output.splitlines():
        if skip_next:  # the escaped-text dump follows the hex dump
            skip_next = False
            continue
        if line.startswith("0x"):
            skip_next = True
            continue
        if line.startswith("Base64:") or (line.startswith('"') and "# Uses:" in line):
            continue
        lines.append(line)
    return "\n".join(lines[-limit:])


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_atheris(target, tmp_path):
    command = [
        sys.executable,
        str(RUNNER),
        target,
        "--workdir",
        str(tmp_path),
        "--seconds",
        str(ATHERIS_SECONDS),
    ]
    if LONG and target == "image":
        command.append("--with-bombs")
    run = subprocess.run(
        command, check=False, capture_output=True, text=True, errors="replace", timeout=ATHERIS_SECONDS + 600
    )
    crashes = sorted(
        p for p in (tmp_path / "crashes" / target).glob("*") if not p.name.startswith("slow-unit")
    )
    if run.returncode != 0 or crashes:
        replay = f"{sys.executable} {RUNNER} {target} --workdir {tmp_path} {' '.join(map(str, crashes))}"
        pytest.fail(
            f"atheris found a failing input for {target}: {[str(p) for p in crashes]}\n"
            f"replay: {replay}\n{_report(run.stderr + run.stdout)}",
            pytrace=False,
        )
    done = [line.strip() for line in run.stderr.splitlines() if "\tDONE " in line or line.startswith("Done ")]
    assert done, _report(run.stderr)  # it fuzzed (libFuzzer's closing lines)
    print(f"{target}: {' | '.join(done)}")  # make fuzz shows it (-rP): runs, coverage, corpus
