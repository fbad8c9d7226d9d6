"""Corpus selection: which images are known originals, which distractors, and which duplicates leave."""

from __future__ import annotations

from hashwatch.evaluation.corpus import CorpusImage, scene_of, select_corpus, variant_key
from hashwatch.evaluation.runner import ImageSource


def image(label: str, key: str | None = None, size=(800, 600)) -> CorpusImage:
    package = label.split("/", 1)[0]
    return CorpusImage(
        ImageSource(key or label, label, package, path="/nonexistent"), size[0], size[1], "JPEG"
    )


def test_variant_keys():
    plasma = "plasma-workspace-wallpapers/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg"
    assert variant_key(plasma) == variant_key(plasma.replace("images/2560x1600", "images_dark/720x1440"))
    mate = "mate-backgrounds/usr/share/backgrounds/mate/abstract/Elephants.jpg"
    assert variant_key(mate) == variant_key(mate.replace(".jpg", "_3840x2160.jpg"))
    gnome = "gnome-backgrounds/usr/share/backgrounds/gnome/wood-d.webp"
    assert variant_key(gnome) == variant_key(gnome.replace("-d.", "-l."))
    assert variant_key(mate) != variant_key(mate.replace("Elephants", "Elephant"))


def test_select_corpus_splits_and_dedupes():
    data = "opencv-doc/usr/share/doc/opencv-doc/examples/data"
    html = "opencv-doc/usr/share/doc/opencv-doc/opencv4/html"
    pool = [
        image(f"{data}/baboon.jpg", key="k-baboon"),
        image(f"{data}/baboon-copy.jpg", key="k-baboon"),  # byte-identical
        image("mate-backgrounds/usr/share/backgrounds/mate/abstract/Elephants.jpg", size=(1920, 1080)),
        image(
            "mate-backgrounds/usr/share/backgrounds/mate/abstract/Elephants_3840x2160.jpg", size=(3840, 2160)
        ),
        image(f"{data}/basketball1.png"),
        image(f"{data}/basketball2.png"),  # reviewed: same picture as basketball1
        image(f"{html}/d4/d1b/messiup.jpg"),  # reviewed: made from a known photo
        image(f"{data}/left01.jpg"),
        image(f"{data}/right01.jpg"),
        image(f"{data}/tiny.jpg", size=(200, 150)),  # too small to be known: a distractor
        image("openclipart-png/usr/share/openclipart/png/animals/cat.png", size=(600, 600)),
        image(f"{data}/nohash.jpg"),
    ]
    has_hashes = [not p.label.endswith("nohash.jpg") for p in pool]
    corpus = select_corpus(pool, has_hashes=has_hashes)
    known = sorted(s.label.rsplit("/", 1)[1] for s in corpus.known)
    distractors = sorted(s.label.rsplit("/", 1)[1] for s in corpus.distractors)
    assert known == ["Elephants_3840x2160.jpg", "baboon.jpg", "basketball1.png", "left01.jpg", "right01.jpg"]
    assert distractors == ["cat.png", "nohash.jpg", "tiny.jpg"]
    reasons = dict(corpus.removed)
    assert reasons[f"{data}/baboon-copy.jpg"] == "byte-identical to another file"
    assert reasons["mate-backgrounds/usr/share/backgrounds/mate/abstract/Elephants.jpg"].startswith(
        "a version of"
    )
    assert reasons[f"{data}/basketball2.png"].startswith("same picture as a known photo")
    assert reasons[f"{html}/d4/d1b/messiup.jpg"] == "made from a known photo"
    scenes = {s.label.rsplit("/", 1)[1]: s.scene for s in corpus.known}
    assert scenes["left01.jpg"] == scenes["right01.jpg"] == "opencv chessboard calibration"
    assert scenes["baboon.jpg"] is None
    assert corpus.counts()["opencv-doc"] == {"known": 4, "distractors": 2}


def test_scene_of():
    assert scene_of("opencv-doc/usr/share/doc/opencv-doc/examples/data/aloeL.jpg") == "opencv aloe stereo"
    assert scene_of("opencv-doc/usr/share/doc/opencv-doc/examples/data/fruits.jpg") is None
