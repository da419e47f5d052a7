"""`evaluate(cfg)`: checkpoints x tracks on one split, with tables, files and plots.

python evaluate.py ckpt_path=[a.ckpt,b.ckpt] tracks=paper [data=...] [split=test]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fakeguard import settings
from fakeguard.attacks.registry import Budgets, describe
from fakeguard.console import print_table
from fakeguard.data.datamodule import FaceDataModule
from fakeguard.data.samples import FaceSample
from fakeguard.data.splits import SPLITS
from fakeguard.devices import pick_device
from fakeguard.errors import DataError, UserError
from fakeguard.evaluation import gradcam
from fakeguard.evaluation.attacker_fit import check_fit_settings, fit_attackers
from fakeguard.evaluation.attacks import load_attacker
from fakeguard.evaluation.budgets import attack_budgets, configured_attacks, score_tracks
from fakeguard.evaluation.calibration import (
    REPORTED,
    CalibrationSettings,
    Fitted,
    before_after_rows,
    calibrate_candidates,
    calibration_settings,
    score_calibrations,
)
from fakeguard.evaluation.curves import curve_plan, curve_rows, curve_tracks
from fakeguard.evaluation.data import EvaluationData, evaluation_data
from fakeguard.evaluation.markdown import ReportInfo, markdown_report, metric_rows, track_notes
from fakeguard.evaluation.masking import report_lines
from fakeguard.files import write_json
from fakeguard.instantiate import instantiate_group
from fakeguard.loggers import log_evaluation
from fakeguard.models.checkpoint import load_detector
from fakeguard.robustness.degrade import DegradedSamples
from fakeguard.robustness.suite import SUITE_VERSION
from fakeguard.scoring.engine import Candidate, Scores, TrackInputs
from fakeguard.scoring.inputs import source_images
from fakeguard.scoring.plots import (
    auc_bars,
    auc_vs_eps,
    reliability_diagram,
    roc_plot,
    safe_name,
)
from fakeguard.scoring.results import has_videos, results_table, robustness_curves
from fakeguard.scoring.samples import samples_to_score
from fakeguard.scoring.tracks import EvalTrack, parse_track, parse_tracks

log = logging.getLogger(__name__)

# attacker=train: fit a U-Net to each checkpoint (evaluation.attacker_fit)
FIT = "train"


def eot_settings(cfg: DictConfig) -> dict | None:
    """The EOT platform distribution (the `eot` group) for attacks through `eot`."""
    return OmegaConf.to_container(cfg.eot, resolve=True) if cfg.get("eot") else None


def check_split(split: str, allow_train_split: bool) -> str:
    """The split to score; the training split only when asked for explicitly."""
    if split not in SPLITS:
        raise UserError(f"split={split} is not a split: choose from {', '.join(SPLITS)}")
    if split == "train" and not allow_train_split:
        raise UserError(
            "split=train scores the data the model was fitted on, which says nothing about "
            "new data; add allow_train_split=true if that is really what you want"
        )
    return split


def check_settings(cfg: DictConfig) -> None:
    """evaluate.yaml's numeric settings, before any checkpoint is read (the data's own are
    checked when the DataModule is built)."""
    settings.whole_number("batch_size", cfg.batch_size, 1)
    settings.optional_whole_number("max_samples", cfg.get("max_samples"), 1)
    settings.optional_whole_number("attack_samples", cfg.get("attack_samples"), 1)
    settings.whole_number("seed", cfg.seed, 0)
    settings.optional_whole_number("gradcam.samples", cfg.gradcam.samples, 0)
    settings.device("device", cfg.device, auto=True)
    if cfg.get("attacker") == FIT:
        check_fit_settings(cfg.attacker_fit)
    if settings.flag("calibrate", cfg.get("calibrate", False)):
        calibration_settings(cfg.get("calibration"))


def checkpoint_names(paths: Sequence[str], names: Sequence[str] | None) -> list[str]:
    """Column labels: `names` if given, else each run's folder (or the file's stem), unique."""
    if names is not None:
        names = settings.as_list(names, "ckpt_names", "name", "[a,b]")
        if len(names) != len(paths) or len(set(names)) != len(names):
            raise UserError(f"ckpt_names needs {len(paths)} distinct names, got {names}")
        return names
    derived = []
    for path in map(Path, paths):
        name = path.parent.parent.name if path.parent.name == "checkpoints" else path.stem
        derived.append(name or path.stem)
    return [n if derived.count(n) == 1 else f"{n}#{i + 1}" for i, n in enumerate(derived)]


def load_candidates(
    paths: Sequence[str], names: Sequence[str], attacker: str | None, device: torch.device
) -> list[Candidate]:
    """Detectors with their U-Net attackers: `attacker`'s for all, or each checkpoint's own
    (`attacker=train`: none yet; `fit_attackers` fits them)."""
    shared = None
    if attacker == FIT:
        attacker = None
    if attacker:
        shared = load_attacker(attacker)
        if shared is None:
            raise UserError(
                f"attacker={attacker} holds no U-Net attacker (train with attack=pgd_unet)"
            )
    candidates = []
    for path, name in zip(paths, names, strict=True):
        detector = load_detector(path).to(device)
        own = None if shared is not None else load_attacker(path)
        source = attacker if shared is not None else ("own" if own is not None else "")
        candidates.append(Candidate(name, path, detector, shared or own, source))
    return candidates


def split_samples(
    datamodule: FaceDataModule, split: str, max_samples: int | None, seed: int
) -> tuple[list[FaceSample], list[int], list[str]]:
    """The split's samples with a crop file (or a seeded subset of `max_samples`), their
    places in the split, and the crop files that are missing."""
    samples, ids, missing = samples_to_score(datamodule.split(split), max_samples, seed)
    if not ids:
        raise DataError(f"split {split} has no sample to evaluate")
    return samples, ids, missing


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Score every checkpoint of `cfg.ckpt_path` on every track of `cfg.tracks` and write
    results.json, results.csv, predictions.csv, report.md and plots to the run folder."""
    split = check_split(cfg.split, cfg.get("allow_train_split", False))
    check_settings(cfg)
    calibrating = calibration_settings(cfg.get("calibration")) if cfg.get("calibrate") else None
    paths = settings.as_list(cfg.ckpt_path)
    budgets = attack_budgets(cfg.get("attack_budgets"))
    plan = curve_plan(cfg.get("curves"))  # robustness curves: more attack tracks
    try:
        tracks = parse_tracks([*cfg.tracks.names, *curve_tracks(plan)])
        panels = panel_track(tracks, cfg.gradcam.track)
    except ValueError as error:
        raise UserError(str(error)) from None
    names = checkpoint_names(paths, cfg.get("ckpt_names"))
    candidates = load_candidates(paths, names, cfg.get("attacker"), pick_device(cfg.device))
    for c in candidates:
        log.info("%s: %s at %d px, attacker %s", c.name, c.path, c.image_size, c.attacker_source)
    data = evaluation_data(cfg.data, paths)
    log.info("data: %s", data.description)
    for warning in data.warnings:
        log.warning(warning)
    # Demo data is rendered at the model size; every checkpoint then resizes the same crops.
    datamodule: FaceDataModule = instantiate(data.config, image_size=candidates[0].image_size)
    samples, ids, missing = split_samples(datamodule, split, cfg.get("max_samples"), cfg.seed)
    degraded = DegradedSamples(cfg.get("cache_dir"))
    attacks = configured_attacks(tracks, budgets)
    eot = eot_settings(cfg)
    # calibrate=true: each checkpoint fitted on val, then scored calibrated (before fitting
    # U-Nets, which then attack the detector as it is scored)
    fitted = []
    if calibrating is not None:
        fitted = calibrate_candidates(
            candidates, datamodule, degraded, calibrating, cfg.batch_size, cfg.seed
        )
    fits = []
    if cfg.get("attacker") == FIT:
        fits = fit_attackers(candidates, tracks, datamodule, cfg.attacker_fit, eot, cfg.seed)
    with _progress() as progress:
        # suite tracks on every sample, attack tracks on attack_samples of them
        scores, attacked = score_tracks(
            candidates,
            tracks,
            samples,
            ids,
            degraded,
            cfg.batch_size,
            cfg.seed,
            progress,
            attacks,
            cfg.get("attack_samples"),
            eot,
        )
    if scores.predictions.empty:
        raise DataError("no sample could be scored on any track")
    if calibrating is not None:
        score_calibrations(fitted, samples, degraded, calibrating.tracks, cfg.batch_size, cfg.seed)
    results = results_table(scores.predictions)

    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    scores.predictions.to_csv(out / "predictions.csv", index=False)
    results.to_csv(out / "results.csv", index=False)
    curves = robustness_curves(scores.predictions, names, plan) if plan else None
    if curves is not None:
        curves.to_csv(out / "curves.csv", index=False)
    info = _report_info(
        cfg, split, candidates, tracks, samples, missing, scores, degraded, data, budgets
    )
    _attack_info(info, tracks, budgets, attacked, len(samples), curves, names, plan)
    _calibration_info(info, candidates, fitted, calibrating)
    flags, masking_notes = report_lines(results, [t.name for t in tracks])
    info.header = [*info.header, *(f"**Warning.** {flag}." for flag in flags)]
    info.notes = [*info.notes, *fits, *masking_notes]
    for flag in flags:
        log.warning(flag)
    images = _plots(cfg, out, scores.predictions, results, names, [t.name for t in tracks])
    if curves is not None and cfg.get("plots", True):
        images += [("AUC against eps", p.name) for p in [auc_vs_eps(curves, out / CURVE_PLOT)] if p]
    images += _gradcam(cfg, out, candidates, panels, samples, degraded, budgets)
    images += _reliability(cfg, out, fitted)
    info.images = images
    (out / "report.md").write_text(markdown_report(results, info))
    payload = _payload(split, info, scores, results, tracks, missing, data)
    payload["calibration"] = _calibration_payload(candidates, fitted, calibrating)
    write_json(out / "results.json", {**payload, "gradient_masking": flags})

    head, rows = metric_rows(results, names, info.tracks, "frame", [("acc", "acc"), ("auc", "AUC")])
    print_table(f"fakeguard evaluate: {split}, frame level", head, rows)
    if info.curves is not None:
        print_table("robustness curves: frame-level AUC (acc) against L-inf eps", *info.curves)
    if info.calibration is not None:
        print_table(f"calibration: {split}, frame level, before -> after", *info.calibration)
    Console().print(f"results: {out}", soft_wrap=True)
    metrics = {
        f"{c}/{t}/{level}/{m}": float(v)
        for c, t, level, m, v in results.itertuples(index=False, name=None)
    }
    metrics.update(calibration_metrics(fitted))
    plots = {caption: out / name for caption, name in images}
    log_evaluation(instantiate_group(cfg.get("logger")), cfg, metrics, results, plots)
    return metrics


