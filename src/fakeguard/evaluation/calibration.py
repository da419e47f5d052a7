"""Platt calibration of checkpoints on their validation split, and how much it helped.

`fit_checkpoint` scores the validation split of the run's data (as `evaluate.py data=run`
reads it) on the calibration tracks with the *uncalibrated* detector, pools the logits and fits
`models.calibration.fit_platt`. A refit therefore never stacks on an older calibration.
`before_after` sets the uncalibrated P(fake) against the calibrated one on a split:
ECE (15 bins), Brier, sn34, AUC (unchanged: the map is monotone) and accuracy at 0.5.

Used by `python -m fakeguard.calibrate` (`calibrate(cfg)`: writes the checkpoint) and by
`evaluate.py calibrate=true` (reports on the scored split; writes only with
`calibration.save=true`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fakeguard import settings
from fakeguard.console import print_table
from fakeguard.data.datamodule import FaceDataModule
from fakeguard.data.samples import FaceSample
from fakeguard.devices import pick_device
from fakeguard.errors import DataError, SettingError
from fakeguard.evaluation.data import evaluation_data
from fakeguard.models.calibration import (
    FIT_SPLIT,
    Calibration,
    fit_calibration,
    fold_into,
    sigmoid,
)
from fakeguard.models.checkpoint import load_detector, save_calibration, stored_calibration
from fakeguard.models.detectors import Detector
from fakeguard.robustness.degrade import DegradedSamples
from fakeguard.robustness.suite import TRACKS as SUITE_TRACKS
from fakeguard.scoring.engine import Candidate, TrackInputs
from fakeguard.scoring.inputs import source_images
from fakeguard.scoring.metrics import ECE_BINS, binary_metrics, expected_calibration_error
from fakeguard.scoring.samples import samples_to_score
from fakeguard.scoring.tracks import ALIASES, EvalTrack, parse_track

log = logging.getLogger(__name__)

# What the before/after tables show, in order: (metric key, heading).
REPORTED = (
    ("ece", "ECE"),
    ("brier", "Brier"),
    ("sn34", "sn34"),
    ("auc", "AUC"),
    ("acc", "acc@0.5"),
)
# The calibration group's settings and their checks (evaluate.yaml and calibrate.yaml).
KEYS = ("tracks", "max_samples", "save")


def track_choices() -> list[str]:
    """The names calibration.tracks takes: the suite's tracks and their aliases."""
    return [*SUITE_TRACKS, *ALIASES]


def calibration_tracks(value: Any) -> list[EvalTrack]:
    """calibration.tracks, checked: a non-empty list of suite tracks (attacks are not data a
    deployed model meets as such, and the fit must not depend on an attack's randomness)."""
    names = settings.as_list(value, "calibration.tracks", "track", "[clean,jpeg50,social]")
    choices = track_choices()
    unknown = [n for n in names if n not in choices]
    if unknown:
        raise SettingError(
            f"calibration.tracks: {', '.join(map(repr, unknown))} "
            f"{'is not a suite track' if len(unknown) == 1 else 'are not suite tracks'}; "
            f"choose from {', '.join(choices)}"
        )
    tracks = {}
    for track in map(parse_track, names):
        tracks.setdefault(track.name, track)
    return list(tracks.values())


@dataclass(frozen=True)
class CalibrationSettings:
    """The `calibration` group, checked."""

    tracks: list[EvalTrack]
    max_samples: int | None = None  # a seeded subset of the validation split; None: all
    save: bool = False  # evaluate.py: store the fit in each checkpoint

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tracks]


def calibration_settings(group: Mapping[str, Any] | DictConfig | None) -> CalibrationSettings:
    """The `calibration` group of a config, checked before any checkpoint is read."""
    values = (
        OmegaConf.to_container(group, resolve=True)
        if isinstance(group, DictConfig)
        else dict(group or {})
    )
    settings.group(
        "calibration.",
        values,
        {
            "tracks": lambda _, v: v,
            "max_samples": lambda n, v: settings.optional_whole_number(n, v, 2),
            "save": settings.flag,
        },
    )
    return CalibrationSettings(
        tracks=calibration_tracks(values.get("tracks", ["clean"])),
        max_samples=values.get("max_samples"),
        save=bool(values.get("save", False)),
    )


