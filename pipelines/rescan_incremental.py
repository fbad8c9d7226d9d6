"""The launcher's side of an incremental rescan: read the state, plan, write the delta's screen, and save
the new state once the run's outputs are final (docs/rescan.md, Incremental rescans).

::

    planned = plan_incremental(output, history_dir, images, videos, ref, match_options, allowlist, full=False)
    planned.plan.new_images, planned.plan.old_images, planned.screen     # what build_pipeline reads
    ...                                                                  # run, write the manifest
    save_state(planned, run_id, finished)                                # only when the run is DONE
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

from hashwatch.hashing.allowlist import Allowlist
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.match_policy import MatchOptions
from hashwatch.rescan.plan import (
    EntryFingerprints,
    RescanPlan,
    allowlist_keys,
    delta_screen,
    describe_options,
    entry_fingerprints,
    plan_rescan,
)
from hashwatch.rescan.state import (
    RescanState,
    read_fingerprints,
    read_state,
    use_url_file_systems,
    write_state,
)
from schemas.known_hashes import IndexRef

__all__ = ["PlannedRescan", "plan_incremental", "relative", "save_state"]

_LOGGER = logging.getLogger("hashwatch.rescan")

# The state of an output folder given as a URL (gs://, s3://) is read and written through Beam's file systems;
# the Beam-free state module takes them from here.
use_url_file_systems(FileSystems)


@dataclass
class PlannedRescan:
    output: str
    history_dir: str
    plan: RescanPlan
    current: EntryFingerprints
    index_checksum: str
    options: dict
    allowlist: list
    images: list[str]  # every images/ file of the range now (relative): the state's after a DONE run
    videos: list[str]
    screen: IndexRef | None = None


def relative(history_dir: str, path: str) -> str:
    """A history file's path relative to the history folder (what the state keeps)."""
    base = history_dir.rstrip("/").replace("\\", "/") + "/"
    path = path.replace("\\", "/")
    return path[len(base) :] if path.startswith(base) else path


def _save_screen(output: str, screen: KnownHashIndex) -> IndexRef:
    """Write the delta's screen beside the compiled index (where every worker reads), once per content."""
    target = FileSystems.join(output, "_indexes", screen.checksum[:38] + ".hwidx")
    if not FileSystems.exists(target):
        if "://" in output:
            local = os.path.join(tempfile.mkdtemp(prefix="hashwatch-delta-"), "delta.hwidx")
            screen.save(local)
            with open(local, "rb") as source, FileSystems.create(target) as sink:
                sink.write(source.read())
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            screen.save(target)
    return IndexRef(target, screen.checksum)


def plan_incremental(
    output: str,
    history_dir: str,
    images: list[str],
    videos: list[str],
    index: KnownHashIndex,
    match_options: MatchOptions,
    allowlist: Allowlist | None,
    *,
    full: bool,
) -> PlannedRescan:
    """Read the state under ``output`` and plan this run (``images``/``videos``: absolute paths of the
    history files in range). Logs the plan in one line; a full pass says why, as a warning."""
    state, problem = read_state(output)
    # The history in the output folder itself (the default) is recorded as ".": the folder can move.
    history_key = "." if history_dir.rstrip("/") == output.rstrip("/") else history_dir
    current = entry_fingerprints(index, match_options)
    options = describe_options(index, match_options)
    keys = allowlist_keys(allowlist)
    rel_images = [relative(history_dir, p) for p in images]
    rel_videos = [relative(history_dir, p) for p in videos]
    plan = plan_rescan(
        state,
        problem,
        full=full,
        history_dir=history_key,
        images=rel_images,
        videos=rel_videos,
        options=options,
        allowlist=keys,
        index_checksum=index.checksum,
        current=current,
        applied=lambda: read_fingerprints(output, state),
    )
    planned = PlannedRescan(
        output, history_key, plan, current, index.checksum, options, keys, rel_images, rel_videos
    )
    if plan.mode == "full":
        _LOGGER.warning("full pass: %s", plan.reason)
        return planned
    screen = delta_screen(index, current, plan.added_mask)
    if screen is not None:
        planned.screen = _save_screen(output, screen)
    read_old = "screened against the delta" if screen is not None else "skipped (no list delta)"
    _LOGGER.info(
        "incremental rescan %s: %d new images/ files against the whole index, %d old ones %s "
        "(list delta: %d entries added, %d removed); %d new and %d old videos/ files",
        plan.reason,
        len(plan.new_images),
        len(plan.old_images),
        read_old,
        plan.added,
        plan.removed,
        len(plan.new_videos),
        len(plan.old_videos),
    )
    return planned


def absolute(history_dir: str, paths: list[str]) -> list[str]:
    return [FileSystems.join(history_dir, p) for p in paths]


def state_name(checksum: str, options: dict) -> str:
    """The fingerprints file's name: the index checksum and the corroboration rules (fingerprints hash the
    corroborating values, so the same lists under other rules fingerprint differently)."""
    digest = hashlib.sha256((checksum + repr(options.get("corroborate"))).encode()).hexdigest()
    return f"entries-{digest[:32]}.npy"


def save_state(planned: PlannedRescan, run_id: str, finished: str) -> str:
    """Record what this DONE run applied (call after its outputs and manifest are written)."""
    state = RescanState(
        run_id=run_id,
        finished=finished,
        history_dir=planned.history_dir,
        images=sorted(planned.images),
        videos=sorted(planned.videos),
        index_checksum=planned.index_checksum,
        entries_file=state_name(planned.index_checksum, planned.options),
        entries=len(planned.current),
        match_options=planned.options,
        allowlist=planned.allowlist,
        mode=planned.plan.mode,
    )
    path = write_state(planned.output, state, planned.current.sorted_values)  # sorted only if new
    # The delta's screens (this run's, and any a killed run left) are needed no more.
    screens = FileSystems.match([FileSystems.join(planned.output, "_indexes", "delta-*.hwidx")])[0]
    if screens.metadata_list:
        FileSystems.delete([m.path for m in screens.metadata_list])
    return path


def files_read(planned: PlannedRescan) -> dict:
    """For the manifest's history block: files read against the whole index, screened, skipped."""
    plan = planned.plan
    screened = len(plan.old_images) if planned.screen is not None else 0
    return {
        "files_read": len(plan.new_images),
        "files_screened_against_delta": screened,
        "files_skipped": len(plan.old_images) - screened,
        "video_files_read": len(plan.new_videos) + (len(plan.old_videos) if planned.screen else 0),
        "video_files_skipped": 0 if planned.screen else len(plan.old_videos),
    }
