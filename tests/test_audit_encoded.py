"""The audit finds image bytes encoded as text (base64, hex, escapes) with no --images, and nothing in clean
outputs full of hashes and URLs (issue 17: bare base64 of a JPEG in a log went unnoticed)."""

import base64
import binascii
import doctest
import gzip
import io
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from hashwatch.audit import audit_tree
from hashwatch.cli import main

FORMATS = ["JPEG", "PNG", "GIF", "WEBP"]


def _noise_image(fmt: str, seed: int = 3, size=(96, 64)) -> bytes:
    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    if fmt == "GIF":
        image = image.quantize(64)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _wrap(text: str, width: int, newline: str) -> str:
    return newline.join(text[i : i + width] for i in range(0, len(text), width))


ENCODINGS = {
    "base64": lambda b: base64.b64encode(b).decode(),
    "base64-unpadded": lambda b: base64.b64encode(b).decode().rstrip("="),
    "base64-wrapped-76": lambda b: base64.encodebytes(b).decode(),  # MIME: 76 columns, LF
    "base64-wrapped-64-crlf": lambda b: _wrap(base64.b64encode(b).decode(), 64, "\r\n"),  # PEM style
    "base64url": lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="),
    "base64url-wrapped-76": lambda b: _wrap(base64.urlsafe_b64encode(b).decode(), 76, "\n"),
    "hex": lambda b: b.hex(),
    "HEX": lambda b: b.hex().upper(),
}


def _write(container: str, folder, text: str) -> None:
    line = f"2026-12-07 13:36:42,963 WARNING hashwatch.fetch: bad body {text} (retrying)\n"
    if container == "text":
        (folder / "run.log").write_text("INFO start\n" + line + "INFO done\n")
    elif container == "gzip-log":
        with gzip.open(folder / "run.log.gz", "wt") as handle:
            handle.write("INFO start\n" + line)
    elif container == "json-manifest":
        (folder / "manifest.json").write_text(json.dumps({"counts": {"ok": 3}, "note": text}, indent=2))
    elif container == "parquet-string":
        column = pa.array(["http://a.test/x.jpg", None, text, "ok"], type=pa.string())
        pq.write_table(pa.table({"error_message": column}), folder / "fetch_log.parquet", compression="zstd")


@pytest.mark.parametrize("container", ["text", "gzip-log", "json-manifest", "parquet-string"])
@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_encoded_image_is_found_without_references(tmp_path, fmt, encoding, container):
    _write(container, tmp_path, ENCODINGS[encoding](_noise_image(fmt)))
    findings = audit_tree(str(tmp_path))
    signatures = [f for f in findings if f.kind == "signature"]
    assert signatures, findings
    name, coding = signatures[0].detail.rsplit(" (", 1)
    assert name.upper() == fmt
    expected = "hex" if encoding.lower() == "hex" else "base64url" if "url" in encoding else "base64"
    assert coding == expected + ")"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_short_encoded_image_start_is_found(tmp_path, fmt):
    # 48 bytes: a log that printed the start of a body. Shorter than the blob limit, found by its signature.
    head = _noise_image(fmt)[:48]
    (tmp_path / "a.log").write_text(f"body starts {base64.b64encode(head).decode()}\nhex {head.hex()}\n")
    details = {f.detail for f in audit_tree(str(tmp_path))}
    assert {d.split(" (")[0].upper() for d in details} == {fmt}
    assert {d.split(" (")[1] for d in details} == {"base64)", "hex)"}


def test_image_after_a_word_in_the_same_run_is_found(tmp_path):
    jpeg = _noise_image("JPEG")
    # "payload/" joins the base64 run (/ is in the alphabet); the image starts 8 characters in.
    (tmp_path / "a.log").write_text("payload/" + base64.b64encode(jpeg).decode())
    assert [(f.kind, f.detail) for f in audit_tree(str(tmp_path))] == [("signature", "JPEG (base64)")]