@torch.inference_mode()
def track_logits(
    detector: Detector,
    image_size: int,
    tracks: Sequence[EvalTrack],
    samples: Sequence[FaceSample],
    degraded: DegradedSamples,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The detector's logits (float64) and the labels of `samples` under each suite track,
    with the evaluation's inputs (`TrackInputs`: the same crops, resize and codec as
    `scoring.engine.score`). Samples a track cannot read or degrade are left out."""
    candidate = Candidate("calibration", "", detector, input_size=image_size)
    inputs = TrackInputs(seed=seed)
    device = next(detector.parameters()).device
    out = {}
    for track in tracks:
        logits, labels = [np.empty(0)], [np.empty(0)]
        for number, start in enumerate(range(0, len(samples), batch_size)):
            batch = samples[start : start + batch_size]
            images = source_images(track.suite, batch, degraded)
            keep = [i for i, image in enumerate(images) if image is not None]
            if not keep:
                continue
            y = torch.tensor([batch[i].label for i in keep], dtype=torch.float32)
            x = inputs(track, candidate, [images[i] for i in keep], y, number).to(device)
            logits.append(detector(x).double().flatten().cpu().numpy())
            labels.append(y.numpy().astype(np.float64))
        out[track.name] = (np.concatenate(logits), np.concatenate(labels))
    return out


def validation_samples(
    datamodule: FaceDataModule, max_samples: int | None, seed: int, where: str
) -> list[FaceSample]:
    """The validation split's samples with a crop (or a seeded subset); a `DataError` when
    they hold only one class, since a calibration needs both."""
    samples, _, _ = samples_to_score(datamodule.split(FIT_SPLIT), max_samples, seed)
    fake = sum(s.label for s in samples)
    if not samples or fake in (0, len(samples)):
        only = "no samples" if not samples else f"only {'fake' if fake else 'real'} samples"
        raise DataError(
            f"cannot fit a calibration for {where}: split {FIT_SPLIT} has {only} "
            f"({len(samples)}, {fake} fake); Platt scaling needs real and fake ones"
        )
    return samples


def fit_checkpoint(
    detector: Detector,
    image_size: int,
    samples: Sequence[FaceSample],
    tracks: Sequence[EvalTrack],
    degraded: DegradedSamples,
    batch_size: int = 32,
    seed: int = 0,
    where: str = "the checkpoint",
) -> tuple[Calibration, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Platt scaling fitted to the pooled logits of `samples` under `tracks`, with the
    per-track logits. `detector` must be the uncalibrated one."""
    logits = track_logits(detector, image_size, tracks, samples, degraded, batch_size, seed)
    z = np.concatenate([v[0] for v in logits.values()])
    y = np.concatenate([v[1] for v in logits.values()])
    try:
        calibration = fit_calibration(z, y, [t.name for t in tracks], FIT_SPLIT)
    except ValueError as error:
        raise DataError(f"cannot fit a calibration for {where}: {error}") from None
    return calibration, logits


def calibration_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """`binary_metrics` plus ECE (15 equal-width bins of P(fake))."""
    metrics = binary_metrics(labels, probs)
    metrics["ece"] = expected_calibration_error(labels, probs, ECE_BINS)
    return metrics


def before_after(
    labels: np.ndarray, logits: np.ndarray, calibration: Calibration
) -> dict[str, dict[str, float]]:
    """Metrics of the uncalibrated P(fake) (`before`) and of the calibrated one (`after`),
    both from the same float64 logits."""
    return {
        "before": calibration_metrics(labels, sigmoid(logits)),
        "after": calibration_metrics(labels, calibration.probs(logits)),
    }


@dataclass
class Fitted:
    """One checkpoint's calibration in an evaluation: the uncalibrated detector, the fit, the
    calibration it replaced (stored in the checkpoint), where it was saved, and before/after
    metrics per track on the validation split (`val`) and on the scored split (`scored`)."""

    name: str
    path: str
    raw: Detector
    image_size: int
    calibration: Calibration
    replaced: Calibration | None = None
    saved: Path | None = None
    val: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    scored: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    # track -> (labels, uncalibrated P(fake), calibrated P(fake)) on the scored split
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What results.json says about this checkpoint's calibration."""
        return {
            "calibration": self.calibration.as_record(),
            "replaced": self.replaced.as_record() if self.replaced else None,
            "saved_to": str(self.saved) if self.saved else None,
            "val": self.val,
            "scored": self.scored,
        }