def _report_info(
    cfg: DictConfig,
    split: str,
    candidates: Sequence[Candidate],
    tracks: Sequence[EvalTrack],
    samples: Sequence[FaceSample],
    missing: Sequence[str],
    scores: Scores,
    degraded: DegradedSamples,
    data: EvaluationData,
    budgets: Budgets,
) -> ReportInfo:
    predictions = scores.predictions
    scored = predictions.groupby("track")["index"].nunique().to_dict()
    header = [
        f"Split `{split}` of {data.description}: {len(samples)} samples "
        f"({sum(s.label for s in samples)} fake); {len(missing)} missing crop files skipped. "
        f"Robustness suite {SUITE_VERSION}.",
        *(f"**Warning.** {w}" for w in data.warnings),
    ]
    if split == "train":
        header.append(
            "**Training split** (allow_train_split=true): this measures fit, not generalisation."
        )
    # the attacks' (from the registry, as they ran), aliases' and composites'
    notes = track_notes(tracks, budgets)
    for t in tracks:
        if not t.is_attack and t.suite != "clean":
            notes.append(f"Track {t.name} applied as {degraded.modes(t.suite, samples)}.")
    for checkpoint, reasons in scores.unavailable.items():
        for reason in dict.fromkeys(reasons.values()):
            which = ", ".join(t for t, r in reasons.items() if r == reason)
            notes.append(f"{checkpoint} not scored on {which}: {reason}.")
    if not has_videos(predictions):
        notes.append("Video level omitted: the samples carry no video ids.")
    notes.append("Clean is always scored: the paired drops are measured against it.")
    return ReportInfo(
        checkpoints=[c.name for c in candidates],
        tracks=[t.name for t in tracks],
        header=header,
        checkpoint_rows=[
            [c.name, c.path, f"{c.image_size} px", c.attacker_source or "none"] for c in candidates
        ],
        samples={
            t.name: (int(scored.get(t.name, 0)), scores.skipped_samples.get(t.name, 0))
            for t in tracks
        },
        notes=notes,
    )


