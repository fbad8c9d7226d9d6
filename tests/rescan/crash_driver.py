"""Run the rescan and kill this process with SIGKILL at a chosen point (for test_rescan_crash.py).

    python crash_driver.py SPEC -- RESCAN_FLAGS...

SPEC: ``none`` (run to the end), ``read:N`` (while matching the N-th history row group), ``rename:K`` (in
the sinks' finalisation, after K files were renamed into place; 0 = every temp file written, none final),
``manifest`` (every table final, before the run manifest is written), ``state`` (outputs and manifest
final, before the incremental state is written), ``state-temp`` (the state's temp file written and fsynced,
before its rename). Each sink writes 3 shards, so a kill
can land between the files of one table and between tables. Nothing here changes what the pipeline
computes; it only decides when the process dies.
"""

from __future__ import annotations

import os
import signal
import sys


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(spec: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    import hashwatch.rescan.history
    import pipelines.rescan
    from transforms import parquet_output

    parquet_output.WriteParquetTable.__init__.__defaults__ = ("zstd", 3)  # 3 shards per table
    kind, _, number = spec.partition(":")
    if kind == "read":
        original_init = hashwatch.rescan.history.HistoryRows.__init__
        seen = [0]

        def init(self, *args, **kwargs):
            seen[0] += 1
            if seen[0] == int(number):
                _die()
            original_init(self, *args, **kwargs)

        hashwatch.rescan.history.HistoryRows.__init__ = init
    elif kind == "rename":
        import threading

        original_rename = FileSystems.rename
        renamed = [0]
        lock = threading.Lock()  # Beam renames batches from a thread pool: count them one at a time

        def rename(sources, destinations):
            for source, destination in zip(sources, destinations, strict=True):
                with lock:
                    if "beam-temp-" in source and renamed[0] == int(number):
                        _die()
                    original_rename([source], [destination])
                    renamed[0] += "beam-temp-" in source

        FileSystems.rename = staticmethod(rename)
    elif kind == "manifest":

        def write_run_files(*args, **kwargs):
            _die()

        pipelines.rescan.write_run_files = write_run_files
    elif kind == "state":

        def save_state(*args, **kwargs):
            _die()

        pipelines.rescan.save_state = save_state
    elif kind == "state-temp":
        import hashwatch.rescan.state

        original_replace = os.replace

        def replace(source, destination):
            if str(destination).endswith("state.json"):
                _die()
            original_replace(source, destination)

        hashwatch.rescan.state.os.replace = replace
    elif kind != "none":
        raise SystemExit(f"unknown kill point {spec!r}")


if __name__ == "__main__":
    spec, separator, *flags = sys.argv[1:]
    assert separator == "--"
    _arm(spec)
    from hashwatch.cli import exit_process
    from pipelines.rescan import main

    exit_process(main(flags))  # as the hashwatch command ends
