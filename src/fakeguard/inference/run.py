"""`predict(cfg)`: what `python -m fakeguard.predict` runs (configs/predict.yaml)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from rich.console import Console
from rich.progress import Progress

from fakeguard import settings, walk
from fakeguard.console import print_metrics
from fakeguard.data.extract import ExtractSettings, check_face_settings
from fakeguard.data.faces import FaceDetector
from fakeguard.devices import pick_device
from fakeguard.errors import DataError, MissingFileError, UserError
from fakeguard.files import write_atomically
from fakeguard.inference.ensemble import Ensemble
from fakeguard.inference.faces import FileFaces, file_faces, is_media
from fakeguard.scoring.video import STRATEGIES, video_scores

log = logging.getLogger(__name__)
COLUMNS = ["path", "prob_fake", "label", "faces", "frames", "frames_sampled", "error"]


def input_entries(target: str | Path) -> list[tuple[Path, str]]:
    """(path, note) for `target` itself if it is no folder, else for every entry under it
    (`fakeguard.walk.entries`: links to folders followed once), so each gets a row: media,
    other files, hidden ones, broken symlinks, FIFOs (`file_faces` says what is wrong with a
    file), symlink loops."""
    path = Path(target).expanduser()
    if not path.is_dir():
        if not (path.exists() or path.is_symlink()):
            raise MissingFileError(f"input not found: {path}")
        return [(path, "")]
    rows = walk.entries(path)
    if not any(is_media(p) for p, _ in rows):
        found = f"{len(rows)} other entries" if rows else "it is empty"
        raise DataError(f"no images or videos under {path} ({found})")
    return rows


def score_file(faces: FileFaces, ensemble: Ensemble) -> tuple[dict, np.ndarray]:
    """The file's row (without its score) and the P(fake) of each of its crops."""
    probs = ensemble.predict(faces.crops) if faces.crops else np.empty(0)
    row = {
        "path": faces.path,
        "faces": len(faces.crops),
        "frames": len(set(faces.frames)),
        "frames_sampled": faces.frames_sampled,
        "error": faces.error,
    }
    return row, probs


def aggregate(rows: Sequence[dict], probs: Sequence[np.ndarray], strategy: str) -> dict[str, float]:
    """Each file's P(fake) from its crops' by `strategy` (files without crops are left out)."""
    crops = pd.DataFrame(
        {
            "video_id": np.repeat([r["path"] for r in rows], [len(p) for p in probs]),
            "prob": np.concatenate([np.empty(0), *probs]),
            "label": 0,  # video_scores carries labels through; none are known here
        }
    )
    if crops.empty:
        return {}
    scores = video_scores(crops, strategy)
    return dict(zip(scores["video_id"], scores["prob"], strict=True))


def check_settings(cfg: DictConfig) -> None:
    """Every predict setting, before any input is listed or checkpoint read: one
    `SettingError` naming it (predict.yaml)."""
    settings.number_in("threshold", cfg.threshold, 0.0, 1.0)
    settings.one_of("aggregate", cfg.aggregate, STRATEGIES)
    settings.whole_number("batch_size", cfg.batch_size, 1)
    settings.device("device", cfg.device, auto=True)
    check_face_settings(cfg)


def predict(cfg: DictConfig) -> pd.DataFrame:
    """One row per file of `cfg.input` (every entry under a folder, media or not): P(fake) (the
    ensemble's mean over checkpoints, then the file's crops aggregated by `cfg.aggregate`),
    label at `cfg.threshold`, faces and frames used, and in `error` why a file has no score
    (or, for a scored video cut short, how many frames it had). Writes `cfg.out` (CSV)."""
    check_settings(cfg)
    checkpoints = settings.as_list(cfg.ckpt_path)
    out = Path(cfg.out).expanduser()
    if out.is_dir():
        raise UserError(f"out={out} is a folder; name the CSV, e.g. out={out / 'predictions.csv'}")
    entries = input_entries(cfg.input)
    device = pick_device(cfg.device)
    ensemble = Ensemble.from_checkpoints(checkpoints, device, cfg.batch_size)
    extract = FaceDetector(**cfg.detector), ExtractSettings(**cfg.extract)

    rows, probs = [], []
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("predict", total=len(entries))
        for path, note in entries:
            try:
                faces = FileFaces(str(path), error=note) if note else file_faces(path, *extract)
                row, found = score_file(faces, ensemble)
            except Exception as error:  # one bad file must never stop the others
                log.exception("prediction failed for %s", path)
                row, found = {"path": str(path), "error": f"{type(error).__name__}: {error}"}, []
            rows.append(row)
            probs.append(np.asarray(found, dtype=np.float64))
            progress.advance(task)

    table = pd.DataFrame(rows)
    table["prob_fake"] = table["path"].map(aggregate(rows, probs, cfg.aggregate))
    table["label"] = pd.array(
        [pd.NA if np.isnan(p) else int(p >= cfg.threshold) for p in table["prob_fake"]],
        dtype="Int64",
    )
    table = table.reindex(columns=COLUMNS)
    table[["faces", "frames", "frames_sampled"]] = (
        table[["faces", "frames", "frames_sampled"]].fillna(0).astype(int)
    )
    table["error"] = table["error"].fillna("")
    write_atomically(out, lambda tmp: table.to_csv(tmp, index=False))
    scored = table["prob_fake"].notna()
    print_metrics(
        "fakeguard predict",
        {
            "files": len(table),
            "scored": int(scored.sum()),
            "errors": int((~scored).sum()),
            f"fake at {cfg.threshold:g}": int(table["label"].sum()),
        },
        {"checkpoints": str(len(ensemble.detectors)), "predictions": str(out)},
    )
    return table