@pytest.mark.parametrize(
    "encode",
    [
        lambda b: "%2F".join(base64.b64encode(b).decode().split("/")),  # percent-encoded in a URL
        lambda b: base64.b64encode(b).decode().replace("/", "\\/"),  # JSON's escaped slash
    ],
    ids=["percent", "json-slash"],
)
def test_base64_with_escaped_slashes_is_found(tmp_path, encode):
    (tmp_path / "urls.txt").write_text(f"http://a.test/img?data={encode(_noise_image('PNG'))}&x=1\n")
    assert [f.detail for f in audit_tree(str(tmp_path))] == ["PNG (base64)"]


@pytest.mark.parametrize(
    "render",
    [repr, lambda b: json.dumps(b.decode("latin-1"))],
    ids=["python-repr", "json-latin1"],
)
def test_escaped_bytes_in_an_error_message_are_found(tmp_path, render):
    jpeg = _noise_image("JPEG")
    message = f"cannot identify image file: {render(jpeg[:300])}"
    pq.write_table(pa.table({"error_message": [message]}), tmp_path / "f.parquet")
    assert ("signature", "JPEG (escaped)") in {(f.kind, f.detail) for f in audit_tree(str(tmp_path))}


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode, binascii.hexlify])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_fragment_without_header_is_a_blob(tmp_path, fmt, encode):
    content = _noise_image(fmt, size=(160, 120))
    fragment = content[len(content) // 3 : len(content) // 3 + 2000]
    (tmp_path / "a.log").write_text(f"chunk {encode(fragment).decode()}\n")
    findings = audit_tree(str(tmp_path))
    assert [f.kind for f in findings] == ["blob"], findings
    assert "high-entropy binary data" in findings[0].detail


def test_a_raw_binary_value_of_high_entropy_is_a_blob(tmp_path):
    content = _noise_image("WEBP", size=(160, 120))
    values = pa.array([b"ok", content[1000:3000]], type=pa.binary())
    pq.write_table(pa.table({"note": values}), tmp_path / "n.parquet")
    findings = audit_tree(str(tmp_path))
    assert [(f.kind, f.where) for f in findings] == [("blob", "column note byte 0 of row 1")]


def test_video_containers_are_found(tmp_path):
    mp4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(range(256)) * 2
    webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + bytes(range(256)) * 2
    (tmp_path / "a.log").write_text(f"{base64.b64encode(mp4).decode()}\n{webm.hex()}\n")
    assert {f.detail for f in audit_tree(str(tmp_path))} == {"MP4 (base64)", "WebM/MKV (hex)"}


def test_findings_name_row_and_line(tmp_path):
    text = base64.b64encode(_noise_image("PNG")).decode()
    pq.write_table(pa.table({"url": ["a", "b", f"x {text}"]}), tmp_path / "t.parquet")
    (tmp_path / "b.log").write_text(f"one\ntwo\nthree {text}\n")
    assert sorted(f.where for f in audit_tree(str(tmp_path))) == [
        "column url byte 2 of row 2",
        "file byte 14 (line 3)",
    ]


def test_a_leak_across_a_chunk_boundary_is_found(tmp_path, monkeypatch):
    from hashwatch.audit import scan

    monkeypatch.setattr(scan, "_CHUNK", 4096)
    monkeypatch.setattr(scan, "_OVERLAP", 1024)
    text = base64.b64encode(_noise_image("PNG")[:600]).decode()  # 800 characters
    for pad in (3000, 3500, 4000, 4090):
        (tmp_path / "a.log").write_text("x" * pad + " " + text + "\n" + "y" * 5000)
        assert [f.detail for f in audit_tree(str(tmp_path))] == ["PNG (base64)"], pad


# ----------------------------------------------------------------------------- no false positives


def _hashes(rng: random.Random, n: int) -> dict[str, str]:
    return {
        "md5": rng.randbytes(16).hex(),
        "sha1": rng.randbytes(20).hex(),
        "sha256": rng.randbytes(32).hex(),
        "crc32c": rng.randbytes(4).hex(),
        "phash": rng.randbytes(8).hex(),
        "pdq": rng.randbytes(32).hex(),
        "sha512": rng.randbytes(64).hex().upper(),
        "photodna": rng.randbytes(144).hex(),
    }


def _realistic_urls(rng: random.Random) -> list[str]:
    token = base64.urlsafe_b64encode(rng.randbytes(256)).decode().rstrip("=")  # RS256 signature: 342 chars
    jwt_head = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').decode().rstrip("=")
    jwt_body = base64.urlsafe_b64encode(json.dumps({"sub": "x" * 40, "exp": 1}).encode()).decode().rstrip("=")
    cloudfront = base64.b64encode(rng.randbytes(128)).decode().replace("+", "-").replace("=", "_")
    return [
        f"https://cdn.example.test/i/{rng.randbytes(12).hex()}/photo_{rng.randrange(9999)}.jpg",
        f"https://img.example.test/a/{base64.urlsafe_b64encode(rng.randbytes(24)).decode()}/x.webp",
        f"https://s.example.test/p.png?token={jwt_head}.{jwt_body}.{token}",
        f"https://d1.example.test/x.jpg?Signature={cloudfront}&Key-Pair-Id=APKA{rng.randbytes(8).hex().upper()}",
        "https://encrypted-tbn0.example.test/images?q=tbn:ANd9Gc"
        + base64.b64encode(rng.randbytes(60)).decode(),
        "data:image/png;sha256=" + rng.randbytes(32).hex(),
        "http://127.0.0.1:41287/gallery/1.html",
        "https://example.test/wp-content/uploads/2020/01/some-long-file-name-with-words-in-it-1024x768.jpg",
    ]


def test_a_realistic_clean_output_passes(tmp_path):
    """Hash columns, hash lists one a line (64 columns of hex: like wrapped base64), candidate maps, signed
    URLs and JWTs, data: URIs as recorded, the manifest and a log: no finding."""
    rng = random.Random(17)
    rows = [{**_hashes(rng, i), "url": url} for i in range(300) for url in _realistic_urls(rng)]
    table = pa.Table.from_pylist(rows)
    candidates = pa.array(
        [[(f"pdq:rot{k}", rng.randbytes(32).hex()) for k in range(16)] for _ in rows],
        type=pa.map_(pa.string(), pa.string()),
    )
    pq.write_table(table.append_column("candidate_hashes", candidates), tmp_path / "images.parquet")
    (tmp_path / "hashes.txt").write_text("".join(rng.randbytes(32).hex() + "\n" for _ in range(2000)))
    (tmp_path / "md5s.txt").write_text("".join(rng.randbytes(16).hex().upper() + "\r\n" for _ in range(2000)))
    (tmp_path / "manifest.json").write_text(
        json.dumps({"rows": rows[:200], "candidates": [r["pdq"] for r in rows]})
    )
    with gzip.open(tmp_path / "run.log.gz", "wt") as handle:
        for row in rows:
            handle.write(
                f"2026-12-07 INFO fetched {row['url']} md5={row['md5']} pdq={row['pdq']} status=200\n"
            )
    assert audit_tree(str(tmp_path)) == []


@pytest.mark.slow
@pytest.mark.network
def test_the_demo_output_passes(tmp_path):
    """A real run's output (the demo site crawled on loopback): every file type hashwatch writes."""
    from hashwatch.demo import main as demo_main

    workdir = tmp_path / "demo"
    demo_main(["--workdir", str(workdir)])
    assert audit_tree(str(workdir / "output")) == []


def test_cli_reports_an_encoded_leak(tmp_path, capsys):
    (tmp_path / "run.log").write_text("x " + base64.b64encode(_noise_image("JPEG")).decode() + "\n")
    assert main(["audit", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{tmp_path}/run.log: file byte 2 (line 1): signature: JPEG (base64)", out[-1]]
    assert out[-1].startswith("audit FAILED: 1 finding(s)")


def test_the_audit_modules_doctests_pass():
    import hashwatch.audit
    from hashwatch.audit import content_index, encoded, scan, signatures

    for module in (hashwatch.audit, content_index, encoded, scan, signatures):
        assert doctest.testmod(module).failed == 0, module.__name__
