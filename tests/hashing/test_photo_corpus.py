"""The photo corpus helper's filtering and caching, without touching apt (a prepared cache folder)."""

from __future__ import annotations

import json

from hashwatch.evaluation.photo_corpus import ensure_package, main, photo_paths, photos

from .conftest import encode, synthetic_array


def _fake_cache(tmp_path):
    pkg = tmp_path / "fakepkg"
    (pkg / "img").mkdir(parents=True)
    files = {
        "img/big.jpg": encode(synthetic_array(400, 300, seed=1), "JPEG"),
        "img/copy.jpg": encode(synthetic_array(400, 300, seed=1), "JPEG"),  # byte-identical duplicate
        "img/small.jpg": encode(synthetic_array(60, 40, seed=2), "JPEG"),
        "img/pic.png": encode(synthetic_array(300, 300, seed=3), "PNG"),
    }
    for rel, data in files.items():
        (pkg / rel).write_bytes(data)
    from hashwatch.evaluation.photo_corpus import _scan

    found = _scan(pkg, "fakepkg")
    (pkg / "manifest.json").write_text(
        json.dumps({"version": 1, "photos": [p.__dict__ for p in found]}), encoding="utf-8"
    )
    return tmp_path


def test_filters_dedupes_and_returns_absolute_paths(tmp_path):
    cache = _fake_cache(tmp_path)
    assert len(ensure_package("fakepkg", cache)) == 4  # read from the manifest: no apt-get
    jpegs = photos(["fakepkg"], formats=["JPEG"], min_side=100, cache_dir=cache)
    assert [p.path.rsplit("/", 1)[-1] for p in jpegs] == ["big.jpg"]
    assert jpegs[0].path.startswith(str(cache))
    assert (jpegs[0].width, jpegs[0].height, jpegs[0].format) == (400, 300, "JPEG")
    everything = photo_paths(["fakepkg"], formats=None, cache_dir=cache)
    assert sorted(p.rsplit("/", 1)[-1] for p in everything) == ["big.jpg", "pic.png", "small.jpg"]


def test_cli_summary(tmp_path, capsys):
    cache = _fake_cache(tmp_path)
    assert main(["--package", "fakepkg", "--any-format", "--summary", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "fakepkg: 3 images" in out and "total: 3" in out
