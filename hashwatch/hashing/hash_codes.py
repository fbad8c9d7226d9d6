"""Hex hashes as packed codes: the (n, words) little-endian uint64 arrays Hamming search compares.

A hash of ``bits`` bits is ``bits // 8`` bytes in the order its hex spells them, padded with zero bytes to
whole 64-bit words::

    codes = hex_to_codes(["ff00" * 16, "00ff" * 16], 256)     # shape (2, 4), dtype uint64
    assert codes_to_hex(codes, 256) == ["ff00" * 16, "00ff" * 16]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["bytes_to_codes", "codes_to_hex", "hex_to_codes", "rows_to_hex", "words_for"]


def words_for(bits: int) -> int:
    """64-bit words per code."""
    return (bits + 63) // 64


def hex_to_codes(values: Sequence[str], bits: int) -> np.ndarray:
    """Hex strings (validated, equal length) to an (n, words) uint64 array; padding bits are zero."""
    nbytes = bits // 8
    raw = np.frombuffer(bytes.fromhex("".join(values)), dtype=np.uint8).reshape(len(values), nbytes)
    return bytes_to_codes(raw, bits)


def bytes_to_codes(raw: np.ndarray, bits: int) -> np.ndarray:
    """An (n, bytes) uint8 array to codes (a view when no padding is needed)."""
    words = words_for(bits)
    if raw.shape[1] != words * 8:
        padded = np.zeros((raw.shape[0], words * 8), dtype=np.uint8)
        padded[:, : raw.shape[1]] = raw
        raw = padded
    return np.ascontiguousarray(raw).view("<u8").reshape(raw.shape[0], words)


def codes_to_hex(codes: np.ndarray, bits: int) -> list[str]:
    """Codes back to hex strings of ``bits // 4`` digits."""
    if codes.shape[0] == 0:
        return []
    raw = np.ascontiguousarray(codes).view(np.uint8).reshape(codes.shape[0], -1)[:, : bits // 8]
    return rows_to_hex(raw)


def rows_to_hex(raw: np.ndarray) -> list[str]:
    """Each row of an (n, bytes) uint8 array as one hex string."""
    flat = np.ascontiguousarray(raw).tobytes().hex()
    step = raw.shape[1] * 2 if raw.ndim == 2 and raw.shape[0] else 0
    return [flat[i : i + step] for i in range(0, len(flat), step)] if step else []
