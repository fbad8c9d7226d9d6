# hashwatch: the two commands a new machine needs are `make demo` and `make test`.
# Every target creates the virtualenv and installs the project first (nothing by hand).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast fuzz lint format bench-hashing bench-index-1e8 bench-candidates bench-corroboration bench-crawl bench-pipeline bench-flink bench-rescan bench-streaming bench-audit bench-video vpdq-reference photos eval snapshot snapshot-compare clean

$(STAMP): setup.py $(wildcard hashwatch/hashing/_mih*.c hashwatch/hashing/_mih*.h)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The whole suite, slow and Flink tests included, after lint. CI runs exactly this.
test: venv lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The quick inner loop: no slow suites, no Flink, no fuzzing (its regression tests do run).
test-fast: venv
	$(BIN)/python -m pytest -m "not slow and not flink and not fuzz" $(PYTEST_ARGS)

## Long fuzzing (docs/testing.md): every parser's atheris target for FUZZ_SECONDS each and the property
## tests at FUZZ_EXAMPLES_SCALE times their `make test` examples; about 10 minutes. A bounded run of the same
## tests is part of `make test`. Inputs that break a parser land in .cache/fuzz/ (pytest's basetemp).
FUZZ_SECONDS ?= 60
FUZZ_EXAMPLES_SCALE ?= 5
fuzz: venv
	mkdir -p .cache
	HASHWATCH_FUZZ=long FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_EXAMPLES_SCALE=$(FUZZ_EXAMPLES_SCALE) \
		$(BIN)/python -m pytest tests/fuzz -m fuzz --basetemp=.cache/fuzz -rP $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Hashing and index benchmarks (issue 2): ratios against baselines measured in the same run.
## BENCH_ARGS=--quick for a one-minute run. Fetches the photo corpus first (apt-get, cached in .cache/photos).
BENCH_ARGS ?=
bench-hashing: venv photos
	$(BIN)/python -m benchmarks.bench_hashing $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.bench_index $(BENCH_ARGS)

## The PDQ index at 1e6 and 1e7 entries against faiss, same data, alternating rounds (issue 24; ~15 min on a
## shared machine). The 1e8 step runs once, by hand, with ~8 GiB free: BENCH_ARGS="--sizes 1e8 --rounds 1
## --methods ours faiss-flat" (docs/benchmarks.md, "Index at 1e8").
bench-index-1e8: venv
	$(BIN)/python -m benchmarks.bench_index_1e8 $(BENCH_ARGS)

## Query-side candidates (issue 9): the whole candidate set against the plain hash set, same run, medians and
## ratios (the limit is 2x). BENCH_ARGS=--quick for a few seconds. Uses the photo corpus (make photos).
bench-candidates: venv photos
	$(BIN)/python -m benchmarks.bench_candidates $(BENCH_ARGS)

## pHash-by-dHash corroboration (issue 9): match_many with and without it, same run, medians and ratios.
## About 2 minutes (1e6 pictures); BENCH_ARGS=--quick for a few seconds.
bench-corroboration: venv
	$(BIN)/python -m benchmarks.bench_corroboration $(BENCH_ARGS)

## Videos (issue 19): our vPDQ against the reference vpdq package and the sampled-decode floor, same files,
## alternating runs, medians (docs/benchmarks.md, "Videos"). About 5 minutes; BENCH_ARGS=--quick for ~1.
bench-video: venv vpdq-reference
	$(BIN)/python -m benchmarks.bench_video $(BENCH_ARGS)

## The reference vPDQ (PyPI `vpdq`, built against Debian's FFmpeg headers: apt-get, root) in its own
## .cache/venv-bench-video; benchmarks/vpdq_reference.py runs it on files.
vpdq-reference:
	PYTHON=$(PYTHON) benchmarks/vpdq_reference_install.sh

## Real photos for the hashing measurements, from Debian packages (cached, never committed).
photos: venv
	$(BIN)/python -m hashwatch.evaluation.photo_corpus --summary

## Detection-quality evaluation (docs/evaluation.md): fetches its corpus from Debian packages (apt-get, cached in
## .cache/photos), hashes every edited copy once on 2 processes (hashes only, cached in .cache/eval). By default
## the held-back evaluation (issue 23: spec edits drawn per half, harder negatives, thresholds chosen on the
## tuning half) into docs/eval/held_back/ (results.md, roc.png, summary.json). EVAL_ARGS="--suite v1" runs the
## first suite into docs/eval/; EVAL_ARGS="--matchers anchors,default,pdq+regions" evaluates a new candidate
## family; EVAL_ARGS="--limit 40 --out /tmp/eval" for a quick look.
EVAL_ARGS ?=
eval: venv
	$(BIN)/hashwatch eval $(EVAL_ARGS)

