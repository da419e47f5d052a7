"""Binary detection metrics on P(fake) scores (numpy only, label 1 = fake)."""

from __future__ import annotations

import numpy as np

EPS = 1e-7


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(labels)[last_of_tie]
    fps = last_of_tie + 1 - tps
    return np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Step-wise area under the precision-recall curve (as scikit-learn and torchmetrics)."""
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(labels)[last_of_tie]
    precision = tps / (last_of_tie + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def equal_error_rate(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """The rate where false positives and false negatives are equal (linear interpolation)."""
    fnr = 1.0 - tpr
    diff = fnr - fpr
    i = int(np.flatnonzero(diff <= 0)[0])
    if i == 0 or diff[i] == 0:
        return float(fpr[i])
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def matthews(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Matthews correlation of 0/1 predictions; 0 when its denominator is 0."""
    tp = float(np.sum((predicted == 1) & (labels == 1)))
    tn = float(np.sum((predicted == 0) & (labels == 0)))
    fp = float(np.sum((predicted == 1) & (labels == 0)))
    fn = float(np.sum((predicted == 0) & (labels == 1)))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denominator) if denominator > 0 else 0.0


def sn34(mcc: float, brier: float) -> float:
    """BitMind's subnet-34 score: rewards correct decisions (MCC) and calibration (Brier)."""
    mcc_norm = min(max((mcc + 1) / 2, 0.0), 1.0) ** 1.2
    brier_score = max(0.0, (0.25 - brier) / 0.25) ** 1.8
    return float(min(max(np.sqrt(max(1e-12, mcc_norm * brier_score)), 0.0), 1.0))


def binary_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Accuracy at 0.5, ROC AUC, AP, EER, log loss, Brier score, MCC and sn34.

    Probabilities are clipped to [1e-7, 1 - 1e-7] for log loss and Brier, as sn34 defines it.

    Ranking metrics (auc, ap, eer) are NaN when only one class is present.
    """
    labels = np.asarray(labels, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    if labels.shape != probs.shape or labels.ndim != 1 or not len(labels):
        raise ValueError(f"need equal, non-empty 1-d arrays; got {labels.shape}, {probs.shape}")
    clipped = np.clip(probs, EPS, 1 - EPS)
    metrics = {
        "acc": float(np.mean((probs > 0.5) == (labels == 1))),
        "auc": float("nan"),
        "ap": float("nan"),
        "eer": float("nan"),
        "log_loss": float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))),
        "brier": float(np.mean((clipped - labels) ** 2)),
        "mcc": matthews(labels, (probs > 0.5).astype(np.float64)),
        "n": float(len(labels)),
    }
    metrics["sn34"] = sn34(metrics["mcc"], metrics["brier"])
    if 0 < labels.sum() < len(labels):
        fpr, tpr = roc_curve(labels, probs)
        metrics.update(
            auc=float(np.trapezoid(tpr, fpr)),
            ap=average_precision(labels, probs),
            eer=equal_error_rate(fpr, tpr),
        )
    return metrics


ECE_BINS = 15  # equal-width bins of P(fake) for ECE and the reliability diagram


def reliability_bins(
    labels: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS
) -> dict[str, np.ndarray]:
    """P(fake) in `bins` equal-width bins of [0, 1] (the last one closed): each bin's `count`,
    `mean_prob` (mean P(fake)) and `frac_fake` (fraction of label 1), NaN where a bin is empty,
    and the `edges`. What a reliability diagram draws and ECE sums."""
    labels = np.asarray(labels, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    if labels.shape != probs.shape or labels.ndim != 1 or not len(labels):
        raise ValueError(f"need equal, non-empty 1-d arrays; got {labels.shape}, {probs.shape}")
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins={bins} must be a whole number >= 1")
    which = np.clip(np.floor(probs * bins).astype(np.int64), 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.bincount(which, weights=probs, minlength=bins) / count
        frac_fake = np.bincount(which, weights=labels, minlength=bins) / count
    return {
        "edges": np.linspace(0.0, 1.0, bins + 1),
        "count": count,
        "mean_prob": mean_prob,
        "frac_fake": frac_fake,
    }


def expected_calibration_error(
    labels: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE of P(fake): sum over equal-width bins of (bin share) x |mean P(fake) - fraction
    fake|. Binned on P(fake) itself (the reliability diagram of the score a harness reads),
    not on max(p, 1 - p)."""
    table = reliability_bins(labels, probs, bins)
    used = table["count"] > 0
    share = table["count"][used] / table["count"].sum()
    gap = np.abs(table["mean_prob"][used] - table["frac_fake"][used])
    return float(np.sum(share * gap))


def paired_drop(labels: np.ndarray, clean: np.ndarray, degraded: np.ndarray) -> np.ndarray:
    """Per-sample drop in P(correct class) from the clean pass to the degraded one."""
    labels = np.asarray(labels)
    correct = np.where(labels == 1, clean, 1 - clean)
    return correct - np.where(labels == 1, degraded, 1 - degraded)


def drop_summary(labels: np.ndarray, clean: np.ndarray, degraded: np.ndarray) -> dict[str, float]:
    """The mean and 95th percentile of `paired_drop`: how much a track costs the typical and
    the worst-hit samples."""
    drop = paired_drop(labels, np.asarray(clean), np.asarray(degraded))
    return {"drop_mean": float(drop.mean()), "drop_p95": float(np.percentile(drop, 95))}
