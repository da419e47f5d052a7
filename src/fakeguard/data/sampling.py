"""Training order and augmentation drawn from (seed, epoch) alone, so that a run resumed from
`last.ckpt` sees the batches, flips and blends the uninterrupted run would have seen,
whatever the number of DataLoader workers."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

# An item key: (index into the dataset, seed of that item's augmentation draw).
SeededIndex = tuple[int, int]


class EpochSampler(Sampler[SeededIndex]):
    """Shuffles (or, with `weights`, draws with replacement) a fresh order each epoch from
    `(seed, epoch)`, and gives each drawn item its own augmentation seed.

    Lightning calls `set_epoch` before every training epoch (also through its DDP wrapper).
    The order and the seeds do not depend on the global random state, on how many workers
    load the items, or on which process loads which item.
    """

    def __init__(self, num_samples: int, seed: int, weights: torch.Tensor | None = None) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.weights = weights
        self.epoch = 0
        self.skip: tuple[int, int] | None = None  # (epoch, items already trained on)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def start_at(self, epoch: int, items_done: int = 0) -> None:
        """Resume: the next pass is `epoch`'s order without its first `items_done` items."""
        self.epoch = epoch
        self.skip = (epoch, items_done) if items_done else None

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[SeededIndex]:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        if self.weights is None:
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.multinomial(self.weights, self.num_samples, True, generator=generator)
        seeds = torch.randint(0, 2**32, (self.num_samples,), generator=generator)
        items = list(zip(order.tolist(), seeds.tolist(), strict=True))
        skip, self.skip = self.skip, None
        return iter(items[skip[1] :] if skip and skip[0] == self.epoch else items)


def epoch_seed(seed: int, epoch: int) -> int:
    """One seed per (run seed, epoch), hashed so that neighbouring epochs are unrelated."""
    state = np.random.SeedSequence([seed % 2**63, epoch]).generate_state(1, np.uint64)[0]
    return int(state) % 2**63
