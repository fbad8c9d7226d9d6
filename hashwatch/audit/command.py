"""``hashwatch audit OUTPUT [--images PATH ...]``: exit 1 on any finding, 0 when clean, 2 on bad input."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Iterator

__all__ = ["register"]


def _image_files(paths: Iterable[str]) -> Iterator[str]:
    for path in paths:
        if os.path.isdir(path):
            for folder, _, names in sorted(os.walk(path)):
                for name in sorted(names):
                    yield os.path.join(folder, name)
        else:
            yield path


def _run(args: argparse.Namespace) -> int:
    from hashwatch.audit.content_index import ContentIndex
    from hashwatch.audit.scan import audit_tree
    from hashwatch.errors import UserError

    if not os.path.exists(args.output):
        raise UserError(f"no such output folder: {args.output}")
    for path in args.images:
        if not os.path.exists(path):
            raise UserError(f"no such image file or folder: {path}")
    index = None
    if args.images:
        index = ContentIndex()
        index.add_files(_image_files(args.images))
    try:
        findings = audit_tree(args.output, index)
    except OSError as exc:  # a reference image that cannot be read (output files become findings instead)
        raise UserError(f"cannot read reference image {exc.filename}: {exc.strerror}") from None
    for finding in findings:
        print(finding)
    reference = ""
    if index is not None:
        reference = (
            f" against {len(index)} reference files ({index.bytes / 1e6:.1f} MB, {index.blocks} blocks;"
            f" {index.dropped} low-entropy blocks left out)"
        )
    if findings:
        print(f"audit FAILED: {len(findings)} finding(s) under {args.output}{reference}")
        return 1
    print(f"audit passed: no image content under {args.output}{reference}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="scan a run's output (logs included) for image content",
        description="Fail (exit 1) if any file under OUTPUT holds an image or video signature, raw or in "
        "base64/hex/escaped text, a high-entropy encoded or binary blob, a binary file, or any 64-byte run of "
        "the reference images (raw or encoded). One line per finding; content is never quoted.",
    )
    parser.add_argument("output", help="the run's output folder (or one file)")
    parser.add_argument(
        "--images",
        nargs="*",
        default=[],
        metavar="PATH",
        help="files or folders holding the images the run fetched; every 64-byte run of them is searched for "
        "(read in bounded chunks: memory stays under 1 GB whatever their size)",
    )
    parser.set_defaults(func=_run)
