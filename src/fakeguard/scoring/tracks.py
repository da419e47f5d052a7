"""Evaluation tracks: the pinned suite's degradations, attacks, and attack-then-compress.

A track name is one of:

- a suite v1 track (`clean`, `jpeg50`, `social`, `h264_c23`, `h264_c40`), applied as the suite
  applies it: to the source frame or video where the manifest knows it, else to the crop;
- `h264-like`, an alias of the suite's `h264_c23` (libx264 CRF 23, FF++ c23; never MPEG-4
  Part 2);
- an attack of the registry `fakeguard.attacks.registry` (`pgd`, `pgd-strong`, `apgd-ce`,
  `unet`, ...) on the model input, after its resize;
- `<attack>@<eps>`, a white-box attack at another L-inf budget, eps in 255ths (`pgd@4`,
  `apgd-ce@4`, `pgd@0.5`), its step sizes scaled with eps; `pgd@8` is `pgd` (the track is
  named `pgd`, and scored once). A trained attacker (`unet`) takes no `@`;
- `<attack>+<suite track>` (e.g. `unet+jpeg50`, `pgd@4+jpeg50`): the attack, then the suite
  track's codec on the attacked model input. An attacker perturbs, then a platform
  recompresses; the attacked image is quantised to 8 bits first, as a saved file would be. An
  H.264 track encodes the attacked crop as a one-frame clip (there is no video left to encode).
  The attack ignores the codec: a non-adaptive track.
- `<attack>:<suite track>` (e.g. `pgd:jpeg50`, `apgd-ce:social`, `unet:h264_c23`): adaptive.
  The attack is optimised through the codec's differentiable stand-in (straight-through:
  the real codec forward, the approximation's gradient; `fakeguard.robustness.standins`), or,
  for `unet`, by a U-Net fitted through it (evaluate.py `attacker=train`); then the real codec
  is applied as in `<attack>+<suite track>`. An attacker who knows the platform recompresses.
  Written with `:`, not `>`: Hydra's override grammar refuses `>` unquoted, and a shell would
  read it as a redirection.
- An attack registered with a platform of its own (`pgd-eot`, through the EOT distribution
  of evaluate.yaml's `eot` group) goes through it alone and after `+` (`pgd-eot+jpeg50`); it
  takes no `:`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from fakeguard.attacks.registry import attacks, variant
from fakeguard.errors import UserError
from fakeguard.robustness.suite import TRACKS as SUITE_TRACKS

log = logging.getLogger(__name__)


# `<attack>+<codec>`: compressed after the attack; `<attack>:<codec>`: attacked through it.
AFTER, THROUGH = "+", ":"


def split_track(name: str) -> tuple[str, str, str]:
    """(attack, separator, codec): `pgd@4:jpeg50` -> (`pgd@4`, `:`, `jpeg50`); a name with
    neither separator -> (name, "", "")."""
    sep = next((c for c in (AFTER, THROUGH) if c in name), "")
    return tuple(name.partition(sep)) if sep else (name, "", "")


@dataclass(frozen=True)
class Alias:
    """Another name of a suite track: its report title and the note the report adds."""

    suite: str
    title: str
    note: str


ALIASES = {
    "h264-like": Alias(
        "h264_c23",
        "H.264-like",
        "H.264-like is suite v1's h264_c23 (libx264 CRF 23, as FF++ c23). Alone it is applied "
        "as the suite applies it (whole source frame or video where known, else the crop); "
        "after an attack it encodes the attacked model input as a one-frame clip.",
    ),
}


@dataclass(frozen=True)
class EvalTrack:
    """`suite` degrades the source crop (cached, shared by every checkpoint); `attack` then
    perturbs the model input of each checkpoint, optimised `through` a platform (a suite
    codec's stand-in or `eot`; None: the model input itself); `after` is a suite codec on the
    result."""

    name: str
    suite: str = "clean"
    attack: str | None = None
    after: str | None = None
    through: str | None = None

    @property
    def is_attack(self) -> bool:
        return self.attack is not None


def _suite_name(name: str) -> str | None:
    name = ALIASES[name].suite if name in ALIASES else name
    return name if name in SUITE_TRACKS else None


def _attack_name(name: str) -> str | None:
    """`name` as a canonical attack name (`pgd@8` -> `pgd`), None when it names no attack;
    a ValueError when it names one at a budget it cannot take (`unet@4`, `pgd@-1`)."""
    base = name.partition("@")[0]
    if base not in attacks():
        return None
    return variant(name).name


def parse_track(name: str) -> EvalTrack:
    """The track called `name`, or a ValueError listing what exists. An attack at its pinned
    budget is named without `@` (`pgd@8` -> `pgd`, `pgd@8+jpeg50` -> `pgd+jpeg50`)."""
    suite = _suite_name(name)
    if suite is not None:
        return EvalTrack(name, suite=suite)
    first, sep, codec = split_track(name)
    attack = _attack_name(first)
    after = _suite_name(codec) if sep else None
    if attack is not None and not sep:
        return EvalTrack(attack, attack=attack, through=variant(attack).spec.through)
    if attack is not None and after not in (None, "clean"):
        own = variant(attack).spec.through
        if sep == AFTER:
            return EvalTrack(f"{attack}{AFTER}{codec}", attack=attack, after=after, through=own)
        if own is not None:
            raise ValueError(
                f"{name!r}: {attack} goes through its own platform ({own}); "
                f"use {attack}{AFTER}{codec} to compress after it"
            )
        return EvalTrack(f"{attack}{THROUGH}{codec}", attack=attack, after=after, through=after)
    if ">" in name:
        raise ValueError(f"{name!r}: an adaptive track is written {name.replace('>', THROUGH)}")
    known = attacks()
    choices = sorted([*SUITE_TRACKS, *ALIASES, *known]) + [
        "<attack>@<eps in 255ths>",
        "<attack>+<suite track>",
        "<attack>:<suite track>",
    ]
    raise ValueError(f"no track {name!r} in suite v1 or the attacks: choose from {choices}")


def parse_tracks(names: Sequence[str]) -> list[EvalTrack]:
    """Parsed tracks, `clean` first and always (the paired drops are measured against it),
    duplicates removed (also one name written two ways: `pgd@8` and `pgd`)."""
    tracks = {}
    for track in map(parse_track, ["clean", *names]):
        tracks.setdefault(track.name, track)
    return list(tracks.values())


def per_epoch_tracks(names: Sequence[str]) -> list[str]:
    """The suite tracks of a `tracks=` set, for the training callback.

    Attack tracks need many passes per sample and, for `unet`, a trained attacker: they are
    evaluate.py's, so the callback skips them with one warning. A set with nothing else but
    `clean` is refused: the user asked for scores the callback cannot give.
    """
    tracks = [parse_track(n) for n in names]
    attacks = [t.name for t in tracks if t.is_attack]
    suite = list(dict.fromkeys(t.suite for t in tracks if not t.is_attack))
    if attacks and set(suite) <= {"clean"}:
        raise UserError(
            f"tracks {attacks} are attacks, which evaluate.py scores; the per-epoch callback "
            "takes suite tracks: use tracks=fast, ffpp, social or none when training"
        )
    if attacks:
        log.warning(
            "per-epoch robustness skips attack tracks %s (evaluate.py scores them)", attacks
        )
    return suite
