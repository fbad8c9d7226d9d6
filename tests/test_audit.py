"""The analyst-safety audit finds image content wherever a run could leak it, and passes clean output."""

import base64
import io
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from hashwatch.audit import ContentIndex, audit_tree
from hashwatch.cli import main


def _noise_image(fmt: str, seed: int, size=(96, 64)) -> bytes:
    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3)))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def jpeg() -> bytes:
    return _noise_image("JPEG", 1)


def _write_parquet(path, columns: dict, compression="zstd"):
    pq.write_table(pa.table(columns), path, compression=compression)


def _index(*images: bytes) -> ContentIndex:
    index = ContentIndex()
    for i, content in enumerate(images):
        index.add(content, f"image-{i}")
    return index


def test_clean_output_passes(tmp_path, jpeg):
    _write_parquet(tmp_path / "images.parquet", {"url": ["http://a/x.jpg"], "md5": ["0" * 32]})
    (tmp_path / "manifest.json").write_text(json.dumps({"counts": {"ok": 1}}))
    (tmp_path / "run.log").write_text("fetched http://a/x.jpg status=200\n")
    assert audit_tree(str(tmp_path), _index(jpeg)) == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_image_signature_in_a_compressed_parquet_value_is_found(tmp_path, fmt):
    content = _noise_image(fmt, 2)
    path = tmp_path / "leak.parquet"
    _write_parquet(path, {"note": pa.array([b"prefix " + content[:40]], type=pa.binary())})
    # The raw file does not show the signature (pages are compressed); the decoded value does.
    findings = audit_tree(str(tmp_path))
    assert [f.kind for f in findings] == ["signature"]
    assert findings[0].detail.upper() == fmt.upper()
    assert "column note" in findings[0].where


def test_run_of_64_bytes_inside_a_string_column_is_found(tmp_path, jpeg):
    middle = jpeg[1000:1064]  # no signature in the middle of the file
    _write_parquet(tmp_path / "m.parquet", {"page_url": pa.array([None, middle], type=pa.binary())})
    assert audit_tree(str(tmp_path)) == []  # no signature, no reference: nothing to see
    findings = audit_tree(str(tmp_path), _index(jpeg))
    assert [(f.kind, f.detail) for f in findings] == [("content_run", "bytes of image-0 (raw)")]


def test_run_of_63_bytes_may_pass_but_never_crashes(tmp_path, jpeg):
    _write_parquet(tmp_path / "m.parquet", {"x": pa.array([jpeg[1001:1033]], type=pa.binary())})
    assert audit_tree(str(tmp_path), _index(jpeg)) == []


def test_base64_payload_in_a_log_line_is_found(tmp_path, jpeg):
    data_uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    (tmp_path / "run.log").write_text(f"WARNING bad link {data_uri}\n")
    kinds = {(f.kind, f.detail) for f in audit_tree(str(tmp_path), _index(jpeg))}
    assert ("signature", "base64 image data URI") in kinds
    assert ("content_run", "bytes of image-0 (base64)") in kinds


def test_base64_of_a_fragment_at_any_alignment_is_found(tmp_path, jpeg):
    for shift in range(3):
        (tmp_path / "frag.txt").write_text(base64.b64encode(jpeg[500 + shift : 700]).decode())
        findings = audit_tree(str(tmp_path), _index(jpeg))
        assert [f.kind for f in findings] == ["content_run"], shift


@pytest.mark.parametrize(
    "column_type",
    [
        pa.list_(pa.binary()),
        pa.map_(pa.string(), pa.binary()),
        pa.struct([("a", pa.string()), ("b", pa.binary())]),
    ],
)
def test_nested_values_are_scanned(tmp_path, jpeg, column_type):
    leak = jpeg[3000:3100]
    value = {
        pa.types.is_list: [b"ok", leak],
        pa.types.is_map: [("k", b"v"), ("leak", leak)],
        pa.types.is_struct: {"a": "ok", "b": leak},
    }
    kind = next(value[check] for check in value if check(column_type))
    pq.write_table(pa.table({"nested": pa.array([kind], type=column_type)}), tmp_path / "n.parquet")
    findings = audit_tree(str(tmp_path), _index(jpeg))
    assert [(f.kind, f.where.split(" byte")[0]) for f in findings] == [("content_run", "column nested")]


def test_binary_non_parquet_file_is_a_finding(tmp_path, jpeg):
    (tmp_path / "tmp-0001").write_bytes(jpeg)
    kinds = {f.kind for f in audit_tree(str(tmp_path), _index(jpeg))}
    assert kinds == {"binary_file", "signature", "content_run"}


def test_findings_never_quote_content(tmp_path, jpeg):
    (tmp_path / "x.bin").write_bytes(jpeg)
    for finding in audit_tree(str(tmp_path), _index(jpeg)):
        text = str(finding).encode("latin-1", "replace")
        assert jpeg[:4] not in text and jpeg[100:108] not in text


def test_cli_exit_status(tmp_path, jpeg, capsys):
    images = tmp_path / "site"
    images.mkdir()
    (images / "a.jpg").write_bytes(jpeg)
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.log").write_text("all good\n")
    assert main(["audit", str(out), "--images", str(images)]) == 0
    assert "audit passed" in capsys.readouterr().out
    (out / "run.log").write_text(base64.b64encode(jpeg[10:400]).decode())
    assert main(["audit", str(out), "--images", str(images)]) == 1
    assert main(["audit", str(tmp_path / "missing")]) == 2


def test_compiled_index_is_recognised_and_scanned(tmp_path, jpeg):
    from hashwatch.hashing.index_build import build_index

    listing = tmp_path / "list.csv"
    listing.write_text(
        "hash_type,hash_value,category,source,list_version,deleted\n"
        f"md5,{'ab' * 16},A,s,1,false\npdq,{'cd' * 32},B,s,1,false\n"
    )
    out = tmp_path / "out"
    out.mkdir()
    build_index([str(listing)], str(out / "i.hwidx"))
    assert audit_tree(str(out), _index(jpeg)) == []
    # The same file with a leaked run appended is caught (the index parser does not stop the scan).
    with open(out / "i.hwidx", "ab") as handle:
        handle.write(jpeg[2000:2100])
    assert [f.kind for f in audit_tree(str(out), _index(jpeg))] == ["content_run"]
