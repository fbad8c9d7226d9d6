"""The allowlist file: parsing, validation messages, and which matches each scope suppresses."""

from __future__ import annotations

import pytest

from hashwatch.errors import UserError
from hashwatch.hashing.allowlist import Allowlist
from hashwatch.hashing.match_policy import Match

PDQ = "f" * 64
MD5 = "0123456789abcdef" * 2
SHA = "ab" * 32


def parse(text: str) -> Allowlist:
    return Allowlist.parse(text.encode(), "allow.csv")


def match(hash_type: str, list_hash: str) -> Match:
    return Match(hash_type, list_hash, list_hash, 0, "exact", "A", "iwf", "v1")


def test_scopes_and_defaults():
    allow = parse(
        "# known collisions and cleared images\n"
        "hash_type,hash_value,reason,scope,added_at,added_by\n"
        f"pdq,{PDQ.upper()},flat grey collides,list,2026-11-01,ana\n"
        f"sha256,{SHA},reviewed innocent,image,2026-11-02T10:00:00,bo\n"
        f"md5,{MD5},both ways,,,\n"
    )
    assert [(e.hash_type, e.scope, e.line) for e in allow.entries] == [
        ("pdq", "list", 3),
        ("sha256", "image", 4),
        ("md5", "both", 5),
    ]
    assert allow.entries[0].hash_value == PDQ  # lower-cased
    assert len(allow.sha256) == 64 and allow.describe()["by_scope"] == {"both": 1, "image": 1, "list": 1}
    # list scope: the list hash, whatever image matched it
    assert allow.suppressing("pdq", PDQ, {}).reason == "flat grey collides"
    # ... but not an image whose own pdq is that value
    assert allow.image_entry({"pdq": PDQ}) is None
    # image scope: any match of the image, through any hash
    assert allow.suppressing("phash", "1" * 16, {"sha256": SHA}).reason == "reviewed innocent"
    assert allow.suppressing("sha256", SHA, {}) is None  # not as a list hash
    # both
    assert allow.suppressing("md5", MD5, {}) is not None
    assert allow.suppressing("pdq", "0" * 64, {"md5": MD5}) is not None
    assert allow.suppressing("pdq", "0" * 64, {"md5": "1" * 32}) is None


def test_split_keeps_the_rest():
    allow = parse(f"hash_type,hash_value,reason,scope\npdq,{PDQ},collision,list\n")
    kept, dropped = allow.split([match("pdq", PDQ), match("md5", MD5)], {"md5": MD5})
    assert [m.hash_type for m in kept] == ["md5"]
    assert [(m.hash_type, e.reason) for m, e in dropped] == [("pdq", "collision")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the allowlist is empty"),
        ("hash_type,hash_value\n", r"allow.csv:1: allowlist header lacks reason"),
        (f"hash_type,hash_value,reason\npdq,{PDQ[:-1]},x\n", r"allow.csv:2: pdq needs 64 hex digits, got 63"),
        (f"hash_type,hash_value,reason\nmd5,{'g' * 32},x\n", r"allow.csv:2: md5 value is not hexadecimal"),
        (f"hash_type,hash_value,reason\nnosuch,{MD5},x\n", r"allow.csv:2: unknown hash type 'nosuch'"),
        ("hash_type,hash_value,reason\ncrc32c,01234567,x\n", r"allow.csv:2: crc32c is never matched"),
        (f"hash_type,hash_value,reason\nmd5,{MD5},\n", r"allow.csv:2: reason is empty"),
        (
            f"hash_type,hash_value,reason,scope\nmd5,{MD5},x,everything\n",
            r"allow.csv:2: scope must be one of",
        ),
        (
            f"hash_type,hash_value,reason,added_at\nmd5,{MD5},x,last week\n",
            r"allow.csv:2: added_at 'last week'",
        ),
        (f"hash_type,hash_value,reason\n\nmd5,{MD5},x,extra\n", r"allow.csv:3: 4 columns, the header has 3"),
    ],
)
def test_bad_files_name_file_and_line(text, message):
    with pytest.raises(UserError, match=message):
        parse(text)


def test_not_utf8_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="not UTF-8"):
        Allowlist.parse(b"\xff\xfe\x00", "allow.csv")
    with pytest.raises(UserError, match="cannot read allowlist"):
        Allowlist.load(str(tmp_path / "none.csv"))


def test_image_scope_needs_a_hash_that_matches_rows_carry():
    from hashwatch.hashing.hash_types import HashType, IndexKind, register_hash_type, unregister_hash_type

    class Toy(HashType):
        name = "toyexact"
        bits = 32
        index_kind = IndexKind.EXACT
        default_threshold = 0

    register_hash_type(Toy())
    try:
        assert parse("hash_type,hash_value,reason,scope\ntoyexact,0a0b0c0d,x,list\n").list_entry(
            "toyexact", "0a0b0c0d"
        )
        with pytest.raises(UserError, match="use scope=list for toyexact"):
            parse("hash_type,hash_value,reason,scope\ntoyexact,0a0b0c0d,x,image\n")
    finally:
        unregister_hash_type("toyexact")
