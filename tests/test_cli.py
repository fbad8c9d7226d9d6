import subprocess
import sys

from hashwatch import __version__
from hashwatch.cli import main


def test_version_flag_prints_version():
    out = subprocess.run(
        [sys.executable, "-m", "hashwatch.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"hashwatch {__version__}"


def test_no_command_exits_2():
    assert main([]) == 2
