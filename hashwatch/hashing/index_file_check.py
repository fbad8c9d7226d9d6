"""Checks that an index file's header and arrays agree, before anything indexes into them.

An index is memory-mapped and searched by C code that trusts its layout: a header that names an array
offset past the end, a chunk table longer than its array, or a label-set number past the label list would
read out of bounds (a segfault in ``_mih``) or raise a bare IndexError deep in a match. These checks reject
such a file with one :class:`UserError` line naming it, at load, whatever the damage (a truncated copy,
flipped bits, another tool's file with our magic)::

    header = check_header(path, json.loads(raw_header))     # the structure: every field, type and range
    check_arrays(path, header, arrays)                       # shapes, dtypes and the small arrays' values

They read the small arrays (label sets, item lists: a few bytes per entry; 5-8 ms for a million entries)
but not the big ones (codes, bucket offsets, ids), whose values the C search checks as it reads them.
``KnownHashIndex.load(verify=True)`` also checks every array's CRC-32, which catches any flipped bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hashwatch.errors import UserError
from hashwatch.hashing.hamming_search import MAX_CHUNK_BITS

__all__ = ["check_arrays", "check_header"]

_KINDS = ("exact", "hamming", "linear")
# The dtypes an index stores (little-endian integers; numpy's own parser is not for untrusted text).
_DTYPES = frozenset({"|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f8"})  # f8: video frame times


class _Bad(Exception):
    """One thing wrong with the file; becomes the UserError's text."""

    def __str__(self) -> str:  # names come from the file: escape line breaks and controls, keep it short
        return str(self.args[0]).encode("unicode_escape").decode("ascii")[:200]


def _need(condition: bool, what: str) -> None:
    if not condition:
        raise _Bad(what)


def _int(value: Any, what: str, low: int = 0, high: int = 2**62) -> int:
    _need(type(value) is int and low <= value <= high, f"{what} is not an integer in [{low}, {high}]")
    return value


def _int_list(value: Any, what: str, length: int, low: int, high: int = 2**62) -> list[int]:
    _need(isinstance(value, list) and len(value) == length, f"{what} is not a list of {length}")
    return [_int(v, what, low, high) for v in value]


def check_header(path: str, header: Any) -> dict[str, Any]:
    """``header`` if it has every field a load reads, of the right type and range; else UserError."""
    try:
        _check_header(header)
    except _Bad as exc:
        raise UserError(f"{path}: corrupt index header ({exc})") from None
    return header


def _check_header(header: Any) -> None:
    _need(isinstance(header, dict), "not a JSON object")
    _need(isinstance(header.get("checksum"), str), "no checksum")
    versions = header.get("list_versions", {})
    _need(isinstance(versions, dict), "list_versions is not an object")
    labels = header.get("labels")
    _need(isinstance(labels, list), "no labels")
    for label in labels:
        _need(
            isinstance(label, list)
            and len(label) == 3
            and all(x is None or isinstance(x, str) for x in label),
            "a label is not [category, source, list_version]",
        )
    sets = header.get("label_sets")
    _need(isinstance(sets, list), "no label_sets")
    for s in sets:
        _need(isinstance(s, list), "a label set is not a list")
        for label in s:
            _int(label, "a label set's label", 0, len(labels) - 1)
    arrays = header.get("arrays")
    _need(isinstance(arrays, dict), "no array table")
    for name, spec in arrays.items():
        _need(isinstance(spec, dict), f"array {name} has no spec")
        _int(spec.get("offset"), f"array {name}'s offset")
        _int(spec.get("nbytes"), f"array {name}'s size")
        _need(isinstance(spec.get("crc32"), str), f"array {name} has no CRC")
        shape = spec.get("shape")
        _need(isinstance(shape, list) and 1 <= len(shape) <= 2, f"array {name}'s shape")
        for dim in shape:
            _int(dim, f"array {name}'s shape", 0, 2**40)
        _need(isinstance(spec.get("dtype"), str) and spec["dtype"] in _DTYPES, f"array {name}'s dtype")
        dtype = np.dtype(spec["dtype"])
        _need(spec["offset"] % dtype.itemsize == 0, f"array {name} is not aligned")
        _need(int(np.prod(shape)) * dtype.itemsize == spec["nbytes"], f"array {name}'s size and shape differ")
    types = header.get("types")
    _need(isinstance(types, dict), "no types")
    for name, spec in types.items():
        _need(isinstance(name, str) and isinstance(spec, dict), "a type has no spec")
        _need(spec.get("kind") in _KINDS, f"{name}: unknown index kind")
        bits = _int(spec.get("bits"), f"{name}: bits", 8, 4096)
        _need(bits % 8 == 0, f"{name}: bits not a multiple of 8")
        _int(spec.get("count"), f"{name}: count", 0, 2**32 - 1)
        _int(spec.get("default_threshold", 0), f"{name}: default threshold", 0, bits)
        if spec["kind"] == "hamming":
            _check_hamming_layout(name, spec, bits)


