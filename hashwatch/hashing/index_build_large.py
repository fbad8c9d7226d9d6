"""A one-type Hamming index file for lists too large to compile in memory (1e8 PDQ codes: 3.2 GB of codes).

:meth:`HammingTable.build <hashwatch.hashing.hamming_search.HammingTable.build>` holds the input codes, their
sorted copy, every chunk's ids and copies and then their concatenation: about 4x the final table, 30 GB at
1e8. This writes the same file (same arrays, same bytes as ``HammingTable.build`` then ``write_container``)
chunk by chunk: the codes are sorted into the file, read back from it memory-mapped (page cache, shared), and
each chunk's counting sort, ids and fingerprints are written in blocks and dropped before the next chunk.
Peak memory is the caller's codes, chunk 0's and one other chunk's order (4 bytes a code each) and the
mapped sorted codes::

    plan = write_hamming_index("known.hwidx", "pdq", 256, codes, 31, memory_budget=int(7.5 * 2**30))
    index = KnownHashIndex.load("known.hwidx")   # format 3 when the plan uses fingerprints or wide chunks
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np

from hashwatch.hashing.hamming_search import (
    DEFAULT_MEMORY_BUDGET,
    ChunkPlan,
    HammingTable,
    _build_chunk,
    _fingerprint_word0,
    plan_chunks,
)
from hashwatch.hashing.index_file import FORMAT_VERSION, LAYOUT_FORMAT_VERSION, write_container_streamed

__all__ = ["write_hamming_index"]

_BLOCK = 1 << 20  # codes per written block: 32 MB of PDQ codes


def write_hamming_index(  # noqa: PLR0913, PLR0917 - one file's whole description
    path: str,
    name: str,
    bits: int,
    codes: np.ndarray,
    radius: int,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    label_set: np.ndarray | None = None,
    header: dict[str, Any] | None = None,
) -> ChunkPlan:
    """Write an index file holding one Hamming type ``name`` over ``codes`` (unique, n x words uint64).

    ``label_set`` (int32 per code; default all 0 with one empty label) is permuted with the codes; ``header``
    adds or overrides header fields (labels, label_sets, checksum, list versions). Returns the plan used.
    """
    n, words = codes.shape
    if n >= 2**32:
        raise ValueError("at most 2^32 - 1 codes per hash type")
    id_bytes = 3 if n < 2**24 else 4
    plan = plan_chunks(bits, max(n, 1), radius, memory_budget=memory_budget, id_bytes=id_bytes)
    lengths, iw = list(plan.lengths), plan.inline_words
    m = len(lengths)
    offs = np.cumsum([0, *lengths[:-1]]).tolist()
    word0 = [0] + [_fingerprint_word0(offs[i], lengths[i], words, iw) for i in range(1, m)]
    table_off = np.cumsum([0] + [2**b + 1 for b in lengths[:-1]]).tolist()
    spec = {
        "kind": "hamming",
        "bits": bits,
        "count": n,
        "lengths": lengths,
        "table_off": table_off,
        "id_base": [-1] + [(i - 1) * n for i in range(1, m)],
        "id_bytes": id_bytes,
        "inline_base": [-1] + [((i - 1) * n if iw else -1) for i in range(1, m)],
    }
    probe = HammingTable.__new__(HammingTable)  # only for format_version(): the layout's rules in one place
    probe.words, probe.lengths = words, tuple(lengths)
    probe.inline_words = np.array([0] + [iw] * (m - 1), dtype=np.int32)
    version = probe.format_version()
    if version >= LAYOUT_FORMAT_VERSION:
        spec["inline_words"] = [0] + [iw] * (m - 1)
        spec["inline_word0"] = word0
    head: dict[str, Any] = {
        "format_version": version if version >= LAYOUT_FORMAT_VERSION else FORMAT_VERSION,
        "checksum": "",
        "list_versions": {},
        "files": [],
        "types": {name: spec},
        "labels": [[None, None, None]],
        "label_sets": [[0]],
        **(header or {}),
    }
    specs = {
        f"{name}.label_set": ("<i4", (n,)),
        f"{name}.codes": ("<u8", (n, words)),
        f"{name}.offsets": ("<u4", (sum(2**b + 1 for b in lengths),)),
        f"{name}.ids": ("|u1", ((m - 1) * n * id_bytes + 1,)),
        f"{name}.inline": ("<u8", ((m - 1) * n * iw,)),
    }
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    offsets0, order0 = _build_chunk(codes, words, 0, lengths[0])

    def fill(out) -> None:
        for k in range(0, n, _BLOCK):
            sel = order0[k : k + _BLOCK]
            out[f"{name}.label_set"].write(
                np.zeros(sel.size, np.int32) if label_set is None else label_set[sel].astype("<i4")
            )
            out[f"{name}.codes"].write(codes[sel])
        sorted_codes = _mapped(out[f"{name}.codes"], n, words)
        out[f"{name}.offsets"].write(offsets0)
        for i in range(1, m):  # one chunk's order in memory at a time
            offsets_i, order = _build_chunk(sorted_codes, words, offs[i], lengths[i])
            out[f"{name}.offsets"].write(offsets_i)
            cols = [(word0[i] + k) % words for k in range(iw)]
            for k in range(0, n, _BLOCK):
                part = order[k : k + _BLOCK]
                raw = np.ascontiguousarray(part, dtype="<u4").view(np.uint8).reshape(-1, 4)
                out[f"{name}.ids"].write(np.ascontiguousarray(raw[:, :id_bytes]))
                if iw:
                    out[f"{name}.inline"].write(np.ascontiguousarray(sorted_codes[part][:, cols]))
            del order
        out[f"{name}.ids"].write(np.zeros(1, np.uint8))  # the spare byte a 3-byte id read may touch

    write_container_streamed(path, head, specs, fill)
    return plan


def _mapped(writer, n: int, words: int) -> np.ndarray:
    """The sorted codes just written, read back through a memory map of the file being written (page cache:
    no second private copy)."""
    writer.fh.flush()
    mm = mmap.mmap(writer.fh.fileno(), 0, access=mmap.ACCESS_READ)
    start = writer.end - n * words * 8
    return np.frombuffer(mm, dtype=np.uint64, count=n * words, offset=start).reshape(n, words)
