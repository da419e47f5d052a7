"""`prepare(cfg)`: list a dataset, extract the faces of one shard, write its part of the
manifest, and merge the parts into `manifest.parquet` + `failures.csv` once all exist."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from fakeguard import settings as check
from fakeguard.data.extract import (
    ExtractSettings,
    check_face_settings,
    load_media,
    process_item,
    read_record,
    record_path,
    with_prefetch,
)
from fakeguard.data.faces import FaceDetector
from fakeguard.data.lock import OutputLock
from fakeguard.data.manifest import (
    failures_frame,
    manifest_frame,
    write_failures,
    write_manifest,
)
from fakeguard.data.sources import SOURCES, MediaItem, check_options, list_items
from fakeguard.data.splits import assign_splits
from fakeguard.errors import UserError
from fakeguard.files import write_atomically

log = logging.getLogger(__name__)


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n."""
    try:
        i, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise UserError(f"shard must be i/n with 0 <= i < n (e.g. 0/4), got {text!r}")
    return i, n


def shard_of(source_id: str, n: int) -> int:
    """Shards go by source id, so a fake lands with its original (whose boxes it may reuse)."""
    return int.from_bytes(hashlib.sha1(source_id.encode()).digest()[:8], "big") % n


def with_splits(
    items: Sequence[MediaItem], val_fraction: float, test_fraction: float, salt: str = ""
) -> list[MediaItem]:
    """Give every item without an official split a deterministic one by source id, stratified
    by the labels each source has (so real+fake sources spread over every split)."""
    labels: dict[str, set[int]] = {}
    for item in items:
        if item.split is None:
            labels.setdefault(item.source_id, set()).add(item.label)
    strata = {source: tuple(sorted(found)) for source, found in labels.items()}
    splits = assign_splits(strata, val_fraction, test_fraction, salt)
    return [
        item if item.split else dataclasses.replace(item, split=splits[item.source_id])
        for item in items
    ]


def check_out(out: Path) -> None:
    """`out` must be a folder, or not exist yet and not lie under a file: checked before any
    work, so a typo costs nothing."""
    for folder in (out, *out.parents):
        try:
            if folder.is_dir():
                return
            found = folder.exists() or folder.is_symlink()
        except OSError as error:  # e.g. a parent we may not enter
            raise UserError(f"cannot use out={out}: {error.strerror or error}") from None
        if found:
            kind = "a file" if folder.is_file() else "a special file"
            if folder.is_symlink() and not folder.exists():
                kind = "a broken symlink"
            where = f"out={out} is {kind}"
            if folder != out:
                where = f"out={out} lies under {folder}, which is {kind}"
            raise UserError(
                f"{where}, not a folder; give a folder for the crops and the manifest "
                "(it is created if missing)"
            )


def make_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create out={out}: {error.strerror or error}") from None


def lock_path(out: Path, i: int, n: int) -> Path:
    """One lock per shard, not per `out`. Shards of one dataset run side by side into the same
    `out` (a SLURM array, `-m shard=0/4,1/4,...`): their items are disjoint and each writes
    its own part, and whichever finishes last merges (an atomic write; two merging at once
    write the same file). What must not run twice at once is one shard, which would redo the
    same items and race on its part: that second run is refused. Runs with different shard
    counts into one `out` are not refused: they overlap, so work is done twice, but every item
    and file is written atomically and means the same, so the result stays right."""
    return out / f".prepare-{i:05d}-of-{n:05d}.lock"


def check_settings(cfg: DictConfig) -> None:
    """Every prepare setting, before any media is listed or `out` created: one `SettingError`
    naming it (prepare.yaml; `shard` is `parse_shard`'s, `out` is `check_out`'s)."""
    check.whole_number("workers", cfg.workers, 0)
    check.flag("progress", cfg.progress)
    check.one_of("source.name", cfg.source.name, SOURCES)
    split = cfg.source.split
    check.split_fractions("source.split.", split.val_fraction, split.test_fraction)
    check_options(cfg.source.name, cfg.source.options)  # the source's own, e.g. FF++ methods
    check_face_settings(cfg)


def pin_settings(out: Path, settings: dict) -> None:
    """Record the settings in `out/prepare.json`; refuse to resume with different ones."""
    path = out / "prepare.json"
    if path.is_file():
        before = json.loads(path.read_text())
        if before != settings:
            changed = sorted(
                k for k in settings.keys() | before.keys() if before.get(k) != settings.get(k)
            )
            raise UserError(
                f"{out} holds faces prepared with other settings ({', '.join(changed)}); "
                "use a new `out` or delete that folder"
            )
        return
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(settings, indent=2)))


def run_items(
    items: Sequence[MediaItem],
    out: Path,
    settings: ExtractSettings,
    detector: dict,
    workers: int = 0,
    advance: Callable[[], None] = lambda: None,
) -> None:
    """Extract every item that has no record yet. With reuse of source boxes, originals go
    first so their fakes can reuse them."""
    todo = [item for item in items if not record_path(out, item).is_file()]
    originals = {item.original for item in todo if item.original}
    first_ids = originals if settings.reuse_source_boxes else set()
    first = [item for item in todo if item.video_id in first_ids]
    rest = [item for item in todo if item.video_id not in first_ids]
    for phase in (first, rest):
        if workers > 0:
            _run_parallel(phase, out, settings, detector, workers, advance)
        else:
            _run_here(phase, out, settings, detector, advance)


