"""``data:`` URIs read with w3lib's parser: where our rules differ from it, and where they changed.

Two groups. The first pins the rules we keep over w3lib's RFC 2397 reading (a plain call to
``w3lib.url.parse_data_uri`` answers each one otherwise). The second pins what changed when w3lib took over the
percent-decoding and the media type became one pattern (each failed on the hand-written parser).
"""

import base64
import hashlib

import pytest
from w3lib.url import parse_data_uri as w3lib_parse

from hashwatch.crawling.data_uri import parse_data_uri

BODY = b"\x89PNG\r\n\x1a\n" + bytes(range(41))  # synthetic bytes, not a picture; its base64 ends "=="
B64 = base64.b64encode(BODY).decode()
ID = f"data:image/png;sha256={hashlib.sha256(BODY).hexdigest()}"


def _decoded(uri: str) -> bytes | None:
    image = parse_data_uri(uri, 10_000)
    assert image is not None and image.error_kind is None, image
    return image.body


# --- browser rules kept over w3lib (Chromium's net::DataURL::Parse reads the header this way) ----------


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param(f"data:image/png;BASE64,{B64}", id="flag-in-any-case"),
        pytest.param(f"data:image/png; base64 ,{B64}", id="flag-with-spaces"),
        pytest.param(f"data:image/png;base64;charset=x,{B64}", id="flag-not-last"),
        pytest.param(f"data: image/png ;base64,{B64}", id="spaces-around-the-media-type"),
        pytest.param(f"data:image/png;base64,{B64.rstrip('=')}", id="padding-optional"),
    ],
)
def test_base64_flag_and_padding_as_browsers_read_them(uri):
    with pytest.raises(ValueError):  # what a plain w3lib call would make of it: the image lost
        w3lib_parse(uri.encode())
    assert _decoded(uri) == BODY
    assert parse_data_uri(uri, 10_000).uri_id == ID


def test_a_parameter_without_value_is_ignored():
    """``data:image/svg+xml;utf8,<svg ...>`` is how many sites inline icons; browsers show it."""
    uri = "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg'/>"
    with pytest.raises(ValueError):
        w3lib_parse(uri.encode())
    assert _decoded(uri) == b"<svg xmlns='http://www.w3.org/2000/svg'/>"


def test_a_character_outside_the_base64_alphabet_is_malformed_not_dropped():
    """w3lib decodes what is left once it drops the stray characters: bytes no browser shows."""
    uri = f"data:image/png;base64,{B64[:8]}!!{B64[8:]}"
    assert w3lib_parse(uri.encode()).data == BODY
    image = parse_data_uri(uri, 10_000)
    assert image.body is None and image.error_kind == "invalid_url"


def test_no_comma_is_not_a_data_uri():
    assert w3lib_parse(b"data:image/png;base64").data == b""  # w3lib: an empty body
    assert parse_data_uri("data:image/png;base64", 10_000) is None


def test_a_percent_encoded_media_type_is_not_one():
    """w3lib decodes the whole URI first; browsers never decode the media type."""
    uri = f"data:image%2Fpng;base64,{B64}"
    assert w3lib_parse(uri.encode()).media_type == "image/png"
    assert parse_data_uri(uri, 10_000) is None


@pytest.mark.parametrize("mime", ["image/x_icon", "image/png%21", "image/x#y", "image/a&b"])
def test_the_media_type_keeps_to_the_characters_of_registered_image_types(mime):
    """The id is the image's URL in every output: w3lib would take any RFC 2045 token there ('%', '#', '&')."""
    assert w3lib_parse(f"data:{mime};base64,{B64}".encode()).data == BODY  # w3lib takes it
    assert parse_data_uri(f"data:{mime};base64,{B64}", 10_000) is None


def test_the_media_type_is_lower_cased_in_the_id():
    uri = f"data:IMAGE/PNG;base64,{B64}"
    assert w3lib_parse(uri.encode()).media_type == "IMAGE/PNG"
    assert parse_data_uri(uri, 10_000).uri_id == ID


# --- changed with w3lib (each failed on the hand-written parser) --------------------------------------


ONE_PAD = BODY[:-2]  # its base64 ends with one "="


@pytest.mark.parametrize(
    ("payload", "body"),
    [
        pytest.param(B64[:12] + "%20" + B64[12:], BODY, id="escaped-space"),
        pytest.param(B64[:12] + "%0A" + B64[12:], BODY, id="escaped-newline"),
        pytest.param(base64.b64encode(ONE_PAD).decode().replace("=", "%3D"), ONE_PAD, id="escaped-padding"),
        pytest.param(B64[:12] + "%" + f"{ord(B64[12]):02X}" + B64[13:], BODY, id="escaped-letter"),
    ],
)
def test_percent_escapes_are_decoded_before_the_base64(payload, body):
    """Browsers percent-decode the body, then base64-decode it. The hand-written parser counted the padding
    on the still-escaped text, so an escaped letter or '=' made valid base64 'malformed'."""
    assert _decoded(f"data:image/png;base64,{payload}") == body


def test_non_ascii_white_space_inside_base64_is_malformed():
    """Only ASCII white space is skipped, as browsers do (str.split() also skipped U+00A0 and U+3000: an
    image no browser shows was hashed)."""
    image = parse_data_uri(f"data:image/png;base64,{B64[:8]}\u00a0{B64[8:]}", 10_000)
    assert image.body is None and image.error_kind == "invalid_url"


@pytest.mark.parametrize("mime", ["image/", "image/png/x", "image//png"])
def test_a_media_type_that_is_not_type_slash_subtype_is_not_an_image(mime):
    """The hand-written check took 'image/' and 'image/png/x' as image types (Chromium refuses them)."""
    assert parse_data_uri(f"data:{mime};base64,{B64}", 10_000) is None


def test_a_non_ascii_letter_that_lower_cases_to_ascii_is_refused():
    """U+212A KELVIN SIGN lower-cases to "k": the hand-written check lower-cased first, then tested ASCII."""
    assert parse_data_uri(f"data:image/png\u212a;base64,{B64}", 10_000) is None


def test_a_lone_surrogate_in_a_text_body_is_read_as_bytes():
    """Parsed HTML never holds one (the page is decoded first); the body keeps it as bytes and is no image,
    so the crawl logs not_an_image. The hand-written parser logged invalid_url."""
    image = parse_data_uri("data:image/svg+xml,<svg>\ud800</svg>", 10_000)
    assert image is not None and image.error_kind is None
    assert image.body == "<svg>\ud800</svg>".encode("utf-8", "surrogatepass")
