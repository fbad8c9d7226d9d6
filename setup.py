"""hashwatch: crawl the web, hash every image, match against known-hash lists.

Install for development with ``make venv`` (or ``pip install -e '.[dev]'``).
Versions are pinned: the Beam Python SDK must equal the Beam version of the
Flink job server the project runs (see docs/flink.md for why 2.62.0).
"""

from pathlib import Path

from setuptools import Extension, find_packages, setup

BEAM_VERSION = "2.62.0"

INSTALL_REQUIRES = [
    f"apache-beam=={BEAM_VERSION}",
    "pyarrow==16.1.0",
    "numpy==2.2.6",
    "pillow==13.0.0",
    "imagehash==4.3.2",
    "pdqhash==0.2.8",
    "requests==2.34.2",
    "urllib3==2.8.0",
    "brotli==1.2.1",
    "google-crc32c==1.9.0",
    "protego==0.7.0",
    "selectolax==1.0.2",
    "w3lib==2.5.0",
    "tldextract==5.4.0",
    "threadpoolctl==3.8.0",
    "ahocorasick-rs==1.0.3",  # the audit's signature-literal search (docs/benchmarks.md: 17x bytes.find)
    "scipy==1.17.1",  # pHash's DCT on the JPEG draft (draft_resample.py), its BLAS capped (blas_threads.py)
    "av==18.1.1",  # PyAV: FFmpeg bundled in its wheels; videos decode from memory (hashwatch/video)
    "grpcio==1.65.5",  # the Flink worker pool's gRPC server (flink_worker_pool.py); Beam 2.62's own pin
]

EXTRAS = {
    # Test and lint tools: `make test` installs these.
    "test": [
        "pytest==9.2.0",
        # A backstop, not a speed check: a test that hangs (a Flink job waiting for a slot forever) fails
        # after pyproject's `timeout` instead of holding CI until its 90 minutes run out.
        "pytest-timeout==2.4.0",
        "hypothesis==6.170.17",
        # Coverage-guided fuzzing of the parsers (tests/fuzz, docs/testing.md); cp311 manylinux wheel on PyPI.
        "atheris==3.0.0",
        "ruff==0.17.6",
        "duckdb==2.0.1",
        "cryptography==50.0.2",  # the TLS test servers' self-signed certificates (deadline tests)
    ],
    # Baselines the benchmarks compare against in the same run.
    "bench": [
        "faiss-cpu==1.15.1",
        "scrapy==2.19.0",
        "duckdb==2.0.1",
    ],
    # The detection-quality evaluation's plot (`hashwatch eval`, docs/evaluation.md).
    "eval": [
        "matplotlib==3.10.9",
        # The held-back edit suite (issue 23, edits_spec.py) is written with OpenCV, not with the Pillow and
        # numpy code the query-side candidates use, so an edit and the candidate that undoes it do not share
        # resampling, rotation or text rendering.
        "opencv-python-headless==4.12.0.88",
    ],
}
EXTRAS["dev"] = sorted(set(EXTRAS["test"]) | set(EXTRAS["bench"]) | set(EXTRAS["eval"]))

# The known-hash index's hot loops (multi-index Hamming search) and PDQ's banded filters, plain C against the
# CPython API: gcc builds it at install, and the install fails without a C compiler (not optional: without it
# a Hamming search would scan the whole list, 240x slower at 1e6 PDQ hashes; c_extension.py says so in
# one line if the module is missing anyway). -ffp-contract=off: no fused multiply-adds, so band_rows (PDQ's
# downscale) rounds every product and sum as numpy would, whatever the target CPU; the hashes must not depend
# on the compiler's choice.
EXT_MODULES = [
    Extension(
        "hashwatch.hashing._mih",
        sources=[
            "hashwatch/hashing/_mih.c",
            "hashwatch/hashing/_mih_build.c",
            "hashwatch/hashing/_mih_bands.c",
        ],
        depends=["hashwatch/hashing/_mih_common.h"],
        extra_compile_args=["-O3", "-std=c99", "-ffp-contract=off"],
    )
]

setup(
    name="hashwatch",
    version="0.1.0",
    description="Crawl seed URLs, hash every image, match against known-hash lists, write Parquet.",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(
        include=[
            "hashwatch",
            "hashwatch.*",
            "pipelines",
            "pipelines.*",
            "transforms",
            "transforms.*",
            "schemas",
            "schemas.*",
        ]
    ),
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    ext_modules=EXT_MODULES,
    entry_points={"console_scripts": ["hashwatch=hashwatch.cli:console_main"]},
)
