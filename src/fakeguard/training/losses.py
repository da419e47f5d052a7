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


def bernoulli_kl(clean_logits: torch.Tensor, adv_logits: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of KL(p_clean || p_adv) between the Bernoulli P(fake) of two logits:
    p log(p / q) + (1 - p) log((1 - p) / (1 - q)), TRADES's robust term (Zhang et al. 2019)
    for a one-logit detector. Computed from log-sigmoids, so it stays finite for confident
    logits. Gradients flow through both arguments (detach `clean_logits` for the inner
    attack's target)."""
    a, b = clean_logits.float(), adv_logits.float()
    p = torch.sigmoid(a)
    kl = p * (F.logsigmoid(a) - F.logsigmoid(b)) + (1 - p) * (F.logsigmoid(-a) - F.logsigmoid(-b))
    return kl.mean()
