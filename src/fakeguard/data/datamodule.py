"""Lightning DataModules: a shared base plus one small class per data source."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import albumentations as A
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from fakeguard.data.dataset import FaceDataset, seed_worker_transform
from fakeguard.data.folders import scan_folders
from fakeguard.data.samples import FaceSample
from fakeguard.data.splits import SPLITS, split_of
from fakeguard.data.transforms import eval_pipeline
from fakeguard.errors import DataError

log = logging.getLogger(__name__)


class FaceDataModule(LightningDataModule):
    """Loads samples once, splits them by source id, and serves train/val/test loaders.

    Subclasses implement `load_samples`. Training batches go through `train_transform`
    (an augment config); validation and test always use the fixed `eval_pipeline`.
    """

    def __init__(
        self,
        image_size: int = 224,
        batch_size: int = 32,
        num_workers: int = 0,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        train_transform: A.Compose | None = None,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.train_transform = train_transform or eval_pipeline(image_size)
        self.pin_memory = pin_memory
        self.splits: dict[str, list[FaceSample]] | None = None

    def load_samples(self) -> Sequence[FaceSample]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits is not None:
            return
        splits: dict[str, list[FaceSample]] = {name: [] for name in SPLITS}
        for sample in self.load_samples():
            name = split_of(sample.source_id, self.val_fraction, self.test_fraction)
            splits[name].append(sample)
        for name, samples in splits.items():
            labels = torch.tensor([s.label for s in samples])
            log.info("%s: %d samples (%d fake)", name, len(samples), int(labels.sum()))
        for name in ("train", "val"):
            if len({s.label for s in splits[name]}) < 2:
                raise DataError(f"the {name} split needs both real and fake samples; add data")
        self.splits = splits

    def dataset(self, split: str, train: bool = False) -> FaceDataset:
        """The samples of `split` with the training or the evaluation transform."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        self.setup()
        transform = self.train_transform if train else eval_pipeline(self.image_size)
        if train:
            # albumentations draws from its own generators: tie them to torch's seed so a
            # seeded run augments the same way (workers reseed in `seed_worker_transform`).
            transform.set_random_seed(torch.initial_seed() % 2**32)
        return FaceDataset(self.splits[split], transform)

    def dataloader(self, split: str, train: bool = False) -> DataLoader:
        return DataLoader(
            self.dataset(split, train),
            batch_size=self.batch_size,
            shuffle=train,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=seed_worker_transform,
        )

    def train_dataloader(self) -> DataLoader:
        return self.dataloader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("test")


class DemoDataModule(FaceDataModule):
    """Synthetic faces and self-blended fakes generated in code: no download (see data.demo)."""

    def __init__(self, num_identities: int = 600, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_identities = num_identities
        self.seed = seed

    def load_samples(self) -> Sequence[FaceSample]:
        from fakeguard.data.demo import make_demo_samples

        # Render at the model size: resizing synthetic faces adds nothing.
        return make_demo_samples(self.num_identities, self.image_size, self.seed)


class FolderDataModule(FaceDataModule):
    """Images under `root/real` and `root/fake`, split by a hash of each file's source id."""

    def __init__(self, root: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = root

    def load_samples(self) -> Sequence[FaceSample]:
        return scan_folders(self.root)
