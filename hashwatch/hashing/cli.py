"""Sub-commands ``hash``, ``index`` and ``match`` of the ``hashwatch`` command line.

::

    hashwatch hash photo.jpg clip.mp4              # one JSON line of hashes per file ('-' reads stdin)
    hashwatch index build iwf.csv delta.tsv --out known.hwidx [--skip-invalid]
    hashwatch index build --from-images originals/ --out known.hwidx   # hash the originals, with variants
    hashwatch list from-images originals/ --out list.csv [--variants default]   # the rows, to publish
    hashwatch index info known.hwidx [--verify]
    hashwatch match photo.jpg clip.webm --index known.hwidx   # one JSON line per match

A file is a video when its first bytes say so (:func:`looks_like_video`, the crawl's sniffing: MP4/MOV/3GP,
WebM/MKV, AVI, MPEG-TS, FLV, MPEG-PS, Ogg), whatever its name; a video prints its digests and vPDQ frames (key ``vpdq``)
and is matched by :func:`hashwatch.video.video_match.match_video` (video_md5, vPDQ, frames against images).

Output is JSON lines on stdout (hashes and metadata only, never image content). A problem the user can fix
(missing file, bad list row, not an index) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterator, Sequence

from hashwatch.errors import UserError
from hashwatch.hashing.hash_types import hash_types

__all__ = ["looks_like_video", "register"]

# ftyp brands of still pictures (AVIF, HEIF/HEIC): ISO-BMFF like MP4, but images (decode.py names them)


def looks_like_video(head: bytes) -> bool:
    """Whether a file's first bytes (a few hundred) are a video container: the crawl's own sniffing
    (:func:`hashwatch.crawling.sniff.sniff_content_type`: MP4/MOV/3GP, not AVIF/HEIC; WebM/MKV, AVI, MPEG-TS
    and M2TS, FLV, MPEG-PS, Ogg Theora), so a file the CLI hashes as a video is one a crawl would too."""
    from hashwatch.crawling.sniff import is_video_type, sniff_content_type

    return is_video_type(sniff_content_type(head[:512]))  # the first bytes, as the crawl sniffs a body


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("hash", help="print every hash of image and video files as JSON lines")
    p.add_argument("files", nargs="+", metavar="FILE", help="image or video files ('-' for stdin)")
    _add_hash_options(p)
    p.set_defaults(func=_cmd_hash)

    p = subparsers.add_parser("index", help="build or inspect a known-hash index")
    sub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="compile known-hash lists (CSV, TSV, Parquet, pytx) into an index file")
    b.add_argument("lists", nargs="*", metavar="LIST", help="list files, applied in this order")
    b.add_argument("--out", required=True, metavar="INDEX", help="index file to write")
    b.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip bad rows (counted, the first few named) instead of failing",
    )
    b.add_argument(
        "--allow-empty",
        action="store_true",
        help="exit 0 even when the index holds no entry (it matches nothing)",
    )
    b.add_argument(
        "--from-images",
        default=None,
        metavar="DIR",
        help="also hash the original pictures under DIR into list rows (after the LIST files), with "
        "list-side variants (--variants)",
    )
    _add_from_images_options(b)
    b.set_defaults(func=_cmd_index_build)
    i = sub.add_parser("info", help="print an index's metadata (checksum, list versions, counts)")
    i.add_argument("index", metavar="INDEX")
    i.add_argument(
        "--verify", action="store_true", help="also check every array's CRC (reads the whole file)"
    )
    i.set_defaults(func=_cmd_index_info)

    p = subparsers.add_parser("list", help="write known-hash list files")
    sub = p.add_subparsers(dest="list_command", metavar="ACTION", required=True)
    f = sub.add_parser(
        "from-images",
        help="hash original pictures into list rows (every image hash type, list-side variants)",
    )
    f.add_argument("folder", metavar="DIR", help="folder of original pictures (read recursively)")
    f.add_argument("--out", required=True, metavar="LIST.csv", help="list file to write (CSV)")
    f.add_argument("--allow-empty", action="store_true", help="exit 0 even when no picture gave a row")
    _add_from_images_options(f)
    f.set_defaults(func=_cmd_list_from_images)

    p = subparsers.add_parser(
        "match", help="match image and video files against an index; JSON line per match"
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="image or video files ('-' for stdin)")
    p.add_argument("--index", required=True, metavar="INDEX", help="index file from 'hashwatch index build'")
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="TYPE=N",
        help="override a type's match threshold, e.g. pdq=24 (repeatable; vpdq=N: a video frame against a "
        "listed video's, default 31; pdq=N also bounds a video frame against a listed image)",
    )
    p.add_argument(
        "--vpdq-query-percent",
        type=float,
        default=None,
        metavar="P",
        help="vPDQ: share of the video's distinct good frames that must match a listed video's (default 80)",
    )
    p.add_argument(
        "--vpdq-compared-percent",
        type=float,
        default=None,
        metavar="P",
        help="vPDQ: share of the listed video's distinct good frames that must be matched (default 0)",
    )
    p.add_argument("--no-dihedral", action="store_true", help="do not match rotated/flipped PDQ variants")
    p.add_argument(
        "--match-types",
        default=None,
        metavar="T1,T2",
        help=f"only match these hash types (of {', '.join(ht.name for ht in hash_types() if ht.matchable)})",
    )
    p.add_argument(
        "--corroborate",
        action="append",
        default=[],
        metavar="TYPE=OTHER:N",
        help="a TYPE match counts only with the same list picture's OTHER hash within N bits "
        "(default phash=dhash:12; 'none': off)",
    )
    p.add_argument(
        "--uncorroborated",
        choices=["keep", "drop"],
        default="keep",
        help="matches on list entries without the means to corroborate them (no item_id): keep or drop",
    )
    _add_hash_options(p)
    p.set_defaults(func=_cmd_match)


def _add_from_images_options(p: argparse.ArgumentParser) -> None:
    from hashwatch.hashing.list_from_images import VARIANTS

    p.add_argument(
        "--variants",
        default="default",
        metavar="V1,V2",
        help="list-side variants of each picture: default, all, none, or names from "
        f"{', '.join(VARIANTS)} (docs/usage.md)",
    )
    p.add_argument(
        "--item-id",
        choices=["sha256", "path"],
        default="sha256",
        help="a picture's item_id: the SHA-256 of its file (default) or its path under DIR",
    )
    p.add_argument("--source", default="", help="the rows' source (the list's name)")
    p.add_argument("--category", default="", help="the rows' category")
    p.add_argument("--list-version", default="", help="the rows' list_version")


def _rows_from_images(args: argparse.Namespace, folder: str, out, command: str):
    """Write the rows of the pictures under ``folder`` to ``out`` (CSV); one line on stderr per bad file."""
    from hashwatch.hashing.list_from_images import (
        Tally,
        list_rows_from_images,
        parse_variants,
        write_list_csv,
    )

    tally = Tally()
    rows = list_rows_from_images(
        folder,
        variants=parse_variants(args.variants),
        item_id=args.item_id,
        category=args.category,
        source=args.source,
        list_version=args.list_version,
        tally=tally,
        on_bad=lambda bad: print(f"hashwatch {command}: skipped {bad.line()}", file=sys.stderr),
    )
    write_list_csv(rows, out)
    print(f"hashwatch {command}: {folder}: {tally.summary()}", file=sys.stderr)
    return tally


def _cmd_list_from_images(args: argparse.Namespace) -> int:
    import os

    tmp = f"{args.out}.tmp"
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as out:
            tally = _rows_from_images(args, args.folder, out, "list from-images")
        os.replace(tmp, args.out)
    except OSError as exc:
        raise UserError(f"cannot write {args.out}: {exc.strerror or type(exc).__name__}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if not tally.rows and not args.allow_empty:
        print(
            f"hashwatch list from-images: error: no picture under {args.folder} gave a row: {args.out} "
            "holds only its header (--allow-empty to accept)",
            file=sys.stderr,
        )
        return 3
    return 0


def _add_hash_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--types",
        default=None,
        metavar="T1,T2",
        help=f"hash types to compute (default: all: {', '.join(ht.name for ht in hash_types())})",
    )
    p.add_argument("--apply-exif-orientation", action="store_true", help="rotate by the EXIF tag first")
    p.add_argument(
        "--seconds-per-hash",
        type=float,
        default=1.0,
        metavar="S",
        help="videos: hash one frame every S seconds (vPDQ; 0: every frame; default 1)",
    )
    p.add_argument(
        "--draft-min-side",
        type=int,
        default=None,
        metavar="PX",
        help="JPEG draft decode keeps both sides >= PX (0: full decode; default 256)",
    )


def _hash_config(args: argparse.Namespace, dihedral: bool = True):
    from dataclasses import replace

    from hashwatch.hashing.decode import DEFAULT_DECODE_CONFIG
    from hashwatch.hashing.image_hashes import HashConfig

    decode = DEFAULT_DECODE_CONFIG
    if args.draft_min_side is not None:
        if args.draft_min_side < 0:
            raise UserError("--draft-min-side must be >= 0")
        decode = replace(decode, draft_min_side=args.draft_min_side)
    if args.apply_exif_orientation:
        decode = replace(decode, apply_exif_orientation=True)
    types = _split_names(args.types)
    config = HashConfig(decode=decode, hash_types=types, pdq_dihedral=dihedral)
    try:
        config.selected_types()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return config


def _split_names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    if not names:
        raise UserError("empty list of hash types")
    return names


def _read_inputs(files: Sequence[str]) -> Iterator[tuple[str, bytes]]:
    import os

    for path in files:
        if path != "-" and not os.path.isfile(path):
            raise UserError(f"no such file: {path}")
    for path in files:
        if path == "-":
            yield "-", sys.stdin.buffer.read()
            continue
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror}") from None
        yield path, data


def _emit(row: dict) -> None:
    sys.stdout.write(json.dumps(row, sort_keys=False) + "\n")


def _video_limits(args: argparse.Namespace):
    from dataclasses import replace

    from hashwatch.video.video_hashes import VideoLimits

    if args.seconds_per_hash < 0:
        raise UserError("--seconds-per-hash must be >= 0")
    return replace(VideoLimits(), seconds_per_hash=args.seconds_per_hash)


def _hash_video(data: bytes, limits):
    from hashwatch.video.hash_video import hash_video

    return hash_video(data, limits)


def _cmd_hash(args: argparse.Namespace) -> int:
    from hashwatch.hashing.image_hashes import compute_image_hashes
    from hashwatch.video.hash_video import video_hash_record

    config = _hash_config(args)
    limits = _video_limits(args)
    for path, data in _read_inputs(args.files):
        if looks_like_video(data[:512]):
            _emit({"file": path, "media_kind": "video", **video_hash_record(_hash_video(data, limits))})
        else:
            _emit({"file": path, **compute_image_hashes(data, config).to_dict()})
    return 0


def _cmd_index_build(args: argparse.Namespace) -> int:
    import os
    import tempfile

    from hashwatch.hashing.index_build import build_index

    if not args.lists and not args.from_images:
        raise UserError("give list files, --from-images DIR, or both")
    with tempfile.TemporaryDirectory(prefix="hashwatch-from-images-") as tmp:
        lists = list(args.lists)
        if args.from_images:  # the rows (hashes only) go through a list file, as a published list would
            name = os.path.basename(os.path.normpath(args.from_images)) or "images"
            path = os.path.join(tmp, f"{name}.from-images.csv")
            with open(path, "w", newline="", encoding="utf-8") as out:
                _rows_from_images(args, args.from_images, out, "index build")
            lists.append(path)
        try:
            report = build_index(lists, args.out, skip_invalid=args.skip_invalid)
        except OSError as exc:  # the lists were read (their errors are UserErrors): writing the index failed
            raise UserError(
                f"cannot write the index {args.out}: {exc.strerror or type(exc).__name__}"
            ) from None
    _emit(report.to_dict())
    if report.skipped_text():
        print(f"hashwatch index build: {report.skipped_text()}", file=sys.stderr)
    if not any(report.entries.values()) and not args.allow_empty:
        print(
            f"hashwatch index build: error: {args.out} holds no entry ({report.rows_read} rows read, "
            f"{report.rows_skipped} skipped): it can match nothing",
            file=sys.stderr,
        )
        return 3
    return 0


def _cmd_index_info(args: argparse.Namespace) -> int:
    from hashwatch.hashing.known_hash_index import KnownHashIndex

    index = KnownHashIndex.load(args.index, verify=args.verify)
    info = index.describe()
    info["verified"] = bool(args.verify)
    _emit(info)
    return 0


def _parse_thresholds(items: Sequence[str]) -> dict[str, int]:
    from hashwatch.hashing.hash_types import get_hash_type

    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or not value.strip().isdigit():
            raise UserError(f"--threshold wants TYPE=N with N a non-negative integer, got {item!r}")
        try:
            get_hash_type(name)
        except KeyError as exc:
            raise UserError(str(exc.args[0])) from None
        out[name] = int(value)
    return out


def _cmd_match(args: argparse.Namespace) -> int:
    from hashwatch.hashing.image_hashes import compute_image_hashes
    from hashwatch.hashing.known_hash_index import KnownHashIndex
    from hashwatch.hashing.match_policy import MATCH_BATCH, MatchOptions, parse_corroboration
    from hashwatch.video.video_hashes import VideoHashes
    from hashwatch.video.video_match import match_video

    options = MatchOptions(
        thresholds=_parse_thresholds(args.threshold),
        dihedral=not args.no_dihedral,
        hash_types=_split_names(args.match_types),
        corroborate=parse_corroboration(args.corroborate),
        uncorroborated=args.uncorroborated,
    )
    index = KnownHashIndex.load(args.index)
    config = _hash_config(args, dihedral=not args.no_dihedral)
    video_options = _video_options(args, options)
    limits = _video_limits(args)
    files = matched_files = matches = 0
    undecoded: list[str] = []
    videos_undecoded: list[str] = []
    hashed = (
        (
            path,
            _hash_video(data, limits) if looks_like_video(data[:512]) else compute_image_hashes(data, config),
        )
        for path, data in _read_inputs(args.files)
    )
    while batch := list(itertools.islice(hashed, MATCH_BATCH)):  # hashes only are held, never the bytes
        videos = [(path, h) for path, h in batch if isinstance(h, VideoHashes)]
        batch = [(path, h) for path, h in batch if not isinstance(h, VideoHashes)]
        for path, hashes in videos:
            files += 1
            if hashes.status != "ok":
                videos_undecoded.append(f"{path} ({hashes.status})")
            found = match_video(index, hashes, video_options)
            for match in found:
                _emit(
                    {"file": path, "media_kind": "video", **match.to_dict(), "decode_status": hashes.status}
                )
            matches += len(found)
            matched_files += bool(found)
        for (path, hashes), found in zip(
            batch, index.match_many([h for _, h in batch], options), strict=True
        ):
            files += 1
            if hashes.decode_status != "ok":
                undecoded.append(f"{path} ({hashes.decode_status})")
            for match in found:
                _emit({"file": path, **match.to_dict(), "decode_status": hashes.decode_status})
            matches += len(found)
            matched_files += bool(found)
    # stdout stays JSON lines; the verdict goes to stderr, so "nothing matched" is never just silence.
    verdict = (
        f"{matches} match(es) in {matched_files} of {files} file(s)"
        if matches
        else f"no match in {files} file(s)"
    )
    if undecoded:
        verdict += f"; not decoded as images (crypto hashes only): {', '.join(undecoded)}"
    if videos_undecoded:
        verdict += (
            f"; videos not fully decoded (digests only, or a partial vPDQ): {', '.join(videos_undecoded)}"
        )
    print(f"hashwatch match: {verdict} against {args.index} ({index.size()} entries)", file=sys.stderr)
    return 0


def _video_options(args: argparse.Namespace, options):
    """The video rule's options from the match flags (:func:`hashwatch.video.video_match.video_match_options`)."""
    from hashwatch.video.video_match import video_match_options

    return video_match_options(
        options.thresholds, options.hash_types, args.vpdq_query_percent, args.vpdq_compared_percent
    )
