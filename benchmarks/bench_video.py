"""Video hashing speed (issue 19): our vPDQ against the reference ``vpdq`` package and against the floor of
decoding every frame and converting just the sampled ones, on the same files in one run.

Files: ThreatExchange's sample clips (refvectors/vpdq/videos, when present) and synthetic 480p, 720p and 1080p
clips made in memory (benign moving shapes). Ours decodes from memory; the reference reads files, so every
clip is written under one temporary folder, deleted at the end. All at one frame per second. Each round runs
the four methods on each file, in alternating order; the table shows medians per file and their ratios,
then per-frame agreement of our hashes with the reference package's on the same frames::

    make bench-video                              # installs the reference first (make vpdq-reference)
    python -m benchmarks.bench_video --quick      # one round, short synthetic clips, 4 sample clips

Goal (issue 19): ours >= 2x faster than the reference, within 1.5x of the floor.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import av

from benchmarks.machine import describe_machine
from benchmarks.vpdq_reference import ReferenceVpdq, reference_available
from hashwatch.hashing.blas_threads import limit_blas_threads
from hashwatch.sites.synthetic_videos import make_video
from hashwatch.video.decode import frame_mod_for, open_video, sampled_luma
from hashwatch.video.hash_video import hash_video
from hashwatch.video.video_hashes import VideoLimits

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC = (("480p", 854, 480), ("720p", 1280, 720), ("1080p", 1920, 1080))
QUALITY_FLOOR = 50


def _refvectors_videos() -> list[Path]:
    env = os.environ.get("HASHWATCH_REFVECTORS")
    roots = (
        [Path(env)]
        if env
        else [REPO.parent / "shared" / "refvectors", REPO.parent.parent / "shared" / "refvectors"]
    )
    for root in roots:
        folder = root / "vpdq" / "videos"
        if folder.is_dir():
            return sorted(folder.glob("*.mp4"))
    return []


def floor_seconds(data: bytes, threads: int, seconds_per_hash: float = 1.0) -> float:
    """Decode every frame from memory (as ours: PyAV, same threading) and convert the sampled ones to 8-bit
    grey arrays: the least any PyAV-based vPDQ has to do."""
    start = time.perf_counter()
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = threads
        stream.codec_context.thread_type = "AUTO"
        frame_mod = frame_mod_for(seconds_per_hash, float(stream.average_rate or stream.guessed_rate or 0))
        for index, frame in enumerate(container.decode(stream)):
            if index % frame_mod == 0:
                frame.to_ndarray(format="gray")
    return time.perf_counter() - start


def needed_floor_seconds(data: bytes, threads: int, seconds_per_hash: float = 1.0) -> float:
    """Decode only what the sampled frames need (H.264/HEVC non-reference frames between samples skipped,
    as ours does) and take their luma: ours without PDQ and digests, the floor for this way of decoding."""
    start = time.perf_counter()
    with open_video(data, VideoLimits(seconds_per_hash=seconds_per_hash), threads) as video:
        for _ in sampled_luma(video, VideoLimits(seconds_per_hash=seconds_per_hash)):
            pass
    return time.perf_counter() - start


def _hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each synthetic clip")
    parser.add_argument(
        "--threads", type=int, default=0, help="decoder threads for ours and the floor (0 = auto)"
    )
    parser.add_argument("--quick", action="store_true", help="1 round, 3 s synthetic clips, 4 sample clips")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds = 1, 3.0
    limit_blas_threads()

    print(f"machine: {describe_machine()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average at start: {os.getloadavg()[0]:.1f}")
    files: list[tuple[str, bytes]] = []
    for path in _refvectors_videos()[: 4 if args.quick else None]:
        files.append((path.stem, path.read_bytes()))
    for label, width, height in SYNTHETIC:
        start = time.perf_counter()
        data = make_video(seconds=args.seconds, fps=30, width=width, height=height, seed=7)
        files.append((f"synthetic-{label}", data))
        print(
            f"made synthetic-{label} ({len(data)} bytes, {args.seconds:g} s at 30 fps) in {time.perf_counter() - start:.1f} s"
        )

    reference = ReferenceVpdq() if reference_available() else None
    if reference is None:
        print("reference vpdq not installed (make vpdq-reference): ours and the floor only")
    times: dict[tuple[str, str], list[float]] = {}
    ours_hashes = {}
    ref_frames = {}
    with tempfile.TemporaryDirectory(prefix="bench-video-") as folder:
        paths = {}
        for name, data in files:  # for the reference only, which reads files; deleted with the folder
            paths[name] = Path(folder) / f"{name}.mp4"
            paths[name].write_bytes(data)
        methods = ["ours", "floor", "needed"] + (["reference"] if reference else [])
        for round_index in range(args.rounds):
            for file_index, (name, data) in enumerate(files):
                order = methods if (round_index + file_index) % 2 == 0 else methods[::-1]
                for method in order:
                    if method == "ours":
                        start = time.perf_counter()
                        hashes = hash_video(data, VideoLimits(seconds_per_hash=1.0), threads=args.threads)
                        elapsed = time.perf_counter() - start
                        assert hashes.status == "ok", (name, hashes.status)
                        ours_hashes[name] = hashes
                    elif method == "floor":
                        elapsed = floor_seconds(data, args.threads)
                    elif method == "needed":
                        elapsed = needed_floor_seconds(data, args.threads)
                    else:
                        ref_frames[name], elapsed = reference.hash_file(paths[name], 1.0)
                    times.setdefault((name, method), []).append(elapsed)
            print(f"round {round_index + 1}/{args.rounds} done, load average {os.getloadavg()[0]:.1f}")
        if reference:
            reference.close()

    print()
    print(f"Medians of {args.rounds} rounds, one frame per second (seconds per video):")
    print("floor: PyAV decodes every frame, converts the sampled ones to grey; needed: decodes only what the")
    print("sampled frames need (ours without PDQ); fps ours: frames of the video per second of our time")
    header = (
        f"{'video':32} {'frames':>6} {'ours':>6} {'floor':>6} {'needed':>6} {'ref':>6} {'ref/ours':>8} "
        f"{'ours/floor':>10} {'ours/needed':>11} {'fps ours':>8}"
    )
    print(header)
    ratios_ref, ratios_floor, ratios_needed = [], [], []
    for name, _ in files:
        ours = statistics.median(times[(name, "ours")])
        floor = statistics.median(times[(name, "floor")])
        needed = statistics.median(times[(name, "needed")])
        ratios_needed.append(ours / needed)
        frames = ours_hashes[name].frames_decoded
        ref = statistics.median(times[(name, "reference")]) if reference else float("nan")
        ratios_floor.append(ours / floor)
        if reference:
            ratios_ref.append(ref / ours)
        print(
            f"{name:32} {frames:6d} {ours:6.3f} {floor:6.3f} {needed:6.3f} {ref:6.3f} {ref / ours:8.2f} "
            f"{ours / floor:10.2f} {ours / needed:11.2f} {frames / ours:8.0f}"
        )
    print(f"median ours/floor: {statistics.median(ratios_floor):.2f} (goal <= 1.5)")
    print(f"median ours/needed: {statistics.median(ratios_needed):.2f}")
    if ratios_ref:
        print(f"median reference/ours: {statistics.median(ratios_ref):.2f} (goal >= 2)")
    ours_total = sum(statistics.median(times[(n, "ours")]) for n, _ in files)
    floor_total = sum(statistics.median(times[(n, "floor")]) for n, _ in files)
    needed_total = sum(statistics.median(times[(n, "needed")]) for n, _ in files)
    print(f"total: ours {ours_total:.2f} s, floor {floor_total:.2f} s, needed {needed_total:.2f} s", end="")
    if reference:
        ref_total = sum(statistics.median(times[(n, "reference")]) for n, _ in files)
        print(f", reference {ref_total:.2f} s; reference/ours {ref_total / ours_total:.2f}")
    else:
        print()

    if ref_frames:
        print()
        print(
            "Agreement with the reference package (same files, 1 frame/s, frames of reference quality >= 50):"
        )
        distances, same_index, total = [], 0, 0
        for name, frames in ref_frames.items():
            ours = ours_hashes[name].vpdq
            total += max(len(frames), len(ours))
            same_index += sum(1 for a, b in zip(ours, frames, strict=False) if a.frame_index == b.frame)
            per_video = [
                _hamming(a.pdq, b.pdq)
                for a, b in zip(ours, frames, strict=False)
                if a.frame_index == b.frame and b.quality >= QUALITY_FLOOR
            ]
            if per_video:
                print(
                    f"  {name:34} frames {len(ours)}/{len(frames)}  median {statistics.median(per_video):.0f} "
                    f"max {max(per_video)}"
                )
            distances += per_video
        if distances:
            print(
                f"  all: {same_index}/{total} frames at the same index; Hamming median "
                f"{statistics.median(distances):.0f}, p95 {_percentile(distances, 0.95)}, max {max(distances)} "
                f"over {len(distances)} frames"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
