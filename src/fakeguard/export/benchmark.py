"""Score a folder of real and fake media the way the BitMind gasbench harness scores it.

`python -m fakeguard.benchmark_dir` (configs/benchmark_dir.yaml) runs `benchmark(cfg)`: every
file of the model's modality under root/real and root/fake goes through the harness's input
and augmentation (`fakeguard.export.harness`, which says what is reproduced and from where),
a clean and an augmented pass.

- **Scoring** (`model/inference.py` `process_model_output`, `docs/Classification-and-Scoring.md`):
  softmax of each sample's logits; binary P(fake) = 1 - p[real]; fake when above 0.5. Per
  pass: MCC, Brier against the 0/1 label, sn34 = sqrt(max(1e-12, mcc_c * brier_c)) with
  mcc_c = clip((MCC + 1) / 2, 0, 1) ** 1.2 and brier_c = max(0, (0.25 - Brier) / 0.25) ** 1.8
  (`fakeguard.scoring.metrics`). The score is the blend (1 - aug_weight) * clean +
  aug_weight * augmented (0.2 by default), the clean score alone when the augmented pass has
  no predictions or aug_weight is 0. A file that cannot be read is a recorded skip, never a
  prediction.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from fakeguard import settings, walk
from fakeguard.console import print_table
from fakeguard.data.frames import MediaReadError
from fakeguard.data.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from fakeguard.devices import pick_device
from fakeguard.errors import DataError, MissingFileError
from fakeguard.export.harness import (
    HarnessInput,
    harness_input,
    load_harness_model,
    predict,
    prepare,
    read_model_config,
)
from fakeguard.files import write_atomically, write_json
from fakeguard.scoring.metrics import binary_metrics

log = logging.getLogger(__name__)

CLASSES = {"real": 0, "fake": 1}  # root/real, root/fake -> the harness's binary labels
PASSES = ("clean", "augmented")
DEFAULT_BATCH = {"image": 32, "video": 4}  # the harness's defaults


@dataclass(frozen=True)
class Skip:
    """A file left out of `passes` ("all", or "augmented" when only its augmentation failed)."""

    path: str
    reason: str
    passes: str = "all"


@dataclass
class PassScores:
    """One pass over the folder: each scored file, its label (1 = fake) and P(fake)."""

    paths: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    p_fake: list[float] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        if not self.paths:
            return {"n": 0.0}
        return binary_metrics(np.array(self.labels), np.array(self.p_fake))


@dataclass
class FolderScores:
    spec: HarnessInput
    passes: dict[str, PassScores]
    skipped: list[Skip]
    selected: dict[str, int]  # files of the modality scored per class (after max_files)


def kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def list_media(
    root: str | Path, modality: str, max_files: int | None = None, seed: int = 0
) -> tuple[list[tuple[Path, int]], list[Skip], dict[str, int]]:
    """(path, label) of the files of `modality` under root/real and root/fake, in order, with
    at most `max_files` per class (a seeded random subset); every other file is a Skip."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise MissingFileError(f"root={root} is not a folder")
    missing = [f"{name}/" for name in CLASSES if not (root / name).is_dir()]
    if missing:
        raise DataError(
            f"root={root} needs a real/ and a fake/ folder (missing: {', '.join(missing)})"
        )
    items, skipped, selected = [], [], {}
    for name, label in CLASSES.items():
        matching = []
        for path, note in walk.entries(root / name):
            kind = kind_of(path)
            if note:
                skipped.append(Skip(str(path), note))
            elif kind == modality:
                matching.append(path)
            elif kind is None:
                skipped.append(Skip(str(path), "not an image or video file"))
            else:
                article = "an" if kind == "image" else "a"
                skipped.append(
                    Skip(str(path), f"{article} {kind} file; the model takes {modality}s")
                )
        if max_files is not None and len(matching) > max_files:
            rng = np.random.default_rng([seed, label])
            keep = np.sort(rng.choice(len(matching), size=max_files, replace=False))
            matching = [matching[i] for i in keep]
        selected[name] = len(matching)
        items.extend((path, label) for path in matching)
    if not items:
        raise DataError(f"no {modality} files under {root}/real or {root}/fake")
    return items, skipped, selected


