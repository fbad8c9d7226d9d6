"""Keep numpy's BLAS single-threaded in processes that hash images.

The draft-aware resampling does small matrix products (tens of rows by a thousand columns). OpenBLAS splits
even those over every core, so when a fetching DoFn hashes images from 8-16 threads, 8-16 x cores BLAS threads
fight over 2 cores: measured here, 100 1 MP JPEGs hashed from 8 threads took 5.0 s with OpenBLAS's default
threads and 0.27 s with one BLAS thread (1 thread of ours: 0.8 s vs 0.7 s). Parallelism belongs to the caller
(threads, processes, Beam workers), not to BLAS.

Set ``HASHWATCH_BLAS_THREADS`` to another number to override.
"""

from __future__ import annotations

import os
import threading

__all__ = ["limit_blas_threads"]

_lock = threading.Lock()
_done: list[bool] = []


def limit_blas_threads() -> None:
    """Limit BLAS to ``HASHWATCH_BLAS_THREADS`` (default 1) threads, once per process; cheap after that."""
    if _done:
        return
    with _lock:
        if _done:
            return
        # Load every BLAS the hashing can reach first (scipy ships its own OpenBLAS, loaded on first use):
        # threadpoolctl limits only the libraries already loaded.
        import numpy  # noqa: F401
        import scipy.fft  # noqa: F401
        import scipy.linalg  # noqa: F401
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=int(os.environ.get("HASHWATCH_BLAS_THREADS", "1")), user_api="blas")
        _done.append(True)
