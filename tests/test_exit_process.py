"""``hashwatch.cli.exit_process``: how the command-line processes end (status kept, output flushed, atexit
handlers run; the interpreter's native teardown skipped)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_status_output_and_atexit_handlers_survive():
    done = _run(
        """
        import atexit, logging, sys
        from hashwatch.cli import exit_process
        logging.basicConfig(stream=sys.stderr, level=logging.INFO)
        atexit.register(lambda: print("atexit ran", flush=False))
        print("unflushed summary", end="")
        logging.getLogger("hashwatch").info("a log line")
        exit_process(3)
        """
    )
    assert done.returncode == 3
    assert done.stdout == "unflushed summaryatexit ran\n"
    assert "a log line" in done.stderr


def test_python_m_hashwatch_cli_keeps_the_error_status():
    done = subprocess.run(
        [sys.executable, "-m", "hashwatch.cli", "crawl", "--no-such-flag"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "--no-such-flag" in done.stderr
