"""Any 64-byte run of a set of reference images, found in scanned bytes: a compact, streaming block table.

Each reference image is cut into 32-byte blocks at offsets that are multiples of 32, so any 64-byte run it
shares with a scanned buffer holds one whole block. The table keeps, per block, a 64-bit polynomial hash and
where the block came from (source and block number: 16 bytes a block, half the images' size, in two numpy
arrays sorted by hash), plus a bitmap of the hashes' top bits that turns most windows away in one vectorised
look-up. Every 32-byte window of a scanned buffer is hashed (vectorised, in log2(32) = 5 doubling steps), the
bitmap and then the sorted table are probed, and a candidate counts only where the bytes around it, read back
from the reference, agree for 64 bytes or more.

Blocks with fewer than :data:`MIN_DISTINCT_BYTES` distinct byte values (zero padding, flat colour, repeated
patterns) are left out: they say nothing about an image and occur everywhere (the compiled hash index's zero
padding against a zero block inside a WebP was a false positive of the first audit).

Memory stays bounded whatever the input: reference files are read in 4 MiB chunks, and the table holds at most
``max_blocks`` blocks (12 M: 192 MiB of table, 384 MiB of images); a larger reference set is split into
several tables, each searched in a pass of its own (:meth:`ContentIndex.tables`).

>>> import random
>>> picture = random.Random(1).randbytes(1000)
>>> index = ContentIndex()
>>> index.add(picture, "a.png")
>>> next(index.find(b"log: " + picture[100:300] + b" end"))
Hit(offset=5, name='a.png', length=92)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np

__all__ = ["BLOCK", "MIN_DISTINCT_BYTES", "MIN_RUN", "BlockTable", "ContentIndex", "Hit"]

BLOCK = 32
MIN_RUN = 64
# Measured on the benchmark's photos and synthetic images (docs/benchmarks.md): 8 drops zero/0xff padding,
# flat-colour pixels and ICC/Huffman table runs, and keeps more than 99 % of a photo's blocks.
MIN_DISTINCT_BYTES = 8
DEFAULT_MAX_BLOCKS = 12 << 20  # 384 MiB of images: 0.69 GiB peak RSS at 9.4 M blocks (300 MB of images)
_READ = 4 << 20  # reference files are read this much at a time (a multiple of BLOCK)
_SCAN = 1 << 20  # scanned buffers are hashed this much at a time (numpy temporaries ~50 bytes a byte)
_MAX_VERIFY = 256  # candidates read back from the references per find() call

_B = np.uint64(0x100000001B3)  # an odd multiplier: the hash is sum(byte[k] * B**k) mod 2**64
_POW = np.array([_B ** np.uint64(k) for k in range(BLOCK)], dtype=np.uint64)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # spreads the sum's bits into the top bits the bitmap reads
_SOURCE_SHIFT = np.uint64(36)  # a block's source id above its block number (files up to 2 TiB)


class Hit(NamedTuple):
    offset: int  # in the scanned buffer
    name: str  # the reference image
    length: int  # bytes shared (at least MIN_RUN; counted up to BLOCK either side of the block)


def window_hashes(data: np.ndarray) -> np.ndarray:
    """The mixed hash of every 32-byte window of ``data`` (uint8): ``len(data) - 31`` values."""
    h = data.astype(np.uint64)
    width = 1
    while width < BLOCK:
        h = h[: len(h) - width] + h[width:] * _POW[width]
        width *= 2
    return h * _MIX


def block_hashes(blocks: np.ndarray) -> np.ndarray:
    """The same hash for each row of ``blocks`` (n x 32, uint8)."""
    return (blocks.astype(np.uint64) * _POW).sum(axis=1, dtype=np.uint64) * _MIX


def distinct_bytes(blocks: np.ndarray) -> np.ndarray:
    """Distinct byte values in each row of ``blocks`` (n x 32, uint8)."""
    ordered = np.sort(blocks, axis=1, kind="stable")  # a radix sort for uint8
    return (ordered[:, 1:] != ordered[:, :-1]).sum(axis=1) + 1


class BlockTable:
    """One frozen table: sorted block hashes, their (source, block) references, and the top-bits bitmap."""

    def __init__(self, arrays: list[np.ndarray], index: ContentIndex) -> None:
        """``arrays``: [hashes, refs], popped so that the unsorted copies are freed once sorted."""
        refs = arrays.pop()
        hashes = arrays.pop()
        order = np.argsort(hashes)
        self.hashes = hashes[order]
        del hashes
        self.refs = refs[order]
        del refs, order
        self._index = index
        # About 16 bitmap bits a block: one window in 16 or fewer reaches the sorted table.
        self._bits = max(20, int(len(self.hashes) * 16 - 1).bit_length())
        self._shift = np.uint64(64 - self._bits)
        self._bitmap = np.zeros(1 << (self._bits - 3), dtype=np.uint8)
        for start in range(0, len(self.hashes), _SCAN):  # bounded temporaries
            top = self.hashes[start : start + _SCAN] >> self._shift
            np.bitwise_or.at(self._bitmap, (top >> np.uint64(3)).astype(np.intp), _bit(top))

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def nbytes(self) -> int:
        return self.hashes.nbytes + self.refs.nbytes + self._bitmap.nbytes

    def find(self, data: bytes | memoryview, first_only: bool = True) -> Iterator[Hit]:
        """Every 64-byte run (or longer) of ``data`` shared with a reference; one hit per block found."""
        if len(self.hashes) == 0 or len(data) < MIN_RUN:
            return
        view = np.frombuffer(data, dtype=np.uint8)
        verified = 0
        for start in range(0, len(view) - BLOCK + 1, _SCAN):
            piece = view[start : start + _SCAN + BLOCK - 1]
            hashes = window_hashes(piece)
            top = hashes >> self._shift
            maybe = np.flatnonzero((self._bitmap[(top >> np.uint64(3)).astype(np.intp)] & _bit(top)) != 0)
            if len(maybe) == 0:
                continue
            candidates = hashes[maybe]
            order = np.argsort(candidates)
            slots = np.searchsorted(self.hashes, candidates[order])
            slots = np.minimum(slots, len(self.hashes) - 1)
            found = self.hashes[slots] == candidates[order]
            windows, slots = maybe[order][found], slots[found]
            by_place = np.argsort(windows, kind="stable")  # report the first place first
            for window, first in zip(windows[by_place].tolist(), slots[by_place].tolist(), strict=True):
                # Equal hashes can repeat (a block in several images): try each.
                slot = first
                while slot < len(self.hashes) and self.hashes[slot] == hashes[window]:
                    if verified >= _MAX_VERIFY:
                        return
                    verified += 1
                    hit = self._index.verify(data, start + window, int(self.refs[slot]))
                    slot += 1
                    if hit is not None:
                        yield hit
                        if first_only:
                            return
                        break


def _bit(top: np.ndarray) -> np.ndarray:
    return np.left_shift(np.uint8(1), (top & np.uint64(7)).astype(np.uint8))


class ContentIndex:
    """The reference images of ``hashwatch audit --images``: sources now, block tables when searched.

    ``add``/``add_file`` only record sources (a file is read when its table is built); :meth:`tables` builds
    the tables of at most ``max_blocks`` blocks each, and keeps the only one when one is enough.
    """

    def __init__(self, max_blocks: int = DEFAULT_MAX_BLOCKS, min_distinct: int = MIN_DISTINCT_BYTES) -> None:
        self._sources: list[tuple[str, bytes | str]] = []  # (name, content or path)
        self._max_blocks = max_blocks
        self._min_distinct = min_distinct
        self._cached: BlockTable | None = None
        self.blocks = 0  # kept in the last tables built
        self.dropped = 0  # low-entropy blocks left out
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._sources)

    def add(self, content: bytes, name: str) -> None:
        self._sources.append((name, bytes(content)))
        self._cached = None

    def add_file(self, path: str, name: str | None = None) -> None:
        self._sources.append((name or os.path.basename(path), path))
        self._cached = None

    def add_files(self, paths: Iterable[str]) -> None:
        for path in paths:
            self.add_file(path)

    def _chunks(self, source: int) -> Iterator[bytes]:
        content = self._sources[source][1]
        if isinstance(content, bytes):
            for start in range(0, len(content), _READ):
                yield content[start : start + _READ]
            return
        with open(content, "rb") as handle:
            while chunk := handle.read(_READ):
                yield chunk

    def tables(self) -> Iterator[BlockTable]:
        """The block tables, built one at a time (the previous one is dropped before the next is built)."""
        if self._cached is not None:
            yield self._cached
            return
        hashes: list[np.ndarray] = []
        refs: list[np.ndarray] = []
        count = built = 0
        self.blocks = self.dropped = self.bytes = 0
        for source in range(len(self._sources)):
            block_no = 0
            for chunk in self._chunks(source):
                self.bytes += len(chunk)
                usable = len(chunk) // BLOCK * BLOCK
                blocks = np.frombuffer(chunk, dtype=np.uint8, count=usable).reshape(-1, BLOCK)
                kept = np.flatnonzero(distinct_bytes(blocks) >= self._min_distinct)
                self.dropped += len(blocks) - len(kept)
                self.blocks += len(kept)
                chunk_hashes = block_hashes(blocks[kept])
                chunk_refs = (np.uint64(source) << _SOURCE_SHIFT) | (
                    kept.astype(np.uint64) + np.uint64(block_no)
                )
                block_no += len(blocks)
                while count + len(chunk_hashes) >= self._max_blocks:
                    room = self._max_blocks - count
                    hashes.append(chunk_hashes[:room])
                    refs.append(chunk_refs[:room])
                    chunk_hashes, chunk_refs = chunk_hashes[room:], chunk_refs[room:]
                    built += 1
                    yield self._table(hashes, refs)
                    count = 0
                hashes.append(chunk_hashes)
                refs.append(chunk_refs)
                count += len(chunk_hashes)
        if count or not built:
            table = self._table(hashes, refs)
            if not built:
                self._cached = table
            yield table

    def _table(self, hashes: list[np.ndarray], refs: list[np.ndarray]) -> BlockTable:
        """A table of the chunks' arrays; empties the lists, so the chunks are freed as the table is built."""
        arrays = [np.concatenate(hashes) if hashes else np.empty(0, np.uint64)]
        hashes.clear()
        arrays.append(np.concatenate(refs) if refs else np.empty(0, np.uint64))
        refs.clear()
        return BlockTable(arrays, self)

    def find(self, data: bytes | memoryview) -> Iterator[Hit]:
        """Every reference block found in ``data`` (each table in turn), verified as a run of >= 64 bytes."""
        for table in self.tables():
            yield from table.find(data, first_only=False)

    def _read(self, source: int, start: int, length: int) -> bytes:
        content = self._sources[source][1]
        if isinstance(content, bytes):
            return content[max(0, start) : start + length]
        with open(content, "rb") as handle:
            handle.seek(max(0, start))
            return handle.read(length - (max(0, start) - start))

    def verify(self, data: bytes | memoryview, offset: int, ref: int) -> Hit | None:
        """A hit if the block at ``ref`` equals ``data[offset:offset+32]`` within a shared run of >= 64 bytes."""
        source = ref >> int(_SOURCE_SHIFT)
        at = (ref & ((1 << int(_SOURCE_SHIFT)) - 1)) * BLOCK
        left = min(BLOCK, offset, at)
        reference = self._read(source, at - left, left + 2 * BLOCK)
        block = bytes(data[offset : offset + BLOCK])
        if reference[left : left + BLOCK] != block:
            return None
        scanned = bytes(data[offset - left : offset + 2 * BLOCK])
        before = 0
        while before < left and scanned[left - 1 - before] == reference[left - 1 - before]:
            before += 1
        after = 0
        tail, ref_tail = scanned[left + BLOCK :], reference[left + BLOCK :]
        while after < min(len(tail), len(ref_tail)) and tail[after] == ref_tail[after]:
            after += 1
        length = before + BLOCK + after
        if length < MIN_RUN:
            return None
        return Hit(offset - before, self._sources[source][0], length)
