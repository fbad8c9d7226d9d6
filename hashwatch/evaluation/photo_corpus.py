"""Real, public, benign photos for measurements: fetched from Debian packages at run time, never committed.

The draft-tolerance measurement (issue 2), the hashing benchmark and the detection-quality evaluation (issue 6,
``hashwatch eval``) need real photographs, not synthetic noise: perceptual hashes behave differently on natural
images. Debian ships wallpapers, sample images and clip art under free licences; this module downloads a few of
those packages with ``apt-get download``, unpacks them with ``dpkg -x`` under a cache folder
(``$HASHWATCH_PHOTO_CACHE``, else ``<repo>/.cache/photos`` in a checkout, else ``~/.cache/hashwatch/photos``)
and returns the image files it found. A second call is instant: each package is unpacked once, and a manifest
records what it holds (format and size from the header, SHA-256; never pixels).

Use from Python::

    from hashwatch.evaluation.photo_corpus import photo_paths
    paths = photo_paths(packages=["mate-backgrounds"], formats={"JPEG"}, min_side=256)

or from the shell (`make photos` runs it with --summary)::

    python -m hashwatch.evaluation.photo_corpus --package mate-backgrounds --format JPEG --min-side 256

Needs ``apt-get`` and ``dpkg`` (Debian or Ubuntu) and a reachable package mirror; raises
:class:`PhotoCorpusUnavailable` with a one-line reason otherwise, so tests can skip.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "ALL_PACKAGES",
    "DEFAULT_PACKAGES",
    "Photo",
    "PhotoCorpusUnavailable",
    "default_cache_dir",
    "ensure_package",
    "photo_paths",
    "photos",
]

# Every photo package named in DESIGN.md, in the order they are worth fetching (size, share of real photographs).
ALL_PACKAGES: tuple[str, ...] = (
    "mate-backgrounds",  # 47 MB: large landscape photographs (JPEG)
    "lxqt-themes",  # 26 MB: wallpapers, mostly photographs
    "python3-skimage",  # 21 MB: scikit-image's sample data (astronaut, coffee, chelsea, ...)
    "scratch",  # 26 MB: Scratch backgrounds, photos and drawings
    "opencv-doc",  # 96 MB: OpenCV sample data (photos, test charts, small images)
    "plasma-workspace-wallpapers",  # 94 MB: KDE wallpapers, photos and renders
)
# The default set keeps a fresh CI machine's download small (~120 MB) while giving well over 100 photos.
DEFAULT_PACKAGES: tuple[str, ...] = ("mate-backgrounds", "lxqt-themes", "python3-skimage", "scratch")

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
_MANIFEST = "manifest.json"
_MANIFEST_VERSION = 1


class PhotoCorpusUnavailable(RuntimeError):
    """The photos cannot be fetched here (no apt-get, no mirror, unknown package); the message says which."""


@dataclass(frozen=True)
class Photo:
    """One image file of the corpus and what is known about it without decoding pixels."""

    path: str
    package: str
    format: str
    width: int
    height: int
    bytes_length: int
    sha256: str


def default_cache_dir() -> Path:
    """``$HASHWATCH_PHOTO_CACHE`` if set, else ``<repo>/.cache/photos`` (git-ignored) when hashwatch runs from
    a checkout, else ``~/.cache/hashwatch/photos``."""
    env = os.environ.get("HASHWATCH_PHOTO_CACHE")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "setup.py").is_file() and (repo / "hashwatch").is_dir():
        return repo / ".cache" / "photos"
    return Path.home() / ".cache" / "hashwatch" / "photos"


def _run(cmd: Sequence[str], cwd: Path) -> None:
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    except FileNotFoundError as exc:
        raise PhotoCorpusUnavailable(f"{cmd[0]} is not installed (needs Debian or Ubuntu)") from exc
    except subprocess.TimeoutExpired as exc:
        raise PhotoCorpusUnavailable(f"{' '.join(cmd)} timed out") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PhotoCorpusUnavailable(f"{' '.join(cmd)} failed: {last}")


def _scan(root: Path, package: str) -> list[Photo]:
    """Open every image file's header (no pixel decode) and record format and size."""
    from PIL import Image, UnidentifiedImageError

    found: list[Photo] = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in _IMAGE_SUFFIXES or not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    fmt, (width, height) = img.format or "", img.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            continue  # not an image, or over Pillow's bomb limit (openclipart-png has a 231 MP poster)
        found.append(
            Photo(
                path=str(path.relative_to(root.parent)),
                package=package,
                format=fmt,
                width=width,
                height=height,
                bytes_length=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    return found


def ensure_package(package: str, cache_dir: Path | None = None) -> list[Photo]:
    """Download and unpack ``package`` once; return its images (paths relative to ``cache_dir``)."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    pkg_dir = cache / package
    manifest = pkg_dir / _MANIFEST
    if manifest.exists():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if data.get("version") == _MANIFEST_VERSION:
            return [Photo(**row) for row in data["photos"]]
    if pkg_dir.is_dir():
        # Unpacked earlier (the folder appears only by an atomic rename after dpkg -x) but not yet scanned.
        return _write_manifest(pkg_dir, package)
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise PhotoCorpusUnavailable(
            "apt-get and dpkg are needed to fetch the photo corpus (Debian or Ubuntu)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=f".{package}-") as tmp:
        tmp_path = Path(tmp)
        try:
            _run(["apt-get", "download", package], cwd=tmp_path)
        except PhotoCorpusUnavailable:
            # A fresh machine has no package lists yet: refresh them once and retry.
            _run(["apt-get", "update", "-qq"], cwd=tmp_path)
            _run(["apt-get", "download", package], cwd=tmp_path)
        debs = sorted(tmp_path.glob("*.deb"))
        if not debs:
            raise PhotoCorpusUnavailable(f"apt-get download {package} produced no .deb")
        unpacked = tmp_path / "root"
        _run(["dpkg", "-x", str(debs[0]), str(unpacked)], cwd=tmp_path)
        if pkg_dir.exists():
            shutil.rmtree(pkg_dir)
        unpacked.rename(pkg_dir)
    return _write_manifest(pkg_dir, package)


def _write_manifest(pkg_dir: Path, package: str) -> list[Photo]:
    photos_found = _scan(pkg_dir, package)
    (pkg_dir / _MANIFEST).write_text(
        json.dumps({"version": _MANIFEST_VERSION, "photos": [asdict(p) for p in photos_found]}, indent=1),
        encoding="utf-8",
    )
    return photos_found


def photos(
    packages: Iterable[str] = DEFAULT_PACKAGES,
    *,
    formats: Iterable[str] | None = ("JPEG",),
    min_side: int = 0,
    cache_dir: Path | None = None,
) -> list[Photo]:
    """The corpus as :class:`Photo` records with absolute paths, byte-identical duplicates removed.

    ``formats`` filters on the decoded format name (``None`` keeps all); ``min_side`` drops images whose
    shorter side is smaller (icons, thumbnails). The order is stable: by package, then by path.
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    wanted = {f.upper() for f in formats} if formats is not None else None
    seen: set[str] = set()
    out: list[Photo] = []
    for package in packages:
        for photo in ensure_package(package, cache):
            if wanted is not None and photo.format.upper() not in wanted:
                continue
            if min(photo.width, photo.height) < min_side or photo.sha256 in seen:
                continue
            seen.add(photo.sha256)
            out.append(Photo(**{**asdict(photo), "path": str(cache / photo.path)}))
    return out


def photo_paths(
    packages: Iterable[str] = DEFAULT_PACKAGES,
    *,
    formats: Iterable[str] | None = ("JPEG",),
    min_side: int = 0,
    cache_dir: Path | None = None,
) -> list[str]:
    """Absolute paths of the corpus images; see :func:`photos` for the filters."""
    return [p.path for p in photos(packages, formats=formats, min_side=min_side, cache_dir=cache_dir)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--package",
        action="append",
        help=f"Debian package (repeatable; default: {' '.join(DEFAULT_PACKAGES)}; 'all' for every one)",
    )
    parser.add_argument(
        "--format", action="append", help="keep only this decoded format (repeatable; default JPEG)"
    )
    parser.add_argument("--any-format", action="store_true", help="keep every image format")
    parser.add_argument("--min-side", type=int, default=0, help="drop images whose shorter side is smaller")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: <repo>/.cache/photos")
    parser.add_argument("--summary", action="store_true", help="print counts per package instead of paths")
    args = parser.parse_args(argv)
    packages = args.package or list(DEFAULT_PACKAGES)
    if packages == ["all"]:
        packages = list(ALL_PACKAGES)
    formats = None if args.any_format else (args.format or ["JPEG"])
    try:
        found = photos(packages, formats=formats, min_side=args.min_side, cache_dir=args.cache_dir)
    except PhotoCorpusUnavailable as exc:
        print(f"photo_corpus: {exc}", file=sys.stderr)
        return 2
    if args.summary:
        for package in packages:
            rows = [p for p in found if p.package == package]
            mp = sorted(p.width * p.height / 1e6 for p in rows)
            median = f"{mp[len(mp) // 2]:.1f} MP" if mp else "-"
            print(f"{package}: {len(rows)} images, median {median}")
        print(f"total: {len(found)}")
    else:
        for photo in found:
            print(photo.path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