CURVE_PLOT = "auc_vs_eps.png"
RELIABILITY_PLOT = "reliability.png"


def _calibration_info(
    info: ReportInfo,
    candidates: Sequence[Candidate],
    fitted: Sequence[Fitted],
    calibrating: CalibrationSettings | None,
) -> None:
    """What the report says about calibration: the stored calibrations it applied, or the fits
    of calibrate=true with their before/after table."""
    if calibrating is None:
        applied = [(c.name, getattr(c.detector, "calibration", None)) for c in candidates]
        info.header = [
            *info.header,
            *(
                f"**Calibrated.** `{name}` carries a calibration, applied to every score here: "
                f"{calibration.describe()}."
                for name, calibration in applied
                if calibration is not None
            ),
        ]
        return
    lines = []
    for fit in fitted:
        line = f"- `{fit.name}`: {fit.calibration.describe()}"
        if fit.replaced is not None:
            line += f"; replaces the stored one ({fit.replaced.describe()})"
        if fit.saved is not None:
            line += f"; saved in `{fit.saved}`"
        else:
            line += "; not saved (calibration.save=true stores it in the checkpoint)"
        lines.append(line + ".")
    entries = [(f.name, t, m) for f in fitted for t, m in f.scored.items()]
    info.calibration = before_after_rows(entries)
    info.calibration_lines = lines
    info.header = [
        *info.header,
        f"**Calibrated** (calibrate=true): every checkpoint is fitted on split val, tracks "
        f"{', '.join(calibrating.names)}, and scored calibrated; see Calibration.",
    ]


