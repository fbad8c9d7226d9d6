"""Hash every known original, every edited copy and every distractor once, then compute all the distances.

Three steps, each usable alone:

1. :func:`hash_known_set`: for each known source, the *known original* is the image scaled to fit
   ``max_side`` (Lanczos) and saved as JPEG at ``quality`` (what a hotline holds; a web-sized copy). Its
   codes are what the list holds; then every edit of the suite is applied to its pixels and each edited copy
   is hashed once (``compute_image_hashes``: decode once, every hash type) and turned into each matcher's
   query codes. One task per source, spread over worker processes.
2. :func:`hash_plain`: distractors (and the corpus pool, for deduplication) hashed as the files are, as a
   crawler would see them.
3. :func:`summarise`: for each matcher, the distance of every edited copy to its own original (recall) and
   to every other original, and of every distractor to every original (false matches), reduced to
   histograms (:class:`~hashwatch.evaluation.metrics.MatcherSummary`): every metric at every threshold
   follows from them.

Edited copies exist only in memory inside the worker that made them. The :class:`HashCache` keeps codes, never
pixels or bytes.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from hashwatch.evaluation.edits import Edit, KnownSettings, make_known_original
from hashwatch.evaluation.hash_cache import HashCache
from hashwatch.evaluation.matchers import Matcher, codes_from_hex_rows, codes_to_hex_rows
from hashwatch.evaluation.metrics import ClosePair, MatcherSummary

__all__ = [
    "HashedKnown",
    "HashedPlain",
    "ImageSource",
    "KnownSettings",
    "NegativeSet",
    "hash_known_set",
    "hash_plain",
    "summarise",
]


@dataclass(frozen=True)
class ImageSource:
    """An image to evaluate: a file (``path``) or bytes held in memory (``data``, e.g. a synthetic image).

    ``key`` identifies the content (the SHA-256 of the bytes; cache entries are filed under it), ``label``
    names it in reports (a path inside its package), ``group`` is where it comes from (a package name),
    ``scene`` names the photo series it belongs to, if any (see :func:`summarise`).
    """

    key: str
    label: str
    group: str
    path: str | None = None
    data: bytes | None = field(default=None, repr=False, compare=False)
    scene: str | None = None  # a photo series (other shots of one scene): pairs within it are not counted

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is None:
            raise ValueError(f"image source {self.label} has neither a path nor data")
        with open(self.path, "rb") as fh:
            return fh.read()


@dataclass
class HashedKnown:
    """The known set's codes: ``known[m]`` is ``(n, words)``; ``edits[m][edit_id]`` a list of ``n`` arrays
    of query codes (one per source, in ``sources`` order). Sources without a known code for some matcher
    (e.g. PDQ quality under 50) are left out and listed in ``dropped``."""

    sources: list[ImageSource]
    edit_ids: list[str]
    known: dict[str, np.ndarray]
    edits: dict[str, dict[str, list[np.ndarray]]]
    dropped: list[tuple[ImageSource, str]] = field(default_factory=list)


@dataclass
class NegativeSet:
    """Harder negatives of one kind (:mod:`hashwatch.evaluation.negatives`): ``query[m]`` one ``(k, words)``
    array per negative (``labels`` order); ``holds[i]`` the list labels negative ``i`` shows (a template
    holding known picture B: matching B is right, so B is not compared)."""

    labels: list[str]
    query: dict[str, list[np.ndarray]]
    holds: list[tuple[str, ...]]


@dataclass
class HashedPlain:
    """Plain-file codes: ``query[m]`` a list of ``(k, words)`` arrays, ``known[m]`` the file's list code or
    None (both in ``sources`` order)."""

    sources: list[ImageSource]
    query: dict[str, list[np.ndarray]]
    known: dict[str, list[np.ndarray | None]]
    status: list[str]


# ---------------------------------------------------------------- worker side


def _hash_config(matchers: Sequence[Matcher]):
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES
    from hashwatch.hashing.image_hashes import HashConfig

    types = sorted({t for m in matchers for t in m.hash_types})
    families = {f for m in matchers for f in getattr(m, "candidate_families", ())}
    return HashConfig(
        hash_types=tuple(types),
        pdq_dihedral=True,
        candidates=tuple(f for f in CANDIDATE_FAMILIES if f in families),
    )


def _hashed_matchers(matchers: Sequence[Matcher]) -> list[Matcher]:
    """The matchers whose codes are hashed (and cached): every matcher that is not derived, and the parts of
    those that are (``derived``: codes built from their parts' codes, e.g. a fusion rule), once by name."""
    out: dict[str, Matcher] = {}
    for m in matchers:
        for part in getattr(m, "parts", ()) if getattr(m, "derived", False) else (m,):
            out.setdefault(part.name, part)
    return list(out.values())


def _derived(matchers: Sequence[Matcher]) -> list[Matcher]:
    return [m for m in matchers if getattr(m, "derived", False)]


def _known_code(matcher: Matcher, hashes, data: bytes):
    """The list code of a known picture. A list-side matcher (issue 23: hashes of the original's rotations,
    crops, flips held on the list) defines ``known_code_with_data(hashes, data)`` to see the original's bytes
    too, as a hotline building its list from the originals would."""
    with_data = getattr(matcher, "known_code_with_data", None)
    return with_data(hashes, data) if with_data is not None else matcher.known_code(hashes)


def _slot(edit: Edit, half: str | None) -> str:
    """Where an edit's codes are cached: a seeded edit's draws depend on the picture's half."""
    return f"{half}/{edit.id}" if getattr(edit, "seeded", False) else edit.id


def _known_task(args) -> tuple[str, dict]:
    source, edits, matchers, settings, cache_root, half, kind = args
    from PIL import Image

    from hashwatch.hashing.image_hashes import compute_image_hashes

    cache = HashCache(cache_root)
    entry = cache.load(kind, source.key)
    keys = [m.cache_key for m in matchers]
    known_codes = entry.setdefault("known", {})
    edit_codes = entry.setdefault("edits", {})
    todo = [e for e in edits if any(k not in edit_codes.get(_slot(e, half), {}) for k in keys)]
    if not todo and all(k in known_codes for k in keys):
        return source.key, entry
    config = _hash_config(matchers)
    original = make_known_original(source.read(), settings)
    pixels = Image.open(io.BytesIO(original)).convert("RGB")
    entry["size"] = list(pixels.size)
    hashes = compute_image_hashes(original, config)
    entry["status"] = hashes.decode_status
    for m in matchers:
        code = _known_code(m, hashes, original)
        known_codes[m.cache_key] = None if code is None else codes_to_hex_rows(code[None, :])[0]
    for edit in todo:
        if getattr(edit, "seeded", False):
            if half is None:
                raise ValueError(f"edit {edit.id} draws its parameters per half: hash_known_set needs halves")
            data = edit.apply_seeded(pixels, original, half, source.label)
        else:
            data = edit.apply(pixels, original)
        hashes = compute_image_hashes(data, config)
        slot = edit_codes.setdefault(_slot(edit, half), {})
        for m in matchers:
            slot[m.cache_key] = codes_to_hex_rows(m.query_codes(hashes, data))
        del data
    cache.store(kind, source.key, entry)
    return source.key, entry


def _plain_task(args) -> tuple[str, dict]:
    source, matchers, cache_root = args
    from hashwatch.hashing.image_hashes import compute_image_hashes

    cache = HashCache(cache_root)
    entry = cache.load("plain", source.key)
    keys = [m.cache_key for m in matchers]
    if all(k in entry.get("query", {}) for k in keys):
        return source.key, entry
    data = source.read()
    hashes = compute_image_hashes(data, _hash_config(matchers))
    entry["status"] = hashes.decode_status
    entry["size"] = [hashes.width, hashes.height]
    entry["pdq_quality"] = hashes.pdq_quality
    query = entry.setdefault("query", {})
    known = entry.setdefault("known", {})
    for m in matchers:
        query[m.cache_key] = codes_to_hex_rows(m.query_codes(hashes, data))
        code = _known_code(m, hashes, data)
        known[m.cache_key] = None if code is None else codes_to_hex_rows(code[None, :])[0]
    cache.store("plain", source.key, entry)
    return source.key, entry


# ---------------------------------------------------------------- parallel map


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Worker processes inherit one BLAS thread each: the machine's cores are the workers."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update({n: "1" for n in names})
    try:
        yield
    finally:
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


def _parallel(fn: Callable, tasks: Sequence, workers: int, progress: Callable[[int, int], None] | None):
    total = len(tasks)
    if workers <= 1 or total < 2:
        for i, task in enumerate(tasks, 1):
            yield fn(task)
            if progress:
                progress(i, total)
        return
    with _single_threaded_blas():
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(min(workers, total)) as pool:
            for i, result in enumerate(pool.imap_unordered(fn, tasks, chunksize=1), 1):
                yield result
                if progress:
                    progress(i, total)


def stderr_progress(what: str) -> Callable[[int, int], None]:
    """A progress callback printing ``what: done/total, elapsed, eta`` to stderr about every 5 %."""
    start = time.monotonic()
    step = {"next": 0}

    def report(done: int, total: int) -> None:
        if done < step["next"] and done != total:
            return
        step["next"] = done + max(1, total // 20)
        elapsed = time.monotonic() - start
        eta = elapsed / done * (total - done) if done else 0.0
        print(f"{what}: {done}/{total}, {elapsed:.0f} s, about {eta:.0f} s left", file=sys.stderr, flush=True)

    return report


def _suite_tag(edits: Sequence[Edit]) -> str:
    """A cache-kind suffix naming the code of seeded edits (the spec suite): its source, the split's and
    OpenCV's version, so a change to an edit's code or range is never read from a stale cache."""
    if not any(getattr(e, "seeded", False) for e in edits):
        return ""
    import hashlib
    from pathlib import Path

    import cv2

    digest = hashlib.sha256(cv2.__version__.encode())
    here = Path(__file__).resolve().parent
    for name in ("edits_spec.py", "split.py"):
        digest.update((here / name).read_bytes())
    return "-spec-" + digest.hexdigest()[:12]


# ---------------------------------------------------------------- public steps


def hash_known_set(
    sources: Sequence[ImageSource],
    edits: Sequence[Edit],
    matchers: Sequence[Matcher],
    *,
    settings: KnownSettings | None = None,
    workers: int = 2,
    cache_root=None,
    progress: Callable[[int, int], None] | None = None,
    halves: Mapping[str, str] | None = None,
) -> HashedKnown:
    """Known codes and every edited copy's query codes, for every matcher (see the module docstring).

    ``halves`` maps a source's key to its half (:mod:`hashwatch.evaluation.split`): edits that draw their
    parameters (:mod:`hashwatch.evaluation.edits_spec`) need it; their codes are cached per half."""
    settings = settings or KnownSettings()
    derived, matchers = _derived(matchers), _hashed_matchers(matchers)
    kind = settings.cache_kind + _suite_tag(edits)
    halves = halves or {}
    tasks = [
        (s, tuple(edits), tuple(matchers), settings, cache_root, halves.get(s.key), kind) for s in sources
    ]
    entries = dict(_parallel(_known_task, tasks, workers, progress))
    kept: list[ImageSource] = []
    dropped: list[tuple[ImageSource, str]] = []
    for s in sources:
        entry = entries[s.key]
        missing = [m.name for m in matchers if entry["known"].get(m.cache_key) is None]
        if missing:
            dropped.append((s, f"no {'/'.join(missing)} code ({entry.get('status')})"))
        else:
            kept.append(s)
    known = {
        m.name: codes_from_hex_rows([entries[s.key]["known"][m.cache_key] for s in kept], m.words)
        for m in matchers
    }
    edit_codes = {
        m.name: {
            e.id: [
                codes_from_hex_rows(
                    entries[s.key]["edits"][_slot(e, halves.get(s.key))][m.cache_key], m.words
                )
                for s in kept
            ]
            for e in edits
        }
        for m in matchers
    }
    for d in derived:
        known[d.name] = np.array(
            [d.known_from_parts([known[p.name][i] for p in d.parts]) for i in range(len(kept))], np.uint64
        ).reshape(len(kept), d.words)
        edit_codes[d.name] = {
            e.id: [
                d.query_from_parts([edit_codes[p.name][e.id][i] for p in d.parts]) for i in range(len(kept))
            ]
            for e in edits
        }
    return HashedKnown(kept, [e.id for e in edits], known, edit_codes, dropped)


def hash_plain(
    sources: Sequence[ImageSource],
    matchers: Sequence[Matcher],
    *,
    workers: int = 2,
    cache_root=None,
    progress: Callable[[int, int], None] | None = None,
) -> HashedPlain:
    """Every source hashed as the file is: its query codes and its list code per matcher."""
    derived, matchers = _derived(matchers), _hashed_matchers(matchers)
    tasks = [(s, tuple(matchers), cache_root) for s in sources]
    entries = dict(_parallel(_plain_task, tasks, workers, progress))
    query = {
        m.name: [codes_from_hex_rows(entries[s.key]["query"][m.cache_key], m.words) for s in sources]
        for m in matchers
    }
    known = {
        m.name: [
            None
            if entries[s.key]["known"].get(m.cache_key) is None
            else codes_from_hex_rows([entries[s.key]["known"][m.cache_key]], m.words)[0]
            for s in sources
        ]
        for m in matchers
    }
    for d in derived:
        query[d.name] = [d.query_from_parts([query[p.name][i] for p in d.parts]) for i in range(len(sources))]
        known[d.name] = [d.known_from_parts([known[p.name][i] for p in d.parts]) for i in range(len(sources))]
    return HashedPlain(list(sources), query, known, [entries[s.key].get("status", "") for s in sources])


def _stack(codes: Sequence[np.ndarray], words: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-query candidate arrays to (rows, owners)."""
    counts = [c.shape[0] for c in codes]
    rows = np.concatenate(codes) if codes and sum(counts) else np.zeros((0, words), np.uint64)
    owners = np.repeat(np.arange(len(codes)), counts)
    return rows, owners


def _hist(values: np.ndarray, length: int) -> np.ndarray:
    return np.bincount(np.minimum(values.ravel(), length - 1), minlength=length).astype(np.int64)


class _Closest:
    """The ``k`` smallest-distance non-matching pairs seen (for the report's "what comes closest")."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.items: list[ClosePair] = []

    def offer(
        self, d: np.ndarray, query_labels: Callable[[int], tuple[str, str]], known_labels: Sequence[str]
    ):
        flat = d.ravel()
        if flat.size == 0:
            return
        take = min(self.k, flat.size)
        idx = np.argpartition(flat, take - 1)[:take]
        for i in idx.tolist():
            qi, ki = divmod(i, d.shape[1])
            query, edit = query_labels(qi)
            self.items.append(ClosePair(int(flat[i]), query, edit, known_labels[ki]))
        self.items.sort(key=lambda p: (p.distance, p.query, p.edit, p.known))
        del self.items[self.k :]


def summarise(
    known: HashedKnown,
    matchers: Sequence[Matcher],
    distractors: HashedPlain | None = None,
    *,
    list_only: HashedKnown | None = None,
    closest: int = 12,
    batch: int = 4096,
    queries: Sequence[int] | None = None,
    negatives: Mapping[str, NegativeSet] | None = None,
) -> list[MatcherSummary]:
    """Histograms of every distance each matcher produces (see :class:`MatcherSummary`).

    Pairs of known originals of the same ``scene`` (other shots of one scene: a calibration series, a
    stereo pair) are neither recall nor false matches: they are left out, counted in ``same_scene_pairs``
    and their distances kept apart (``same_scene_hist``, ``same_scene_nearest_hist``: a negative row of
    their own). ``list_only``: more list entries (their ``known`` codes; their edits are not used), against
    which every edited copy and every distractor is compared too: a longer list for the false-match count.
    ``queries``: the known sources (indices) whose edited copies are queries (e.g. one half of the split;
    default all); every known original stays on the list. ``negatives``: harder negatives by kind, each
    query compared with every list entry but those it holds (``negative_nearest_hist``).
    """
    out = []
    n = len(known.sources)
    q_idx = np.arange(n) if queries is None else np.asarray(list(queries), dtype=np.int64)
    nq = len(q_idx)
    known_labels = [s.label for s in known.sources]
    extra_labels = [s.label for s in list_only.sources] if list_only is not None else []
    scenes = np.array([s.scene or "" for s in known.sources], dtype=object)
    same_scene = (scenes[:, None] == scenes[None, :]) & (scenes[:, None] != "")
    np.fill_diagonal(same_scene, False)
    itself = np.zeros((nq, n), dtype=bool)
    itself[np.arange(nq), q_idx] = True
    scene_rows = same_scene[q_idx]
    has_scene = scene_rows.any(axis=1)
    for m in matchers:
        length = m.max_distance + 2
        codes = known.known[m.name]
        extra = list_only.known[m.name] if list_only is not None else codes[:0]
        all_codes = np.concatenate([codes, extra])
        all_labels = known_labels + extra_labels
        close = _Closest(closest)
        own_hist: dict[str, np.ndarray] = {}
        other_hist: dict[str, np.ndarray] = {}
        other_nearest: dict[str, np.ndarray] = {}
        scene_hist = np.zeros(length, np.int64)
        scene_nearest = np.zeros(length, np.int64)
        excluded = 0
        not_counted = itself | scene_rows
        for edit_id in known.edit_ids:
            per_source = known.edits[m.name][edit_id]
            rows, owners = _stack([per_source[i] for i in q_idx], m.words)
            d = m.distances(rows, owners, nq, codes)
            own_hist[edit_id] = _hist(d[itself], length)
            scene_hist += _hist(d[scene_rows], length)
            if has_scene.any():
                scene_nearest += _hist(np.where(scene_rows, d, m.missing)[has_scene].min(axis=1), length)
            off = d.copy()
            off[not_counted] = m.missing  # neither a hit nor a false match: never compared
            excluded += int(scene_rows.sum())
            if extra.shape[0]:
                d_extra = m.distances(rows, owners, nq, extra)
                other_hist[edit_id] = _hist(off[~itself], length) + _hist(d_extra, length)
                off = np.concatenate([off, d_extra], axis=1)
            else:
                other_hist[edit_id] = _hist(off[~itself], length)
            other_nearest[edit_id] = _hist(
                off.min(axis=1) if off.shape[1] > 1 else np.zeros(0, np.int32), length
            )
            close.offer(off, lambda qi, e=edit_id: (known_labels[q_idx[qi]], e), all_labels)
        d_hist = np.zeros(length, np.int64)
        d_nearest = np.zeros(length, np.int64)
        d_pairs = 0
        d_queries = 0
        if distractors is not None:
            labels = [s.label for s in distractors.sources]
            query = distractors.query[m.name]
            for start in range(0, len(query), batch):
                part = query[start : start + batch]
                rows, owners = _stack(part, m.words)
                d = m.distances(rows, owners, len(part), all_codes)
                d_hist += _hist(d, length)
                d_nearest += _hist(d.min(axis=1) if all_codes.shape[0] else np.zeros(0, np.int32), length)
                d_pairs += d.size
                d_queries += len(part)
                close.offer(d, lambda qi, s=start, ls=labels: (ls[s + qi], "distractor"), all_labels)
        neg_nearest: dict[str, np.ndarray] = {}
        neg_pairs: dict[str, int] = {}
        for kind, negs in (negatives or {}).items():
            rows, owners = _stack(negs.query[m.name], m.words)
            d = m.distances(rows, owners, len(negs.labels), all_codes)
            position = {label: j for j, label in enumerate(all_labels)}
            for qi, held in enumerate(negs.holds):
                for label in held:
                    if label in position:
                        d[qi, position[label]] = m.missing  # the pictures a template holds are true matches
            neg_nearest[kind] = _hist(d.min(axis=1) if d.shape[1] else np.zeros(0, np.int32), length)
            neg_pairs[kind] = int((d[:, :] < m.missing).sum())
            close.offer(d, lambda qi, ls=negs.labels, k=kind: (ls[qi], f"negative: {k}"), all_labels)
        out.append(
            MatcherSummary(
                matcher=m.name,
                description=m.description,
                max_distance=m.max_distance,
                thresholds=list(m.thresholds),
                current_threshold=m.current_threshold,
                n_known=nq,
                own_hist=own_hist,
                other_hist=other_hist,
                other_nearest_hist=other_nearest,
                distractor_hist=d_hist,
                distractor_nearest_hist=d_nearest,
                n_distractors=d_queries,
                closest=close.items,
                same_scene_pairs=excluded,
                n_list_only=int(extra.shape[0]),
                matched_by_default=m.matched_by_default,
                same_scene_hist=scene_hist,
                same_scene_nearest_hist=scene_nearest,
                negative_nearest_hist=neg_nearest,
                negative_pairs=neg_pairs,
            )
        )
    return out