def calibrate_candidates(
    candidates: Sequence[Candidate],
    datamodule: FaceDataModule,
    degraded: DegradedSamples,
    options: CalibrationSettings,
    batch_size: int,
    seed: int,
) -> list[Fitted]:
    """Fit each checkpoint on the validation split and give its candidate the calibrated
    detector (the rest of the evaluation then scores calibrated P(fake)); store the fit in the
    checkpoint when `options.save`."""
    fitted = []
    for candidate in candidates:
        device = next(candidate.detector.parameters()).device
        raw = load_detector(candidate.path, calibrated=False).to(device)
        samples = validation_samples(datamodule, options.max_samples, seed, candidate.path)
        calibration, logits = fit_checkpoint(
            raw,
            candidate.image_size,
            samples,
            options.tracks,
            degraded,
            batch_size,
            seed,
            candidate.path,
        )
        replaced = getattr(candidate.detector, "calibration", None)
        calibrated = fold_into(copy.deepcopy(raw), calibration)
        calibrated.calibration = calibration
        candidate.detector = calibrated
        saved = save_calibration(candidate.path, calibration) if options.save else None
        fitted.append(
            Fitted(
                candidate.name,
                candidate.path,
                raw,
                candidate.image_size,
                calibration,
                replaced,
                saved,
                val={t: before_after(y, z, calibration) for t, (z, y) in logits.items()},
            )
        )
    return fitted


def score_calibrations(
    fitted: Sequence[Fitted],
    samples: Sequence[FaceSample],
    degraded: DegradedSamples,
    tracks: Sequence[EvalTrack],
    batch_size: int,
    seed: int,
) -> None:
    """Before/after metrics of each fit on the scored split, per calibration track (filled
    into `Fitted.scored` and `Fitted.curves`)."""
    for fit in fitted:
        logits = track_logits(fit.raw, fit.image_size, tracks, samples, degraded, batch_size, seed)
        for track, (z, y) in logits.items():
            if not len(y):
                continue
            fit.scored[track] = before_after(y, z, fit.calibration)
            fit.curves[track] = (y, sigmoid(z), fit.calibration.probs(z))


def before_after_rows(
    entries: Sequence[tuple[str, str, Mapping[str, Mapping[str, float]]]],
) -> tuple[list[str], list[list[str]]]:
    """Head and rows of the before/after table: one row per (checkpoint, track, metrics)."""
    head = ["Checkpoint", "Track", "n"]
    head += [f"{heading} {when}" for _, heading in REPORTED for when in ("before", "after")]
    rows = []
    for name, track, metrics in entries:
        row = [name, track, f"{int(metrics['before']['n'])}"]
        for key, _ in REPORTED:
            row += [_cell(metrics["before"][key]), _cell(metrics["after"][key])]
        rows.append(row)
    return head, rows


def _cell(value: float) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.3f}"


def calibrate(cfg: DictConfig) -> dict[str, float]:
    """`python -m fakeguard.calibrate` (configs/calibrate.yaml): fit one checkpoint on its
    validation split, store the fit in it (or in the copy `out`), print before and after."""
    settings.whole_number("batch_size", cfg.batch_size, 1)
    settings.whole_number("seed", cfg.seed, 0)
    settings.device("device", cfg.device, auto=True)
    options = calibration_settings(cfg.get("calibration"))
    paths = settings.as_list(cfg.ckpt_path)
    if len(paths) != 1:
        raise SettingError(f"ckpt_path takes one checkpoint here, got {len(paths)}: {paths}")
    path = paths[0]
    raw = load_detector(path, calibrated=False).to(pick_device(cfg.device))
    replaced = stored_calibration(path)
    data = evaluation_data(cfg.data, [path])
    log.info("data: %s", data.description)
    for warning in data.warnings:
        log.warning(warning)
    image_size = int(raw.spec["img_size"])
    datamodule: FaceDataModule = instantiate(data.config, image_size=image_size)
    samples = validation_samples(datamodule, options.max_samples, cfg.seed, path)
    degraded = DegradedSamples(cfg.get("cache_dir"))
    calibration, logits = fit_checkpoint(
        raw, image_size, samples, options.tracks, degraded, cfg.batch_size, cfg.seed, path
    )
    written = save_calibration(path, calibration, cfg.get("out"))
    entries = [("val", t, before_after(y, z, calibration)) for t, (z, y) in logits.items()]
    head, rows = before_after_rows(entries)
    print_table(
        "fakeguard calibrate: split val (the fit's own data; evaluate.py calibrate=true "
        "reports on test)",
        head[1:],
        [row[1:] for row in rows],
    )
    print(f"data: {data.description}")
    print(f"fitted: {calibration.describe()}")
    if replaced is not None:
        print(f"replaced: {replaced.describe()}")
    print(f"wrote {written}")
    return {"scale": calibration.scale, "bias": calibration.bias}
