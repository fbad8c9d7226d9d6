"""The reference to a compiled known-hash index that travels through the pipeline as a side input.

The list itself never does: workers load the index file once per process (``apache_beam.utils.shared``).
"""

from typing import NamedTuple


class IndexRef(NamedTuple):
    path: str  # the compiled index file (local path or a Beam file-system URL all workers can read)
    checksum: str  # of the lists it was compiled from; also the cache key on workers