## Video detection-quality evaluation (issue 19, docs/evaluation.md "Videos"): reference clips, Debian sample
## clips (apt-get, cached in .cache/videos) and synthetic clips through 13 edits; thresholds tuned on the
## tuning half, recall and false matches on the held-back half, ours (and ours with the image candidates of
## each frame) against the reference vpdq (make vpdq-reference builds it, as for bench-video). Writes
## docs/eval/video/. About 3 minutes here. Ours only: python -m hashwatch.evaluation.video --no-reference.
.PHONY: eval-video
EVAL_VIDEO_ARGS ?=
eval-video: venv vpdq-reference
	$(BIN)/python -m hashwatch.evaluation.video --require-reference --candidates $(EVAL_VIDEO_ARGS)

## Crawl benchmark: crawl_match (default, and 2 workers) vs Scrapy hashing MD5/SHA-1/SHA-256/pHash, on the
## gimp-help-en manual served on loopback; peak memory too. About 20 minutes (3 repeats); BENCH_ARGS=--quick for
## one section. Needs `apt-get update` once (it downloads the Debian package into .cache/). Table in
## docs/crawling.md.
bench-crawl: venv
	$(BIN)/python benchmarks/bench_crawl.py $(BENCH_ARGS)

## Pipeline overhead: crawl_match on the embedded runner vs the hashing library alone (2,000 1 MP JPEGs).
bench-pipeline: venv
	$(BIN)/python -m benchmarks.bench_pipeline $(BENCH_ARGS)

## Flink: the same crawl (2,000 1 MP JPEGs on loopback) on the embedded runner, embedded Flink and the bundled
## cluster at parallelism 1 and 2 (docs/flink.md). About 10 minutes; BENCH_ARGS=--quick for one short round.
bench-flink: venv flink-job-server
	$(BIN)/python -m benchmarks.bench_flink $(BENCH_ARGS)

## Rescan: 10 million generated history rows against a 1-million-entry list on the embedded runner, DuckDB
## joining the same files (exact part), per-row costs, the incremental night. BENCH_ARGS="--rows 200000" for a quick look.
bench-rescan: venv
	$(BIN)/python -m benchmarks.bench_rescan $(BENCH_ARGS)

## Streaming on Flink (issue 8): seed file -> match row latency and throughput on a standalone cluster the
## script starts and stops itself (needs Java 17 and the job server: make flink-job-server). About 4 minutes.
bench-streaming: venv flink-job-server
	$(BIN)/python -m benchmarks.bench_streaming $(BENCH_ARGS)

## Analyst-safety audit (issue 17): `audit --images` of the first audit (benchmarks/audit_baseline.py) against
## the current one on ~300 MB of reference images (real photos and noise) and a crawl-shaped output tree, in
## alternating processes: medians, ratio, peak RSS (docs/benchmarks.md). The baseline needs ~19 GB at 300 MB:
## BENCH_ARGS="--megabytes 150" halves it; BENCH_ARGS=--quick for 40 MB.
bench-audit: venv photos
	$(BIN)/python -m benchmarks.bench_audit $(BENCH_ARGS)

## Output snapshot (issue 18): the demo, a rescan of it and a quick evaluation, normalised (run ids, times and
## ports dropped, rows sorted) into one JSON file; compare two to prove a change left every output row as it was.
## SNAPSHOT=before.json on the old commit, SNAPSHOT=after.json on the new, then make snapshot-compare. ~3 minutes.
SNAPSHOT ?= snapshot.json
snapshot: venv
	$(BIN)/python -m benchmarks.output_snapshot record $(SNAPSHOT)
snapshot-compare: venv
	$(BIN)/python -m benchmarks.output_snapshot compare $(A) $(B)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache

## The demo: a synthetic two-host site on loopback, crawled, hashed and matched; prints the matches.
demo: venv
	$(BIN)/python -m hashwatch.demo

## Flink fault test (docs/flink.md, "Faults"): a streaming crawl on a cluster of its own while its TaskManager,
## worker pool and JobManager are killed, against an undisturbed run; 6-8 minutes. Results: docs/benchmarks.md.
FAULT_ARGS ?=
flink-fault-test: venv flink-job-server
	$(BIN)/python -m benchmarks.flink_faults $(FAULT_ARGS)

## Flink (docs/flink.md): Beam's Flink job server, and a standalone Flink 1.19 cluster on 127.0.0.1.
.PHONY: flink-job-server flink-start flink-status flink-stop flink-fault-test
flink-job-server:
	deploy/flink/fetch-job-server.sh

## With a warm job server the launcher reuses (docs/flink.md, "Where a job's time goes"); FLINK_START_ARGS= for none.
FLINK_START_ARGS ?= --with-job-server
flink-start: venv flink-job-server
	deploy/flink/cluster.sh start $(FLINK_START_ARGS)

flink-status:
	-deploy/flink/cluster.sh status

flink-stop:
	deploy/flink/cluster.sh stop