def _calibration_payload(
    candidates: Sequence[Candidate],
    fitted: Sequence[Fitted],
    calibrating: CalibrationSettings | None,
) -> dict:
    """results.json's `calibration`: per checkpoint the calibration applied to its scores,
    and with calibrate=true the fit and its before/after metrics (val and the scored split)."""
    fits = {f.name: f for f in fitted}
    checkpoints = {}
    for c in candidates:
        applied = getattr(c.detector, "calibration", None)
        entry = {"applied": applied.as_record() if applied is not None else None}
        if c.name in fits:
            entry.update(fits[c.name].record())
        checkpoints[c.name] = entry
    return {
        "fitted": calibrating is not None,
        "tracks": calibrating.names if calibrating is not None else [],
        "checkpoints": checkpoints,
    }


def calibration_metrics(fitted: Sequence[Fitted]) -> dict[str, float]:
    """`<checkpoint>/<track>/calibration/<metric>_<before|after>` for the loggers."""
    return {
        f"{fit.name}/{track}/calibration/{key}_{when}": float(values[when][key])
        for fit in fitted
        for track, values in fit.scored.items()
        for key, _ in REPORTED
        for when in ("before", "after")
    }


def _reliability(cfg: DictConfig, out: Path, fitted: Sequence[Fitted]) -> list[tuple[str, str]]:
    """reliability.png: one panel per checkpoint and calibration track, before vs after."""
    if not cfg.get("plots", True) or not fitted:
        return []
    panels = [
        (f"{fit.name}: {track}", *curve) for fit in fitted for track, curve in fit.curves.items()
    ]
    path = reliability_diagram(panels, out / RELIABILITY_PLOT)
    return [("Reliability before and after calibration", path.name)] if path else []


