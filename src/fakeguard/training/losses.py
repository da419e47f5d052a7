"""Classification losses on one logit of P(fake)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def detection_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    pos_weight: float | None = None,
    balanced: bool = False,
) -> torch.Tensor:
    """BCE-with-logits; `pos_weight` scales the fake term.

    With `balanced`, the real and the fake halves of the batch are averaged separately and then
    together (the DFDC winner's loss), so a batch's class mix does not tilt the gradient.
    """
    logits, labels = logits.float(), labels.float()
    weight = None if pos_weight is None else logits.new_tensor(pos_weight)
    if not balanced:
        return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight)
    per_sample = F.binary_cross_entropy_with_logits(
        logits, labels, pos_weight=weight, reduction="none"
    )
    halves = [per_sample[labels == value] for value in (0.0, 1.0)]
    return torch.stack([h.mean() for h in halves if h.numel()]).mean()
