"""The evaluation's halves (hashwatch.evaluation.split): balanced, deterministic, scenes kept whole."""

import random

import pytest

from hashwatch.evaluation.runner import ImageSource
from hashwatch.evaluation.split import HELD_BACK, TUNING, edit_rng, split_known


def _sources() -> list[ImageSource]:
    sources = [ImageSource(f"k{p}{i}", f"pkg{p}/img{i}.jpg", f"pkg{p}") for p in range(3) for i in range(41)]
    sources += [ImageSource(f"s{i}", f"pkg0/left{i}.jpg", "pkg0", scene="chessboard") for i in range(9)]
    return sources


def test_the_halves_are_about_even_and_a_scene_stays_whole():
    tuning, held = split_known(_sources())
    assert len(tuning) + len(held) == len(_sources())
    pictures = sum(s.scene is None for s in tuning)
    assert 123 * 0.35 < pictures < 123 * 0.65, pictures  # 123 coin tosses: far outside 5 sigma otherwise
    halves = {TUNING if s in tuning else HELD_BACK for s in _sources() if s.scene == "chessboard"}
    assert len(halves) == 1


def test_a_pictures_half_does_not_depend_on_the_other_pictures():
    sources = _sources()
    tuning, _ = split_known(sources)
    fewer_tuning, _ = split_known(sources[::3])
    assert {s.key for s in fewer_tuning} == {s.key for s in tuning} & {s.key for s in sources[::3]}


def test_the_split_does_not_depend_on_the_order_given_and_changes_with_the_seed():
    sources = _sources()
    shuffled = sources[:]
    random.Random(7).shuffle(shuffled)
    tuning, _ = split_known(sources)
    tuning_shuffled, _ = split_known(shuffled)
    assert {s.key for s in tuning} == {s.key for s in tuning_shuffled}
    other, _ = split_known(sources, seed="another seed")
    assert {s.key for s in other} != {s.key for s in tuning}


def test_edit_draws_are_fixed_per_half_picture_and_edit():
    a = edit_rng(TUNING, "pkg/a.jpg", "rotate").uniform(0.5, 6.0)
    assert a == edit_rng(TUNING, "pkg/a.jpg", "rotate").uniform(0.5, 6.0)
    assert a != edit_rng(HELD_BACK, "pkg/a.jpg", "rotate").uniform(0.5, 6.0)
    assert a != edit_rng(TUNING, "pkg/b.jpg", "rotate").uniform(0.5, 6.0)
    with pytest.raises(ValueError, match="half must be one of"):
        edit_rng("both", "pkg/a.jpg", "rotate")
