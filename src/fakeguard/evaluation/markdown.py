"""report.md: the robustness-paper table (tracks as rows, checkpoints as column pairs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from fakeguard.attacks.registry import Budgets, Variant, attacks, variant
from fakeguard.robustness.suite import TRACKS as SUITE_TRACKS
from fakeguard.scoring.results import lookup
from fakeguard.scoring.tracks import AFTER, ALIASES, THROUGH, EvalTrack, split_track

LEVELS = {
    "frame": "Frame level",
    "video_mean": "Video level, mean of frames",
    "video_confident": "Video level, confident strategy (DFDC winner)",
}
ATTACKS_NOTE = (
    "Gradient attacks are white box against each checkpoint, black-box ones query its "
    "outputs; the U-Net is a trained attacker (a checkpoint's own, another checkpoint's: a "
    "transfer attack, or one fitted to each checkpoint with attacker=train). All act on the "
    "model input, after the checkpoint's resize."
)
AFTER_NOTE = (
    "Attack + codec tracks attack first, quantise to 8 bits, then compress: an attacker "
    "perturbs, then a platform recompresses. The attack ignores the codec (non-adaptive)."
)
ADAPTIVE_NOTE = (
    "Attack:codec tracks are adaptive: the attack is optimised through the codec's "
    "straight-through stand-in (the real codec forward, a differentiable approximation's "
    "gradient: BPDA; a U-Net is fitted through it), then quantised to 8 bits and compressed "
    "by the real codec."
)

CALIBRATION_NOTE = (
    "Before: the detector's own P(fake); after: sigmoid(a * logit + b), fitted on the "
    "validation split (log loss, Platt's targets) and scored here on the split above. ECE: 15 "
    "equal-width bins of P(fake). AUC stays as it was (the map is monotone) up to ties where "
    "P(fake) rounds to 0 or 1. The tables above score the calibrated detector."
)


def _variant(name: str) -> Variant | None:
    """The attack (at its budget) that `name` names, else None."""
    if name.partition("@")[0] not in attacks():
        return None
    try:
        return variant(name)
    except ValueError:
        return None


def _title(name: str) -> str:
    """A suite track's, an alias's or an attack's own title (with its budget when it is not
    the pinned one: `PGD white box, 4/255`); else the name itself."""
    if name in SUITE_TRACKS:
        return SUITE_TRACKS[name].title or name
    if name in ALIASES:
        return ALIASES[name].title
    found = _variant(name)
    return found.title if found is not None else name


def title(track: str) -> str:
    """A track's row label: `unet+jpeg50` -> `U-Net + JPEG 50`, `pgd@4+jpeg50` ->
    `PGD 4/255 + JPEG 50`, `pgd:jpeg50` -> `PGD through JPEG 50 (adaptive)`."""
    attack, sep, codec = split_track(track)
    if not sep:
        return _title(track)
    found = _variant(attack)
    label = found.label if found is not None else attack
    joined = "{} + {}" if sep == AFTER else "{} through {} (adaptive)"
    return joined.format(label, _title(codec))


def track_notes(tracks: Sequence[EvalTrack], budgets: Budgets | None = None) -> list[str]:
    """What the report says about the tracks of a set, whatever the scores: each attack's
    settings as they ran (`budgets` over the pinned ones) and note (in the set's order), then
    the aliases' and the composites'."""
    used = [variant(name) for name in dict.fromkeys(t.attack for t in tracks if t.is_attack)]
    notes = [f"{v.name}: {v.description(budgets)}." for v in used]
    notes.append(ATTACKS_NOTE)
    bases = dict.fromkeys(v.base for v in used)
    specs = attacks()
    notes += [f"{specs[name].report_note}." for name in bases if specs[name].report_note]
    parts = {part for t in tracks for part in split_track(t.name)}
    notes += [alias.note for name, alias in ALIASES.items() if name in parts]
    seps = {split_track(t.name)[1] for t in tracks}
    notes += [note for sep, note in ((AFTER, AFTER_NOTE), (THROUGH, ADAPTIVE_NOTE)) if sep in seps]
    return notes


@dataclass
class ReportInfo:
    """What the tables need besides the numbers."""

    checkpoints: Sequence[str]
    tracks: Sequence[str]
    header: Sequence[str] = ()  # lines under the title
    checkpoint_rows: Sequence[Sequence[str]] = ()  # name, path, input size, attacker
    samples: dict[str, tuple[int, int]] = field(default_factory=dict)  # track -> scored, skipped
    notes: Sequence[str] = ()
    images: Sequence[tuple[str, str]] = ()  # caption, file name
    attacks: dict[str, str] = field(default_factory=dict)  # each attack as it ran
    sample_budgets: dict[str, int] = field(default_factory=dict)  # track kind -> samples
    curves: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None  # head, rows
    curve_records: Sequence[dict] = ()  # the curve table, for results.json
    # calibrate=true: before/after table (head, rows) and the lines above it (the fits)
    calibration: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None
    calibration_lines: Sequence[str] = ()


def _cell(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: bool = True) -> list[str]:
    """A markdown table; numeric tables right-align every column but the first."""
    align = "---:" if numeric else "---"
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + [align] * (len(head) - 1)) + "|",
    ]
    return lines + ["| " + " | ".join(row) + " |" for row in rows] + [""]


def metric_rows(
    results: pd.DataFrame,
    checkpoints: Sequence[str],
    tracks: Sequence[str],
    level: str,
    metrics: Sequence[tuple[str, str]],
) -> tuple[list[str], list[list[str]]]:
    """Head and rows of a table: tracks as rows, each checkpoint x (metric, heading) as columns."""
    values = lookup(results)
    head = ["Track"] + [f"{c} {heading}" for c in checkpoints for _, heading in metrics]
    rows = [
        [title(track)]
        + [_cell(values.get((c, track, level, m))) for c in checkpoints for m, _ in metrics]
        for track in tracks
    ]
    return head, rows


def metric_table(
    results: pd.DataFrame, info: ReportInfo, level: str, metrics: Sequence[tuple[str, str]]
) -> list[str]:
    return _table(*metric_rows(results, info.checkpoints, info.tracks, level, metrics))


def markdown_report(results: pd.DataFrame, info: ReportInfo) -> str:
    levels = list(dict.fromkeys(results["level"]))
    lines = ["# fakeguard evaluation", "", *info.header, ""]
    if info.checkpoint_rows:
        head = ["Checkpoint", "path", "input", "U-Net attacker"]
        rows = [[name, f"`{path}`", *rest] for name, path, *rest in info.checkpoint_rows]
        lines += _table(head, rows, numeric=False)
    for level, heading in LEVELS.items():
        if level in levels:
            lines += [f"## {heading}", ""]
            lines += metric_table(results, info, level, [("acc", "acc"), ("auc", "AUC")])
    lines += ["## Paired drop in P(correct class) against clean, frame level", ""]
    lines += metric_table(results, info, "frame", [("drop_mean", "mean"), ("drop_p95", "p95")])
    lines += ["## Frame level, more metrics", ""]
    more = [("ap", "AP"), ("eer", "EER"), ("log_loss", "log loss"), ("brier", "Brier")]
    lines += metric_table(results, info, "frame", [*more, ("sn34", "sn34")])
    if info.calibration is not None:
        lines += ["## Calibration: before and after Platt scaling, frame level", ""]
        lines += [*info.calibration_lines, ""]
        lines += _table(*info.calibration)
        lines += [CALIBRATION_NOTE, ""]
    methods = [level for level in levels if level.startswith("method/")]
    if methods:
        lines += ["## Per method, frame-level AUC (real crops against one method's fakes)", ""]
        for method in methods:
            lines += [f"### {method.removeprefix('method/')}", ""]
            lines += metric_table(results, info, method, [("acc", "acc"), ("auc", "AUC")])
    if info.curves is not None:
        lines += ["## Robustness curves: frame-level AUC (acc) against L-inf eps", ""]
        lines += _table(*info.curves)
        lines += [
            "Clean is the eps = 0 point, on the samples the attack tracks scored. Steps scale "
            "with eps; the notes give each attack's settings.",
            "",
        ]
    if info.samples:
        lines += ["## Samples", ""]
        rows = [[title(t), str(n), str(s)] for t, (n, s) in info.samples.items()]
        lines += _table(["Track", "scored", "skipped (unreadable or not degradable)"], rows)
    if info.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in info.notes], ""]
    for caption, name in info.images:
        lines += [f"![{caption}]({name})", ""]
    return "\n".join(lines)
