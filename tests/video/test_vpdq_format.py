"""pytx's vPDQ serialisation (vpdq_util.vpdq_to_json / json_to_vpdq) to and from VpdqFrame lists."""

from __future__ import annotations

import json
import random

import pytest

from hashwatch.video.frames import VpdqFrame
from hashwatch.video.vpdq_format import format_feature, json_to_vpdq, parse_feature, vpdq_to_json

H1 = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c"
H2 = "c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c"


def _frames(n: int, seed: int = 0) -> list[VpdqFrame]:
    rng = random.Random(seed)
    return [
        VpdqFrame(k, round(k * 0.5 + rng.random(), 3), f"{rng.getrandbits(256):064x}", rng.randint(0, 100))
        for k in range(n)
    ]


def test_round_trip_keeps_hash_quality_and_millisecond_timestamps():
    frames = _frames(50)
    assert json_to_vpdq(vpdq_to_json(frames)) == frames  # frame_index is the position, as pytx keeps none


def test_the_serialisation_is_pytx_shape_a_json_list_of_compact_strings():
    text = vpdq_to_json([VpdqFrame(0, 0.0, H1, 100), VpdqFrame(1, 1.0, H2, 98)])
    assert json.loads(text) == [f"{H1},100,0.000", f"{H2},98,1.000"]


def test_reads_what_pytx_writes_three_significant_digits_and_upper_case_hex():
    # pytx formats timestamps with ':.3' (significant digits): 1234.5 s -> '1.23e+03'
    text = json.dumps([f"{H1.upper()},100,0.0", f"{H2},50,1.23e+03"])
    assert json_to_vpdq(text) == [VpdqFrame(0, 0.0, H1, 100), VpdqFrame(1, 1230.0, H2, 50)]
    assert json_to_vpdq("") == []  # as pytx: an empty value is no frame


def test_one_frame_form():
    assert parse_feature(f"{H1},77,12.5", frame_index=4) == VpdqFrame(4, 12.5, H1, 77)
    assert format_feature(VpdqFrame(4, 12.5, H1, 77)) == f"{H1},77,12.500"


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json", "not JSON"),
        ('{"0": "x"}', "JSON list of frame strings"),
        (json.dumps([f"{H1},100"]), "frame 1 of 1: .*got 2 field"),
        (json.dumps([f"{H1},100,0", f"{H1[:-1]},100,1"]), "frame 2 of 2: .*64 hex digits"),
        (json.dumps([f"{H1[:-1]}g,100,1"]), "64 hex digits"),
        (json.dumps([f"{H1},101,1"]), "quality must be 0-100"),
        (json.dumps([f"{H1},high,1"]), "quality is not an integer"),
        (json.dumps([f"{H1},100,-1"]), "timestamp must be a finite number >= 0"),
        (json.dumps([f"{H1},100,nan"]), "timestamp must be a finite number >= 0"),
        (json.dumps([f"{H1},100,soon"]), "timestamp is not a number"),
        (json.dumps([5]), "a vpdq frame is a string"),
    ],
)
def test_bad_values_say_which_frame_and_what(text, message):
    with pytest.raises(ValueError, match=message):
        json_to_vpdq(text)


def test_writing_refuses_what_could_not_be_read_back():
    with pytest.raises(ValueError, match="quality"):
        vpdq_to_json([VpdqFrame(0, 0.0, H1, 200)])


def test_an_error_quotes_at_most_a_short_prefix_of_the_value():
    with pytest.raises(ValueError) as info:
        parse_feature("x" * 5000 + ",1,1")
    assert len(str(info.value)) < 200
