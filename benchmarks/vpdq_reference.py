"""Run the reference vPDQ (PyPI ``vpdq``: ThreatExchange's C++ and FFmpeg, Cython bindings) on video files.

The package lives in a virtualenv of its own (``make vpdq-reference`` builds it against Debian's FFmpeg
headers in ``.cache/venv-bench-video``), so this module talks to a worker process running that venv's
Python. The reference reads files (it has no from-memory entry point): callers write their videos under a
temporary folder and delete it after::

    from benchmarks.vpdq_reference import ReferenceVpdq, reference_vpdq

    frames = reference_vpdq("clip.mp4")                  # [ReferenceFrame(frame, quality, pdq, timestamp), ...]
    with ReferenceVpdq(thread_count=0) as ref:           # one worker for many files (no startup per file)
        frames, seconds = ref.hash_file("clip.mp4", seconds_per_hash=1.0)  # seconds: inside computeHash only

``python -m benchmarks.vpdq_reference FILE...`` prints ``frame,quality,pdq,timestamp`` lines per file.
``VPDQ_REFERENCE_VENV`` points at another venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

__all__ = ["ReferenceFrame", "ReferenceVpdq", "reference_available", "reference_python", "reference_vpdq"]

REPO = Path(__file__).resolve().parents[1]

# The worker: one JSON request per line on stdin, one JSON answer per line on stdout. Errors are answered
# with their type only (the reference prints FFmpeg's reasons on stderr, which we leave alone).
_WORKER = r"""
import json, sys, time
import vpdq
for line in sys.stdin:
    request = json.loads(line)
    start = time.perf_counter()
    try:
        features = vpdq.computeHash(
            request["path"], seconds_per_hash=request["seconds_per_hash"], thread_count=request["thread_count"],
            downsample_width=request["downsample"], downsample_height=request["downsample"],
        )
        seconds = time.perf_counter() - start
        frames = [[f.frame_number, f.quality, f.hex, f.timestamp] for f in features]
        answer = {"frames": frames, "seconds": seconds}
    except Exception as exc:
        answer = {"error": type(exc).__name__}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
"""


class ReferenceFrame(NamedTuple):
    """One frame of the reference's vPDQ: the same fields as ``hashwatch.video.frames.VpdqFrame``, in the
    reference's order (frame, quality, pdq hex, seconds)."""

    frame: int
    quality: int
    pdq: str
    timestamp: float


def reference_python() -> Path:
    """The reference venv's Python (``VPDQ_REFERENCE_VENV``, default ``.cache/venv-bench-video`` in the checkout)."""
    venv = Path(os.environ.get("VPDQ_REFERENCE_VENV", REPO / ".cache" / "venv-bench-video"))
    return venv / "bin" / "python"


def reference_available() -> bool:
    """Whether the reference venv exists and imports ``vpdq``."""
    python = reference_python()
    if not python.exists():
        return False
    return subprocess.run([python, "-c", "import vpdq"], check=False, capture_output=True).returncode == 0


class ReferenceVpdq:
    """A worker process running the reference; :meth:`hash_file` per video, :meth:`close` (or ``with``)."""

    def __init__(self, thread_count: int = 0) -> None:
        python = reference_python()
        if not python.exists():
            raise RuntimeError(f"no reference vpdq venv at {python.parent.parent}: run `make vpdq-reference`")
        self.thread_count = thread_count
        self._process = subprocess.Popen(
            [str(python), "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def hash_file(
        self, path: str | os.PathLike, seconds_per_hash: float = 1.0, downsample: int = 0
    ) -> tuple[list[ReferenceFrame], float]:
        """The reference's frames for the file, and the seconds ``computeHash`` took (no process startup).

        ``downsample``: the reference's downsample_width/height (e.g. 128 for ThreatExchange's ``-128x128``
        sample files; 0 = the video's own size). Raises ``RuntimeError`` when the reference fails.
        """
        request = {
            "path": str(Path(path).resolve()),
            "seconds_per_hash": float(seconds_per_hash),
            "thread_count": self.thread_count,
            "downsample": int(downsample),
        }
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the reference vpdq worker exited")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"reference vpdq failed: {answer['error']}")
        return [ReferenceFrame(*row) for row in answer["frames"]], answer["seconds"]

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> ReferenceVpdq:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def reference_vpdq(path: str | os.PathLike, seconds_per_hash: float = 1.0) -> list[ReferenceFrame]:
    """The reference's vPDQ of one file (starts and stops a worker: for many files use :class:`ReferenceVpdq`)."""
    with ReferenceVpdq() as reference:
        return reference.hash_file(path, seconds_per_hash)[0]


def main(argv: list[str] | None = None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: python -m benchmarks.vpdq_reference FILE...", file=sys.stderr)
        return 2
    with ReferenceVpdq() as reference:
        for path in paths:
            frames, seconds = reference.hash_file(path)
            print(f"# {path}: {len(frames)} frames in {seconds:.3f} s")
            for f in frames:
                print(f"{f.frame},{f.quality},{f.pdq},{f.timestamp:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