def score_folder(
    model: torch.nn.Module,
    spec: HarnessInput,
    root: str | Path,
    batch_size: int | None = None,
    max_files: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> FolderScores:
    """Every file of the modality under root/real and root/fake through the harness's clean
    and augmented passes; unreadable files are recorded skips."""
    device = torch.device(device)
    batch_size = batch_size or DEFAULT_BATCH[spec.modality]
    items, skipped, selected = list_media(root, spec.modality, max_files, seed)
    passes = {name: PassScores() for name in PASSES}
    for start in range(0, len(items), batch_size):
        ready: dict[str, list[tuple[Path, int, np.ndarray]]] = {name: [] for name in PASSES}
        for path, label in items[start : start + batch_size]:
            try:
                clean, augmented, why = prepare(path, spec)
            except MediaReadError as error:
                skipped.append(Skip(str(path), str(error)))
                continue
            ready["clean"].append((path, label, clean))
            if augmented is None:
                skipped.append(Skip(str(path), str(why), "augmented"))
            else:
                ready["augmented"].append((path, label, augmented))
        for name, rows in ready.items():
            if rows:
                probs = predict(model, np.stack([row[2] for row in rows]), device)
                passes[name].paths.extend(str(row[0]) for row in rows)
                passes[name].labels.extend(row[1] for row in rows)
                passes[name].p_fake.extend(probs.tolist())
        log.info("scored %d/%d files", min(start + batch_size, len(items)), len(items))
    return FolderScores(spec, passes, skipped, selected)


def blend(clean: float, augmented: float, aug_weight: float) -> float:
    """The harness's robustness blend of two sn34 scores."""
    return (1 - aug_weight) * clean + aug_weight * augmented


def summary(scores: FolderScores, aug_weight: float) -> dict[str, Any]:
    """Per-pass metrics, the blended sn34 as the harness reports it, the skips."""
    passes = {name: scores.passes[name].metrics() for name in PASSES}
    if not passes["clean"]["n"]:
        first = scores.skipped[0]
        raise DataError(
            f"no file could be scored: all {sum(scores.selected.values())} were skipped, "
            f"e.g. {first.path}: {first.reason}"
        )
    clean = passes["clean"]["sn34"]
    augmented = passes["augmented"].get("sn34")
    blended = clean if augmented is None or aug_weight <= 0 else blend(clean, augmented, aug_weight)
    return {
        "modality": scores.spec.modality,
        "input": {
            "resize": list(scores.spec.size),
            **(
                {"num_frames": scores.spec.num_frames, "frame_rate": scores.spec.frame_rate}
                if scores.spec.modality == "video"
                else {}
            ),
        },
        "notes": list(scores.spec.notes),
        "selected": scores.selected,
        "passes": passes,
        "aug_weight": aug_weight,
        "sn34": blended,
        "augmentation_robustness": (
            augmented / clean if augmented is not None and clean > 0 else float("nan")
        ),
        "skipped": [vars(skip) for skip in scores.skipped],
    }


# ---- the command -----------------------------------------------------------------------------


def check_settings(cfg: DictConfig) -> None:
    if cfg.batch_size is not None:
        settings.whole_number("batch_size", cfg.batch_size, 1)
    settings.optional_whole_number("max_files", cfg.max_files, 1)
    settings.whole_number("seed", cfg.seed, 0)
    settings.number_in("aug_weight", cfg.aug_weight, 0.0, 1.0)
    settings.device("device", cfg.device, auto=True)


def report(result: dict[str, Any], model_dir: str, root: str) -> None:
    rows = []
    for name in PASSES:
        m = result["passes"][name]
        if not m["n"]:
            rows.append([name, "0", "-", "-", "-", "-", "-"])
            continue
        cells = [m["mcc"], m["brier"], m["sn34"], m["acc"], m["auc"]]
        rows.append([name, str(int(m["n"])), *(f"{v:.4f}" for v in cells)])
    print(f"model_dir: {model_dir}\nroot: {root}")
    head = ["pass", "n", "MCC", "Brier", "sn34", "acc", "AUC"]
    print_table(f"gasbench-style score ({result['modality']} model)", head, rows)
    weight = result["aug_weight"]
    print(f"sn34 = {1 - weight:g} * clean + {weight:g} * augmented: {result['sn34']:.4f}")
    robustness = result["augmentation_robustness"]
    print(f"augmentation robustness (augmented / clean sn34): {robustness:.4f}")
    for note in result["notes"]:
        print(f"note: {note}")
    skipped = result["skipped"]
    print(f"skipped: {len(skipped)}" + (" (all listed in results.json)" if skipped else ""))
    for skip in skipped[:10]:
        print(f"  {skip['path']} [{skip['passes']}]: {skip['reason']}")
    if len(skipped) > 10:
        print(f"  ... and {len(skipped) - 10} more")


def write_predictions(path: Path, scores: FolderScores) -> None:
    """One row per scored file: its label and P(fake) in each pass (empty where skipped)."""
    by_pass = {name: dict(zip(p.paths, p.p_fake, strict=True)) for name, p in scores.passes.items()}
    labels = dict(zip(scores.passes["clean"].paths, scores.passes["clean"].labels, strict=True))

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["path", "label", *(f"p_fake_{name}" for name in PASSES)])
            for file, label in labels.items():
                writer.writerow([file, label, *(by_pass[name].get(file, "") for name in PASSES)])

    write_atomically(path, write)


def benchmark(cfg: DictConfig) -> dict[str, Any]:
    """`python -m fakeguard.benchmark_dir`: score cfg.root as gasbench would score the model
    in cfg.model_dir; print the table and write results.json (+ predictions.csv) to cfg.out."""
    check_settings(cfg)
    spec = harness_input(read_model_config(cfg.model_dir))
    list_media(cfg.root, spec.modality)  # a bad root fails before the model loads
    device = pick_device(cfg.device)
    model = load_harness_model(cfg.model_dir, device)
    scores = score_folder(
        model, spec, cfg.root, cfg.batch_size, cfg.max_files, cfg.seed, device=device
    )
    result = {"model_dir": cfg.model_dir, "root": cfg.root, **summary(scores, cfg.aug_weight)}
    report(result, str(cfg.model_dir), str(cfg.root))
    out = Path(cfg.out)
    write_json(out, result)
    write_predictions(out.with_name("predictions.csv"), scores)
    print(f"wrote {out} and {out.with_name('predictions.csv')}")
    return result