def _run_here(items, out, settings, detector_kwargs, advance) -> None:
    if not items:
        return
    detector = FaceDetector(**detector_kwargs)
    for item, media in with_prefetch(items, lambda it: load_media(it, settings.frames)):
        process_item(item, media, detector, settings, out)
        advance()


_WORKER_DETECTOR: FaceDetector | None = None


def _init_worker(detector_kwargs: dict, threads: int) -> None:
    global _WORKER_DETECTOR
    torch.set_num_threads(threads)
    _WORKER_DETECTOR = FaceDetector(**detector_kwargs)


def _work(item: MediaItem, out: Path, settings: ExtractSettings) -> None:
    process_item(item, load_media(item, settings.frames), _WORKER_DETECTOR, settings, out)


def _run_parallel(items, out, settings, detector_kwargs, workers, advance) -> None:
    if not items:
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(detector_kwargs, threads),
    ) as pool:
        for done in as_completed([pool.submit(_work, item, out, settings) for item in items]):
            done.result()
            advance()


def part_paths(out: Path, i: int, n: int) -> tuple[Path, Path]:
    stem = f"{i:05d}-of-{n:05d}"
    return out / "parts" / f"manifest-{stem}.parquet", out / "parts" / f"failures-{stem}.csv"


def write_part(out: Path, items: Sequence[MediaItem], i: int, n: int) -> None:
    """Collect the records of one shard's items into its manifest and failures parts."""
    rows, failures = [], []
    for item in items:
        record = read_record(out, item)
        rows += record["rows"]
        failures += record["failures"]
    manifest_path, failures_path = part_paths(out, i, n)
    write_manifest(manifest_path, manifest_frame(rows))
    write_failures(failures_path, failures_frame(failures))


def merge_parts(out: Path, n: int) -> bool:
    """Join all n parts into `manifest.parquet` and `failures.csv`; False if some are missing."""
    parts = [part_paths(out, i, n) for i in range(n)]
    if not all(m.is_file() and f.is_file() for m, f in parts):
        return False
    manifest = pd.concat([pd.read_parquet(m) for m, _ in parts], ignore_index=True)
    failures = pd.concat([pd.read_csv(f, keep_default_na=False) for _, f in parts])
    write_manifest(out / "manifest.parquet", manifest_frame(manifest.to_dict("records")))
    write_failures(out / "failures.csv", failures_frame(failures.to_dict("records")))
    return True


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not enabled,
    )


def prepare(cfg: DictConfig) -> dict:
    """Run one shard of `cfg` (see configs/prepare.yaml) and merge if it was the last."""
    check_settings(cfg)
    out = Path(cfg.out).expanduser()
    check_out(out)
    i, n = parse_shard(cfg.shard)
    settings = ExtractSettings(**OmegaConf.to_container(cfg.extract))
    options = OmegaConf.to_container(cfg.source.options)
    detector = OmegaConf.to_container(cfg.detector)
    items = list_items(cfg.source.name, cfg.root, **options)
    items = with_splits(items, **OmegaConf.to_container(cfg.source.split))
    pinned = {
        "source": cfg.source.name,
        "root": str(Path(cfg.root).expanduser().resolve()),
        "options": options,
        "split": OmegaConf.to_container(cfg.source.split),
        "extract": dataclasses.asdict(settings),
        "detector": {k: detector[k] for k in ("thresholds", "min_face_size")},
    }
    mine = [item for item in items if shard_of(item.source_id, n) == i]
    make_out(out)
    with OutputLock(lock_path(out, i, n), "prepare", out):
        pin_settings(out, pinned)
        with _progress(cfg.progress) as progress:
            task = progress.add_task(f"faces, shard {i}/{n}", total=len(mine))
            progress.update(task, completed=sum(record_path(out, it).is_file() for it in mine))
            run_items(mine, out, settings, detector, cfg.workers, lambda: progress.advance(task))
        write_part(out, mine, i, n)
        merged = merge_parts(out, n)
        summary = _summary(out, i, n, len(mine), merged)
    log.info("prepare: %s", summary)
    return summary


def _summary(out: Path, i: int, n: int, items: int, merged: bool) -> dict:
    manifest_path, failures_path = part_paths(out, i, n)
    summary = {
        "shard": f"{i}/{n}",
        "items": items,
        "crops": len(pd.read_parquet(manifest_path, columns=["path"])),
        "failures": len(pd.read_csv(failures_path)),
        "manifest": str(out / "manifest.parquet") if merged else None,
    }
    if merged:  # the whole dataset: crops per split and label
        manifest = pd.read_parquet(out / "manifest.parquet", columns=["split", "label"])
        counts = manifest.groupby(["split", "label"]).size()
        summary["crops_per_split"] = {
            f"{s}/{'fake' if y else 'real'}": int(c) for (s, y), c in counts.items()
        }
    return summary
