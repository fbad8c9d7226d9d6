"""Coverage-guided fuzzing of one target with atheris (libFuzzer for Python), in its own process.

    python tests/fuzz/fuzz_runner.py TARGET --workdir DIR --seconds 60      # fuzz for a minute
    python tests/fuzz/fuzz_runner.py TARGET --workdir DIR CRASH_FILE...     # replay inputs (a crash, a corpus)
    python tests/fuzz/fuzz_runner.py TARGET --workdir DIR -minimize_crash=1 -runs=5000 CRASH_FILE

Arguments that start with ``-`` and hold ``=`` are passed to libFuzzer as they are (``-minimize_crash=1``
shrinks a crashing input into ``DIR/crashes/TARGET/minimized-from-*``).

TARGET is a key of ``fuzz_targets.TARGETS`` (url, html, data_uri, robots, list, index, image). The seed
corpus is built at start in ``DIR/corpus/TARGET`` from synthetic material (``fuzz_corpora``); inputs that find
new coverage are added there; a crashing, hanging (``--timeout`` seconds) or memory-hungry (``--rss-mb``)
input is written to ``DIR/crashes/TARGET/crash-<sha1>`` (``timeout-``, ``oom-``) and the process exits
non-zero. Temporary files of the targets go to ``DIR/tmp``. ``tests/fuzz/test_fuzz_atheris.py`` runs this for
every target (bounded in ``make test``, longer in ``make fuzz``); docs/testing.md says how to turn a crash into
a regression test.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# The modules each target exercises: atheris instruments them (coverage feedback) as they are imported.
INSTRUMENT = {
    "url": ["hashwatch.crawling.url_rules", "w3lib", "idna"],
    "html": ["hashwatch.crawling", "w3lib", "idna"],
    "data_uri": ["hashwatch.crawling.data_uri", "w3lib"],
    "robots": ["hashwatch.crawling.robots", "protego"],
    "list": [
        "hashwatch.hashing.list_file",
        "hashwatch.hashing.known_hash_list",
        "hashwatch.hashing.list_tombstones",
        "pyarrow",
    ],
    "index": [
        "hashwatch.hashing.index_file",
        "hashwatch.hashing.index_file_check",
        "hashwatch.hashing.index_entries",
        "hashwatch.hashing.hamming_search",
        "hashwatch.hashing.known_hash_index",
        "hashwatch.hashing.match_policy",
        "hashwatch.hashing.corroboration",
        "hashwatch.hashing.index_build",
        "hashwatch.hashing.known_hash_list",
        "hashwatch.hashing.list_file",
    ],
    "image": ["hashwatch.hashing", "PIL", "imagehash"],
}
# Largest input libFuzzer makes: a few times the largest seed (index files and bombs are tens of KB).
MAX_LEN = {"html": 65536, "list": 16384, "index": 131072, "image": 131072}


def _import_targets(target: str):
    import atheris

    with atheris.instrument_imports(include=INSTRUMENT[target]):
        import fuzz_targets

        # Import what the target imports lazily, so it is loaded under the instrumenting import hook.
        if target in ("url", "html"):
            import hashwatch.crawling.html_extract  # noqa: F401
        elif target == "data_uri":
            import hashwatch.crawling.data_uri  # noqa: F401
        elif target == "robots":
            import hashwatch.crawling.robots  # noqa: F401
        elif target == "list":
            import hashwatch.hashing.known_hash_list
            import hashwatch.hashing.list_file
            import hashwatch.hashing.list_tombstones  # noqa: F401
        elif target == "index":
            import hashwatch.hashing.image_hashes
            import hashwatch.hashing.index_build
            import hashwatch.hashing.known_hash_index  # noqa: F401
        elif target == "image":
            import hashwatch.hashing.decode
            import hashwatch.hashing.image_hashes  # noqa: F401
    return fuzz_targets


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target")
    parser.add_argument("inputs", nargs="*", help="replay these files instead of fuzzing")
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time (libFuzzer -max_total_time)")
    parser.add_argument("--runs", type=int, default=-1, help="stop after this many inputs (-1: no limit)")
    parser.add_argument("--timeout", type=int, default=20, help="seconds one input may take")
    parser.add_argument("--rss-mb", type=int, default=2560, help="memory limit of the process")
    parser.add_argument("--seed", type=int, default=0, help="libFuzzer's random seed (0: from the clock)")
    parser.add_argument(
        "--with-bombs", action="store_true", help="image seeds include decompression bombs (slow to run)"
    )
    argv = sys.argv[1:] if argv is None else argv
    passthrough = [a for a in argv if a.startswith("-") and not a.startswith("--") and "=" in a]
    args = parser.parse_intermixed_args([a for a in argv if a not in passthrough])

    workdir = args.workdir.resolve()
    corpus = workdir / "corpus" / args.target
    crashes = workdir / "crashes" / args.target
    tmp = workdir / "tmp" / args.target
    for d in (corpus, crashes, tmp):
        d.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(tmp)  # the targets' temporary files stay under the work directory
    import tempfile

    tempfile.tempdir = str(tmp)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    targets = _import_targets(args.target)
    check = targets.TARGETS[args.target]

    if not any(corpus.iterdir()):
        import hashlib

        import fuzz_corpora

        seeds = fuzz_corpora.seeds(args.target, workdir / "seed-files" / args.target, bombs=args.with_bombs)
        for data in seeds:
            (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)

    import atheris

    libfuzzer = [
        sys.argv[0],
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_mb}",
        f"-max_len={MAX_LEN.get(args.target, 4096)}",
        f"-artifact_prefix={crashes}/",
        f"-seed={args.seed}",
        "-print_final_stats=1",
    ]
    libfuzzer += passthrough
    if args.inputs:
        libfuzzer += [str(Path(p).resolve()) for p in args.inputs]
    else:
        libfuzzer += [f"-max_total_time={args.seconds}", f"-runs={args.runs}", str(corpus)]
    atheris.Setup(libfuzzer, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