def _check_hamming_layout(name: str, spec: Mapping[str, Any], bits: int) -> None:
    lengths = spec.get("lengths")
    _need(isinstance(lengths, list) and 1 <= len(lengths) <= bits, f"{name}: chunk lengths")
    m = len(lengths)
    _need(
        sum(_int(n, f"{name}: chunk length", 1, MAX_CHUNK_BITS) for n in lengths) == bits, f"{name}: chunks"
    )
    _int_list(spec.get("table_off"), f"{name}: table offsets", m, 0)
    _int_list(spec.get("id_base"), f"{name}: id bases", m, -1)
    _int_list(spec.get("inline_base"), f"{name}: inline bases", m, -1)
    _int(spec.get("id_bytes"), f"{name}: id bytes", 3, 4)
    words = (bits + 63) // 64
    if "inline_words" in spec or "inline_word0" in spec:  # format 3: fingerprints
        _int_list(spec.get("inline_words"), f"{name}: inline words", m, 0, words)
        _int_list(spec.get("inline_word0"), f"{name}: inline first words", m, 0, words - 1)


def _in_range(arr: np.ndarray, high: int) -> bool:
    """Every value of ``arr`` in [0, high)."""
    return arr.size == 0 or (int(arr.min()) >= 0 and int(arr.max()) < high)


def _array(arrays: Mapping[str, np.ndarray], name: str, kind: str, ndim: int) -> np.ndarray:
    _need(name in arrays, f"array {name} missing")
    arr = arrays[name]
    _need(arr.dtype.kind == kind and arr.ndim == ndim, f"array {name} has the wrong type or shape")
    return arr


