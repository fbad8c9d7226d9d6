"""Validating and decoding a column of fixed-width hex hashes in one pass over its Arrow buffers.

>>> good, raw = decode_hex_column(pa.array(["00ff", None, "0G00", "abcd"]), 4)
>>> good.tolist()              # null counts as good (nothing to compare); "0G00" is not lower-case hex
[True, True, False, True]
>>> raw[[0, 3]].tolist()       # one row of bytes per value; zeros where null or bad
[[0, 255], [171, 205]]

Why not a regex and ``bytes.fromhex`` per value: on 100,000 SHA-256 values (6.4 MB of digits) Arrow's
``match_substring_regex`` took 47 ms and the take-then-decode 80 ms (2026-12-08, 2 shared cores, load ~5);
``binascii.unhexlify`` over the whole contiguous digit buffer (which rejects any non-hex digit, whitespace
included) and one AND over it as 64-bit words (upper-case A-F are the only hex digits without bit 0x20)
take 10-15 ms and 1-2 ms. A column whose values are not laid out back to back (a non-null value of another
length) takes the slower per-digit path, which finds the bad values themselves.
"""

from __future__ import annotations

import binascii

import numpy as np
import pyarrow as pa

__all__ = ["decode_hex_column"]

_NIBBLE = np.full(256, 255, dtype=np.uint8)  # hex digit -> value; anything else (upper case too) -> 255
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
_LOWER = np.uint64(0x2020202020202020)


def _lower_case(digits: np.ndarray) -> bool:
    """Whether hex digits (already known to be [0-9a-fA-F]) have no upper-case letter: all have bit 0x20."""
    whole = digits.size // 8 * 8
    words = np.bitwise_and.reduce(digits[:whole].view(np.uint64)) if whole else _LOWER
    tail = np.bitwise_and.reduce(digits[whole:]) if digits.size > whole else np.uint8(0x20)
    return bool((words & _LOWER) == _LOWER) and bool(tail & 0x20)


def _single(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 1:
            return values.chunk(0)
        return values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    return values


def decode_hex_column(values: pa.ChunkedArray | pa.Array, length: int) -> tuple[np.ndarray, np.ndarray]:
    """``(good, raw)`` for a string column that should hold ``length`` lower-case hex digits a value:
    ``good[i]`` is whether value i is null or such a value, ``raw`` an (n, length / 2) uint8 array of the
    decoded values (zero rows where null or bad)."""
    values = _single(values)
    n = len(values)
    nbytes = length // 2
    raw = np.zeros((n, nbytes), dtype=np.uint8)
    if n == 0:
        return np.zeros(0, dtype=bool), raw
    present = values.is_valid().to_numpy(zero_copy_only=False)
    _validity, offsets_buf, data_buf = values.buffers()
    offset_type = np.int64 if pa.types.is_large_string(values.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[values.offset : values.offset + n + 1]
    lengths = np.diff(offsets)
    sized = present & (lengths == length)
    good = ~present | sized
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    if not np.any(lengths[~sized]):  # the sized values lie back to back: one decode of the whole buffer
        digits = data[int(offsets[0]) : int(offsets[-1])]
        try:
            decoded = binascii.unhexlify(digits)
        except binascii.Error:
            decoded = None
        if decoded is not None and _lower_case(digits):
            raw[sized] = np.frombuffer(decoded, dtype=np.uint8).reshape(-1, nbytes)
            return good, raw
    rows = np.nonzero(sized)[0]
    if rows.size:
        nibbles = _NIBBLE[data[offsets[rows].astype(np.int64)[:, None] + np.arange(length)]]
        hexed = (nibbles < 16).all(axis=1)
        good[rows[~hexed]] = False
        raw[rows[hexed]] = (nibbles[hexed, 0::2] << 4) | nibbles[hexed, 1::2]
    return good, raw
