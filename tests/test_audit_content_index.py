"""Content runs (``audit --images``): any 64-byte run of a reference image, found in bounded memory, and never
a coincidence of low-entropy blocks (issue 17: the index's zero padding matched a zero block in a WebP)."""

import base64
import io
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from hashwatch.audit import ContentIndex, audit_tree
from hashwatch.audit import content_index as ci
from hashwatch.cli import main


def _webp_with_zero_block() -> bytes:
    image = Image.frombytes("RGB", (64, 48), random.Random(5).randbytes(64 * 48 * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", exif=b"Exif\x00\x00" + bytes(160))  # 160 zero bytes inside the WebP
    content = buffer.getvalue()
    assert bytes(64) in content
    return content


def _compiled_index(folder) -> None:
    from hashwatch.hashing.index_build import build_index

    listing = folder / "list.csv"
    listing.write_text(
        "hash_type,hash_value,category,source,list_version,deleted\n"
        + "".join(f"md5,{random.Random(i).randbytes(16).hex()},A,s,1,false\n" for i in range(20))
        + f"pdq,{'cd' * 32},B,s,1,false\n"
    )
    build_index([str(listing)], str(folder / "out" / "i.hwidx"))


def test_zero_padding_does_not_match_a_zero_block_inside_a_webp(tmp_path):
    (tmp_path / "out").mkdir()
    _compiled_index(tmp_path)
    assert bytes(64) in (tmp_path / "out" / "i.hwidx").read_bytes()  # the padding the first audit matched
    reference = ContentIndex()
    reference.add(_webp_with_zero_block(), "photo.webp")
    assert audit_tree(str(tmp_path / "out"), reference) == []
    assert reference.dropped >= 4  # the zero blocks were left out of the table


def test_low_entropy_runs_do_not_count_but_the_rest_of_the_image_does(tmp_path):
    webp = _webp_with_zero_block()
    reference = ContentIndex()
    reference.add(webp, "photo.webp")
    (tmp_path / "zeros.log").write_text("\x00" * 200)
    (tmp_path / "ff.log").write_bytes(b"\xff" * 300)
    assert [f.kind for f in audit_tree(str(tmp_path), reference)] == ["binary_file"]
    (tmp_path / "leak.log").write_text(base64.b64encode(webp[100:200]).decode())  # in the VP8 data
    assert ("content_run", "bytes of photo.webp (base64)") in {
        (f.kind, f.detail) for f in audit_tree(str(tmp_path), reference)
    }


def _shares_run(data: bytes, reference: bytes, length: int = 64) -> bool:
    """Brute-force oracle: does ``data`` hold any ``length``-byte run of ``reference``?"""
    runs = {reference[i : i + length] for i in range(len(reference) - length + 1)}
    return any(data[i : i + length] in runs for i in range(len(data) - length + 1))


@pytest.mark.parametrize("seed", range(12))
def test_64_byte_runs_found_and_63_byte_runs_not_against_a_brute_force_oracle(seed):
    rng = random.Random(seed)
    references = [rng.randbytes(rng.randrange(100, 3000)) for _ in range(4)]
    index = ContentIndex(max_blocks=rng.choice([20, 50, 10_000]))  # one table, or several
    for i, content in enumerate(references):
        index.add(content, f"r{i}")
    for length in (63, 64, rng.randrange(65, 200)):
        source = rng.choice(references)
        start = rng.randrange(0, len(source) - length)
        data = rng.randbytes(rng.randrange(0, 300)) + source[start : start + length] + rng.randbytes(50)
        expected = any(_shares_run(data, r) for r in references)
        hits = list(index.find(data))
        assert bool(hits) == expected, (length, start)
        assert all(
            h.length >= 64 and data[h.offset : h.offset + h.length] in b"".join(references) for h in hits
        )


def test_a_reference_set_larger_than_one_table_is_searched_table_by_table(tmp_path):
    rng = random.Random(9)
    images = [rng.randbytes(5000) for _ in range(6)]
    site = tmp_path / "site"
    site.mkdir()
    for i, content in enumerate(images):
        (site / f"{i}.jpg").write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.log").write_text(images[0][100:200].hex())
    pq.write_table(pa.table({"x": pa.array([images[5][4000:4100]], type=pa.binary())}), out / "t.parquet")
    index = ContentIndex(max_blocks=200)  # 156 blocks an image, 936 in all: 5 tables
    index.add_files(sorted(str(p) for p in site.iterdir()))
    assert [len(table) for table in index.tables()] == [200, 200, 200, 200, 136]
    findings = {(f.path.rsplit("/", 1)[1], f.kind, f.detail) for f in audit_tree(str(out), index)}
    assert ("a.log", "content_run", "bytes of 0.jpg (hex)") in findings
    assert ("t.parquet", "content_run", "bytes of 5.jpg (raw)") in findings
    assert len(findings) == 2


def test_reference_files_are_read_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(ci, "_READ", 4096)
    content = random.Random(2).randbytes(50_000)
    (tmp_path / "big.png").write_bytes(content)
    index = ContentIndex()
    index.add_file(str(tmp_path / "big.png"))
    for start in (10, 4090, 4096 * 7 + 5, 49_900 - 64):
        hit = next(index.find(b"x" + content[start : start + 64]))
        assert (hit.offset, hit.length) == (1, 64), start
    assert index.bytes == 50_000 and index.blocks == 50_000 // 32


def test_a_leak_appended_to_a_large_compiled_index_is_found(tmp_path, monkeypatch):
    from hashwatch.audit import scan

    monkeypatch.setattr(scan, "_CHUNK", 1024)
    (tmp_path / "out").mkdir()
    _compiled_index(tmp_path)
    content = random.Random(4).randbytes(3000)
    with open(tmp_path / "out" / "i.hwidx", "ab") as handle:
        handle.write(b"\x00" * 1000 + content[1000:1070])
    reference = ContentIndex()
    reference.add(content, "photo.jpg")
    findings = audit_tree(str(tmp_path / "out"), reference)
    assert [(f.kind, f.detail) for f in findings] == [("content_run", "bytes of photo.jpg (raw)")]


def test_window_hashes_equal_block_hashes():
    data = np.frombuffer(random.Random(1).randbytes(4096), dtype=np.uint8)
    windows = ci.window_hashes(data)
    blocks = ci.block_hashes(data.reshape(-1, 32))
    assert len(windows) == 4096 - 31
    assert (windows[::32] == blocks).all()
    assert len(np.unique(windows)) == len(windows)


def test_cli_summary_counts_blocks(tmp_path, capsys):
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.webp").write_bytes(_webp_with_zero_block())
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.log").write_text("ok\n")
    assert main(["audit", str(out), "--images", str(site)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"audit passed: no image content under {out} against 1 reference files")
    assert "low-entropy blocks left out" in line
    assert main(["audit", str(out), "--images", str(tmp_path / "missing")]) == 2


def test_an_unreadable_reference_image_is_one_line_and_status_2(tmp_path, capsys):
    site = tmp_path / "site"
    site.mkdir()
    (site / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    (tmp_path / "out").mkdir()
    assert main(["audit", str(tmp_path / "out"), "--images", str(site)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"hashwatch audit: error: cannot read reference image {site / 'gone.jpg'}: No such file or directory"
    )
