"""The HashType interface, the registry and the plug-in point (with a test-only toy plug-in)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from hashwatch.hashing import hash_types as ht_mod
from hashwatch.hashing.algorithms.pdq import DIHEDRAL_VARIANTS
from hashwatch.hashing.hash_types import (
    HashResult,
    HashType,
    IndexKind,
    Source,
    get_hash_type,
    hamming_distance_hex,
    hash_types,
    register_hash_type,
    unregister_hash_type,
)
from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

from .conftest import encode, synthetic_array


class ToyMeanHash(HashType):
    """Test-only plug-in: 64-bit average hash of an 8x8 luma thumbnail (stands in for e.g. PhotoDNA)."""

    name = "toymean"
    bits = 64
    index_kind = IndexKind.HAMMING
    default_threshold = 6
    computed_from = Source.PICTURE

    def compute(self, data, decoded):
        if decoded is None or decoded.image is None:
            return HashResult(None)
        small = np.asarray(decoded.image.convert("L").resize((8, 8)), dtype=np.float64)
        return HashResult(np.packbits((small > small.mean()).ravel()).tobytes().hex())


class ToySha512(HashType):
    """Test-only byte digest plug-in with the exact index kind."""

    name = "toysha512"
    bits = 512
    index_kind = IndexKind.EXACT

    def compute(self, data, decoded):
        return HashResult(hashlib.sha512(data).hexdigest())


class Exploding(HashType):
    name = "exploding"
    bits = 64
    index_kind = IndexKind.HAMMING
    computed_from = Source.PICTURE

    def compute(self, data, decoded):
        raise RuntimeError("boom")


@pytest.fixture()
def toy_plugins():
    registered = [register_hash_type(ToyMeanHash), register_hash_type(ToySha512())]
    yield registered
    for t in registered:
        unregister_hash_type(t.name)


def test_builtin_types_and_their_properties():
    names = [t.name for t in hash_types()]
    assert names[:7] == ["md5", "sha1", "sha256", "crc32c", "phash", "dhash", "pdq"]
    expect = {
        "md5": (128, IndexKind.EXACT, 0),
        "sha1": (160, IndexKind.EXACT, 0),
        "sha256": (256, IndexKind.EXACT, 0),
        "crc32c": (32, IndexKind.NONE, 0),
        "phash": (64, IndexKind.HAMMING, 4),  # docs/evaluation.md
        "dhash": (64, IndexKind.HAMMING, 0),
        "pdq": (256, IndexKind.HAMMING, 31),
    }
    for name, (bits, kind, threshold) in expect.items():
        t = get_hash_type(name)
        assert (t.bits, t.index_kind, t.default_threshold) == (bits, kind, threshold), name
        assert t.hex_length == bits // 4
    assert get_hash_type("crc32c").matchable is False
    assert get_hash_type("pdq").min_quality == 50
    assert [t.name for t in hash_types() if not t.match_by_default] == ["dhash"]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("md5", " D41D8CD98F00B204E9800998ECF8427E \n", "d41d8cd98f00b204e9800998ecf8427e"),
        ("phash", "BA8C84536BD3C366", "ba8c84536bd3c366"),
    ],
)
def test_parse_normalises(name, text, expected):
    assert get_hash_type(name).parse(text) == expected


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("md5", "d41d8cd98f00b204e9800998ecf8427", "needs 32 hex digits, got 31"),
        ("pdq", "z" * 64, "not hexadecimal"),
        ("phash", "", "needs 16 hex digits, got 0"),
        ("sha1", "0x" + "a" * 38, "not hexadecimal"),
    ],
)
def test_parse_rejects_with_a_clear_message(name, text, message):
    with pytest.raises(ValueError, match=message):
        get_hash_type(name).parse(text)
    assert not get_hash_type(name).is_valid(text)


def test_distance_is_hamming_for_perceptual_and_equality_for_exact():
    assert hamming_distance_hex("00ff", "0f0f") == 8
    assert get_hash_type("phash").distance("0000000000000000", "0000000000000007") == 3
    assert get_hash_type("md5").distance("a" * 32, "a" * 32) == 0
    assert get_hash_type("md5").distance("a" * 32, "b" * 32) == 1
    with pytest.raises(ValueError):
        hamming_distance_hex("00", "000")


def test_crypto_types_compute_digests_of_the_bytes():
    data = b"not even an image"
    assert get_hash_type("md5").compute(data, None).value == hashlib.md5(data).hexdigest()
    assert get_hash_type("sha256").compute(data, None).value == hashlib.sha256(data).hexdigest()
    import google_crc32c

    assert get_hash_type("crc32c").compute(data, None).value == f"{google_crc32c.value(data):08x}"


def test_register_rejects_bad_types_and_duplicates(toy_plugins):
    with pytest.raises(ValueError, match="already registered"):
        register_hash_type(ToyMeanHash)

    class BadName(ToyMeanHash):
        name = "Bad Name"

    with pytest.raises(ValueError, match="lower_snake_case"):
        register_hash_type(BadName)

    class BadBits(ToyMeanHash):
        name = "badbits"
        bits = 63

    with pytest.raises(ValueError, match="multiple of 8"):
        register_hash_type(BadBits)
    with pytest.raises(KeyError, match="unknown hash type 'nope'"):
        get_hash_type("nope")


def test_plugin_values_land_in_extra_without_core_changes(toy_plugins):
    data = encode(synthetic_array(200, 150, seed=3), "PNG")
    h = compute_image_hashes(data)
    assert h.decode_status == "ok"
    assert set(h.extra) == {"toymean", "toysha512"}
    assert len(h.extra["toymean"]) == 16
    assert h.extra["toysha512"] == hashlib.sha512(data).hexdigest()
    assert h.hash_value("toysha512") == h.extra["toysha512"]
    # Selecting types excludes the plug-ins.
    only = compute_image_hashes(data, HashConfig(hash_types=("md5", "pdq")))
    assert only.extra == {}
    assert only.phash is None
    assert only.pdq is not None


def test_failing_plugin_gives_hash_error_not_an_exception():
    register_hash_type(Exploding)
    try:
        h = compute_image_hashes(encode(synthetic_array(320, 240), "PNG"))
    finally:
        unregister_hash_type("exploding")
    assert h.decode_status == "hash_error"
    assert h.error_message == "exploding failed (RuntimeError)"
    assert h.pdq is not None  # the other hashes still computed


def test_failing_byte_only_plugin_is_reported_even_without_an_image():
    class ExplodingDigest(HashType):
        name = "explodingdigest"
        bits = 64
        index_kind = IndexKind.EXACT

        def compute(self, data, decoded):
            raise ValueError("nope")

    register_hash_type(ExplodingDigest)
    try:
        not_an_image = compute_image_hashes(b"plain text")
        image = compute_image_hashes(encode(synthetic_array(200, 150), "PNG"))
    finally:
        unregister_hash_type("explodingdigest")
    assert not_an_image.decode_status == "decode_error"
    assert not_an_image.error_message == "not a recognised image format; explodingdigest failed (ValueError)"
    assert image.decode_status == "hash_error"
    assert image.error_message == "explodingdigest failed (ValueError)"


def test_entry_point_plugins_are_loaded(monkeypatch):
    class FakeEntryPoint:
        name = "toymean"

        def load(self):
            return ToyMeanHash

    import importlib.metadata

    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda group=None: [FakeEntryPoint()] if group == ht_mod.ENTRY_POINT_GROUP else [],
    )
    monkeypatch.setattr(ht_mod, "_registry", {})
    monkeypatch.setattr(ht_mod, "_state", {"builtins": {}, "plugins": False})
    assert get_hash_type("toymean").bits == 64
    assert [t.name for t in hash_types()][-1] == "toymean"


def test_dihedral_variant_names_are_the_reference_order():
    assert DIHEDRAL_VARIANTS == ("rot90", "rot180", "rot270", "flipx", "flipy", "flip_plus1", "flip_minus1")


def test_docs_table_of_hash_types_is_the_registry():
    """docs/hashing.md shows types_table_markdown() as it is (regenerate: python -m hashwatch.hashing.hash_types)."""
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "hashing.md").read_text(encoding="utf-8")
    assert ht_mod.types_table_markdown() in docs


def test_only_builtins_have_columns_and_replacements_keep_them():
    class WithColumn(ToySha512):
        name = "withcolumn"
        own_column = True

    with pytest.raises(ValueError, match="only built-ins have columns"):
        register_hash_type(WithColumn)

    class Md5Elsewhere(ToySha512):
        name = "md5"
        bits = 128

    with pytest.raises(ValueError, match="keep the built-in's columns"):
        register_hash_type(Md5Elsewhere, replace=True)

    class OldStyle(ToyMeanHash):
        name = "oldstyle"
        needs_image = True

    with pytest.raises(ValueError, match="computed_from = Source.PICTURE"):
        register_hash_type(OldStyle)
    assert [t.name for t in hash_types()][:7] == ["md5", "sha1", "sha256", "crc32c", "phash", "dhash", "pdq"]


def test_hash_columns_are_the_builtins_storage():
    from hashwatch.hashing.hash_types import hash_columns

    images = [(c.name, c.role, c.required) for c in hash_columns("images")]
    assert images == [
        ("md5", "value", True),
        ("sha1", "value", True),
        ("sha256", "value", True),
        ("crc32c", "value", True),
        ("phash", "value", False),
        ("dhash", "value", False),
        ("pdq", "value", False),
        ("pdq_quality", "quality", False),
        ("pdq_dihedral", "variants", False),
    ]
    assert [c.name for c in hash_columns("matches")] == [
        "md5",
        "sha1",
        "sha256",
        "phash",
        "dhash",
        "pdq",
        "pdq_quality",
    ]