def _attack_info(
    info: ReportInfo,
    tracks: Sequence[EvalTrack],
    budgets: dict[str, dict[str, int]],
    attacked: int,
    count: int,
    curves: pd.DataFrame | None,
    names: Sequence[str],
    plan: dict[str, dict[float, str]],
) -> None:
    """What the report and results.json say about the attacks: what ran, on how many
    samples, and the robustness curves."""
    used = list(dict.fromkeys(t.attack for t in tracks if t.attack is not None))
    info.attacks = {**describe(budgets), **describe(budgets, used)}
    info.sample_budgets = {"suite_tracks": count, "attack_tracks": attacked if used else 0}
    if used and attacked < count:
        info.header = [
            *info.header,
            f"Attack tracks score a seeded subset of {attacked} of these {count} samples "
            f"(attack_samples={attacked}); their paired drops are against clean on the same "
            "samples.",
        ]
    if curves is not None:
        info.curves = curve_rows(curves, names, plan)
        info.curve_records = curves.to_dict(orient="records")


def _plots(
    cfg: DictConfig,
    out: Path,
    predictions: pd.DataFrame,
    results: pd.DataFrame,
    names: Sequence[str],
    tracks: Sequence[str],
) -> list[tuple[str, str]]:
    if not cfg.get("plots", True):
        return []
    images = [("AUC per track", auc_bars(results, names, tracks, out / "auc_per_track.png").name)]
    for track in tracks:
        path = roc_plot(predictions, track, out / f"roc_{safe_name(track)}.png")
        if path is not None:
            images.append((f"ROC {track}", path.name))
    return images


def panel_track(tracks: Sequence[EvalTrack], wanted: str | None) -> EvalTrack | None:
    """The track the Grad-CAM panels set against clean: `wanted` (any track name), else the
    set's first attack track, else its first other track; None when there is only clean."""
    if wanted:
        return parse_track(wanted)
    others = sorted((t for t in tracks if t.name != "clean"), key=lambda t: not t.is_attack)
    return others[0] if others else None


def _gradcam(
    cfg: DictConfig,
    out: Path,
    candidates: Sequence[Candidate],
    track: EvalTrack | None,
    samples: Sequence[FaceSample],
    degraded: DegradedSamples,
    budgets: Budgets,
) -> list[tuple[str, str]]:
    """Panels of a few fixed samples, clean against `track`, one per checkpoint."""
    if not cfg.gradcam.samples or track is None:
        return []
    clean = parse_track("clean")
    picked = [
        samples[i] for i in gradcam.panel_samples([s.label for s in samples], cfg.gradcam.samples)
    ]
    sources = {t.suite: source_images(t.suite, picked, degraded) for t in (clean, track)}
    keep = [i for i in range(len(picked)) if all(v[i] is not None for v in sources.values())]
    labels = torch.tensor([picked[i].label for i in keep], dtype=torch.float32)
    attacks = configured_attacks([track], budgets)
    inputs = TrackInputs(seed=cfg.seed, attacks=attacks, eot=eot_settings(cfg))
    images = []
    for c in candidates:
        if not keep or inputs.unavailable(track, c):
            continue
        columns = [
            (t.name, inputs(t, c, [sources[t.suite][i] for i in keep], labels))
            for t in (clean, track)
        ]
        path = out / f"gradcam_{safe_name(c.name)}.png"
        gradcam.panel(c.detector, columns, labels.int().tolist(), path, f"{c.name}: Grad-CAM")
        images.append((f"Grad-CAM {c.name}, clean vs {track.name}", path.name))
    return images


def _payload(
    split: str,
    info: ReportInfo,
    scores: Scores,
    results: pd.DataFrame,
    tracks: Sequence[EvalTrack],
    missing: Sequence[str],
    data: EvaluationData,
) -> dict:
    return {
        "suite_version": SUITE_VERSION,
        "split": split,
        "data": {"config": data.config, "source": data.source, "warnings": data.warnings},
        "checkpoints": [
            dict(zip(["name", "path", "input", "attacker"], row, strict=True))
            for row in info.checkpoint_rows
        ],
        "tracks": [vars(t) for t in tracks],
        "samples": {t: {"scored": n, "skipped": s} for t, (n, s) in info.samples.items()},
        "missing_crops": {"count": len(missing), "paths": list(missing)[:100]},
        "unavailable": scores.unavailable,
        "attacks": info.attacks,
        "sample_budgets": info.sample_budgets,
        "curves": list(info.curve_records),
        "notes": list(info.notes),
        "timings_s": scores.timings.as_dict(),
        "results": results.to_dict(orient="records"),
    }
