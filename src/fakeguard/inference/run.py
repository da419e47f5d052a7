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

from fakeguard.data.extract import ExtractSettings
from fakeguard.data.faces import FaceDetector
from fakeguard.errors import DataError, MissingFileError, UserError
from fakeguard.evaluation.report import print_metrics
from fakeguard.evaluation.runner import as_list, pick_device
from fakeguard.evaluation.video import STRATEGIES, video_scores
from fakeguard.inference.ensemble import Ensemble
from fakeguard.inference.faces import FileFaces, file_faces, is_media

log = logging.getLogger(__name__)
COLUMNS = ["path", "prob_fake", "label", "faces", "frames", "frames_sampled", "error"]


def media_files(target: str | Path) -> list[Path]:
    """`target` itself if it is a file, else the images and videos under it (recursively)."""
    path = Path(target).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise MissingFileError(f"input not found: {path}")
    files = sorted(p for p in path.rglob("*") if p.is_file() and is_media(p))
    if not files:
        raise DataError(f"no images or videos under {path}")
    return files


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


def predict(cfg: DictConfig) -> pd.DataFrame:
    """One row per file of `cfg.input`: P(fake) (the ensemble's mean over checkpoints, then the
    file's crops aggregated by `cfg.aggregate`), label at `cfg.threshold`, faces and frames
    used, and the error for files that gave no face. Writes `cfg.out` (CSV)."""
    if cfg.aggregate not in STRATEGIES:
        raise UserError(f"aggregate={cfg.aggregate} is not one of {', '.join(STRATEGIES)}")
    if not 0 <= cfg.threshold <= 1:
        raise UserError(f"threshold={cfg.threshold} must lie in [0, 1]")
    files = media_files(cfg.input)
    device = pick_device(cfg.device)
    ensemble = Ensemble.from_checkpoints(as_list(cfg.ckpt_path), device, cfg.batch_size)
    detector = FaceDetector(**cfg.detector)
    settings = ExtractSettings(**cfg.extract)

    rows, probs = [], []
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("predict", total=len(files))
        for path in files:
            try:
                row, found = score_file(file_faces(path, detector, settings), ensemble)
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
    out = Path(cfg.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
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
