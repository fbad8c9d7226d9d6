"""The whole pipeline on a site with failures of every kind: every seed and every discovered URL ends as
exactly one fetch_log row with the right outcome, and the output holds no image content."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from local_http import SMALL_SITE_CONFIG_KWARGS

from hashwatch.audit import ContentIndex, audit_tree
from pipelines.crawl_match import run
from pipelines.run_report import read_run_table

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _flags() -> list[str]:
    flags = []
    for name, value in SMALL_SITE_CONFIG_KWARGS.items():
        flag = "--" + name.replace("_", "-")
        if name == "allowed_networks":
            flags += [f"--allow-network={network}" for network in value]
        else:
            flags.append(f"{flag}={value}")
    return flags


def test_every_url_ends_as_exactly_one_outcome_row(small_site, tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"{small_site.seed}\n{small_site.seed}#x\nnot a url\n")
    listing = tmp_path / "list.csv"
    listing.write_text(
        "hash_type,hash_value,category,source,list_version,deleted\n"
        f"md5,{hashlib.md5(small_site.data_png).hexdigest()},A,t,1,false\n"
    )
    out = tmp_path / "out"
    report = run(
        [
            f"--seeds={seeds}",
            f"--hash-list={listing}",
            f"--output-dir={out}",
            "--progress-interval=0",
            *_flags(),
        ]
    )
    assert report.state == "DONE"
    rows = read_run_table(str(out), "fetch_log", report.started[:10], report.run_id).to_pylist()

    expected = Counter({("page", url, o, k): 1 for url, (o, k) in small_site.expected_pages.items()})
    expected[("page", "not a url", "failed", "invalid_url")] += 1
    expected.update(("image", url, o, k) for url, _, o, k in small_site.expected_data_rows)
    expected.update(("image", url, o, k) for url, (o, k) in small_site.expected_images.items())
    # The crawl tests' digest-only handler takes e.webp (a WebP header and zeros) as fetched; real decoding
    # finds it broken: failed/decode_error here, and its digests are still recorded in images/.
    webp = small_site.a.url("/img/e.webp")
    expected[("image", webp, "ok", None)] -= 1
    expected[("image", webp, "failed", "decode_error")] += 1
    expected = +expected
    actual = Counter((r["kind"], r["url"], r["outcome"], r["error_kind"]) for r in rows)
    assert actual == expected

    # The inline image is in the list by MD5: found on every page that embeds it.
    matches = read_run_table(str(out), "matches", report.started[:10], report.run_id).to_pylist()
    data_pages = {
        page
        for url, page, outcome, _ in small_site.expected_data_rows
        if outcome == "ok"
        and url.startswith("data:image/png;sha256=" + hashlib.sha256(small_site.data_png).hexdigest())
    }
    assert {m["page_url"] for m in matches if m["hash_type"] == "md5"} == data_pages
    reference = ContentIndex()
    reference.add(small_site.data_png, "inline.png")
    assert audit_tree(str(out), reference) == []
    images = read_run_table(str(out), "images", report.started[:10], report.run_id).to_pylist()
    assert [i["decode_status"] for i in images if i["image_url"] == webp] == ["decode_error"]