def check_arrays(path: str, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """The arrays each type's layout names exist, fit it, and (small ones) hold values in range."""
    try:
        _check_arrays(header, arrays)
    except _Bad as exc:
        raise UserError(f"{path}: corrupt index ({exc})") from None


def _check_arrays(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    n_sets = len(header["label_sets"])
    n_items = _check_item_names(arrays)
    for name, spec in header["types"].items():
        count, nbytes = spec["count"], spec["bits"] // 8
        label_set = _array(arrays, f"{name}.label_set", "i", 1)
        _need(label_set.shape == (count,), f"{name}: label sets and count differ")
        _need(_in_range(label_set, n_sets), f"{name}: label set out of range")
        if spec["kind"] == "hamming":
            _check_hamming_arrays(name, spec, arrays)
        else:
            values = _array(arrays, f"{name}.{'keys' if spec['kind'] == 'exact' else 'values'}", "u", 2)
            _need(
                values.shape == (count, nbytes) and values.itemsize == 1, f"{name}: values and count differ"
            )
        if f"{name}.item_offsets" in arrays:
            _check_items(name, count, n_items, arrays)
        if f"{name}.frame" in arrays:
            _check_video_frames(name, count, n_items, len(header["labels"]), arrays)


def _check_hamming_arrays(name: str, spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    count, words = spec["count"], (spec["bits"] + 63) // 64
    codes = _array(arrays, f"{name}.codes", "u", 2)
    _need(codes.shape == (count, words) and codes.itemsize == 8, f"{name}: codes and count differ")
    offsets = _array(arrays, f"{name}.offsets", "u", 1)
    ids = _array(arrays, f"{name}.ids", "u", 1)
    inline = _array(arrays, f"{name}.inline", "u", 1)
    _need(offsets.itemsize == 4 and ids.itemsize == 1 and inline.itemsize == 8, f"{name}: table dtypes")
    for i, length in enumerate(spec["lengths"]):
        _need(
            spec["table_off"][i] + 2**length + 1 <= offsets.size,
            f"{name}: chunk {i}'s table runs past its array",
        )
        base, inline_base = spec["id_base"][i], spec["inline_base"][i]
        inline_words = spec["inline_words"][i] if "inline_words" in spec else words
        _need(base >= 0 or i == 0, f"{name}: chunk {i} has no ids")
        _need(base < 0 or (base + count) * spec["id_bytes"] <= ids.size, f"{name}: chunk {i}'s ids run past")
        _need(inline_base < 0 or inline_words >= 1, f"{name}: chunk {i}'s inline copy has no words")
        _need(
            inline_base < 0 or (inline_base + count) * inline_words <= inline.size,
            f"{name}: chunk {i}'s codes run past",
        )


def _check_items(name: str, count: int, n_items: int, arrays: Mapping[str, np.ndarray]) -> None:
    offsets = _array(arrays, f"{name}.item_offsets", "i", 1)
    items = _array(arrays, f"{name}.items", "i", 1)
    by_item = _array(arrays, f"{name}.by_item", "i", 1)
    by_entry = _array(arrays, f"{name}.by_item_entry", "i", 1)
    _need(
        offsets.shape == (count + 1,) and offsets[0] == 0 and offsets[-1] == items.size,
        f"{name}: item offsets",
    )
    _need(bool(np.all(np.diff(offsets) >= 0)), f"{name}: item offsets decrease")
    _need(
        by_item.shape == items.shape and by_entry.shape == items.shape, f"{name}: item arrays differ in size"
    )
    _need(_in_range(items, n_items) and _in_range(by_item, n_items), f"{name}: item number out of range")
    _need(_in_range(by_entry, count), f"{name}: entry number out of range")


def _check_video_frames(name: str, count: int, n_items: int, n_labels: int, arrays) -> None:
    """Listed videos' frames (format 2): a flag per entry, a time per item link, a label and a frame count per
    item."""
    _need(f"{name}.item_offsets" in arrays, f"{name}: video frames without items")
    frame = _array(arrays, f"{name}.frame", "u", 1)
    _need(frame.shape == (count,), f"{name}: frame flags and count differ")
    times = _array(arrays, f"{name}.item_times", "f", 1)
    _need(times.shape == arrays[f"{name}.items"].shape, f"{name}: item times and items differ")
    label = _array(arrays, f"{name}.video_label", "i", 1)
    frames = _array(arrays, f"{name}.video_frames", "i", 1)
    _need(label.shape == (n_items,) and frames.shape == (n_items,), f"{name}: video arrays and items differ")
    _need(bool(np.all((label >= -1) & (label < n_labels))), f"{name}: video label out of range")
    _need(bool(np.all(frames >= 0)), f"{name}: negative video frame count")


def _check_item_names(arrays: Mapping[str, np.ndarray]) -> int:
    """How many item names the index holds (0 without); their offsets must cut the name bytes in order."""
    if "items.name_offsets" not in arrays:
        return 0
    offsets = _array(arrays, "items.name_offsets", "i", 1)
    names = _array(arrays, "items.names", "u", 1)
    _need(offsets.size >= 1 and offsets[0] == 0 and offsets[-1] <= names.size, "item name offsets")
    _need(bool(np.all(np.diff(offsets) >= 0)), "item name offsets decrease")
    return int(offsets.size - 1)
