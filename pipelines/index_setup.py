"""Getting the compiled known-hash index a run matches against: prebuilt (``--index``) or built now."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from typing import Any

from apache_beam.io.filesystems import FileSystems

from hashwatch.errors import UserError
from hashwatch.hashing.allowlist import Allowlist
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from schemas.known_hashes import IndexRef

__all__ = ["load_allowlist", "prepare_index"]

INDEX_SUFFIX = ".hwidx"
_LOGGER = logging.getLogger(__name__)


def _describe(index: KnownHashIndex) -> dict[str, Any]:
    coverage = index.corroboration_coverage()
    for name, c in coverage.items():
        if c["corroborable"] < c["entries"]:
            _LOGGER.warning(
                "%d of %d %s list entries cannot be corroborated by %s (no item_id linking them to a %s of "
                "the same picture): their matches follow --uncorroborated (default keep: the plain rule, "
                "which the evaluation measured with false matches; README 'Beyond the reference hashes')",
                c["entries"] - c["corroborable"],
                c["entries"],
                name,
                c["by"],
                c["by"],
            )
    return {
        "checksum": index.checksum,
        "list_versions": dict(index.list_versions),
        "entries": {name: index.size(name) for name in sorted(index.header.get("types", {}))},
        "corroboration": coverage,
    }


def prepare_index(
    output: str, hash_lists: list[str], index_path: str | None, skip_invalid: bool
) -> tuple[IndexRef, dict[str, Any]]:
    """Return the reference the workers load, and what the run manifest says about the lists.

    With ``hash_lists`` the index is compiled into ``OUTPUT/_indexes/<checksum>.hwidx`` (a place every worker
    of a cluster can read, since the output must be shared anyway); the same lists give the same file.
    """
    if index_path:
        if "://" not in index_path and not os.path.exists(index_path):
            raise UserError(f"no such index file: {index_path}")
        local = index_path
        if "://" in index_path:
            local = os.path.join(tempfile.mkdtemp(prefix="hashwatch-index-"), "index" + INDEX_SUFFIX)
            with FileSystems.open(index_path) as source, open(local, "wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
        index = KnownHashIndex.load(local)
        return IndexRef(index_path, index.checksum), {"index": index_path, **_describe(index)}

    for path in hash_lists:
        if not os.path.exists(path):
            raise UserError(f"no such hash list: {path}")
    scratch = tempfile.mkdtemp(prefix="hashwatch-index-")
    built = os.path.join(scratch, "index" + INDEX_SUFFIX)
    report = build_index(hash_lists, built, skip_invalid=skip_invalid)
    if report.skipped_text():
        _LOGGER.warning("%s", report.skipped_text())
    index = KnownHashIndex.load(built)
    target = FileSystems.join(output, "_indexes", index.checksum[:32] + INDEX_SUFFIX)
    if "://" in output:
        with open(built, "rb") as source, FileSystems.create(target) as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    else:
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.move(built, target)
        except OSError as exc:
            raise UserError(f"cannot write the compiled index to {target}: {exc.strerror}") from None
    shutil.rmtree(scratch, ignore_errors=True)
    info = {"index": target, "hash_lists": list(hash_lists), **_describe(index)}
    if dataclasses.is_dataclass(report):
        info["build"] = dataclasses.asdict(report)
    return IndexRef(target, index.checksum), info


def load_allowlist(path: str) -> Allowlist:
    """Read and validate the allowlist (any Beam file system) on the launching machine: a bad row fails the
    run before any work, and the parsed allowlist travels to the workers inside the DoFns."""
    if "://" not in path and not os.path.exists(path):
        raise UserError(f"no such allowlist file: {path}")
    try:
        with FileSystems.open(path) as handle:
            data = handle.read()
    except OSError as exc:
        raise UserError(f"cannot read allowlist {path}: {exc}") from None
    return Allowlist.parse(data, path)
