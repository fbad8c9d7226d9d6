"""hashwatch.flink: the launcher's and the cluster scripts' Flink helpers, loadable where Beam is not."""

import subprocess
import sys
from pathlib import Path

REST = Path(__file__).resolve().parents[1] / "hashwatch" / "flink" / "rest.py"


def test_the_package_the_rest_client_and_the_job_watch_load_no_beam():
    """Only worker_pool runs Beam's code; the rest must not drag Beam (seconds of import) into a caller."""
    code = (
        "import sys, hashwatch.flink, hashwatch.flink.rest, hashwatch.flink.job_watch; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('apache_beam', 'grpc', 'pyarrow')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_rest_client_runs_as_a_script_without_site_packages():
    """``deploy/flink/cluster.sh stop`` runs it with the system's python3 and no virtualenv."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(REST), "--master", "127.0.0.1:9", "stop-jobs", "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Nothing listens on port 9 (discard): one line saying the jobs could not be listed, exit status 1.
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("flink-cluster: could not list the jobs through http://127.0.0.1:9")
    assert "Traceback" not in done.stderr
