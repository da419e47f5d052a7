"""Lightning DataModules: a shared base plus one small class per data source."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import albumentations as A
import lightning as L
import pandas as pd
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from fakeguard import settings
from fakeguard.data.blend import SelfBlend, SelfBlendedFakes
from fakeguard.data.dataset import FaceDataset
from fakeguard.data.folders import scan_folders, split_folders
from fakeguard.data.manifest import manifest_samples, read_manifest
from fakeguard.data.samples import FaceSample
from fakeguard.data.sampling import EpochSampler
from fakeguard.data.splits import SPLITS, split_of
from fakeguard.data.transforms import eval_pipeline
from fakeguard.errors import DataError, SettingError

log = logging.getLogger(__name__)
# The config group the DataModules are built from: settings are named as the user types them.
PREFIX = "data."


class FaceDataModule(LightningDataModule):
    """Loads samples once, splits them by source id, and serves train/val/test loaders.

    Subclasses implement `load_samples`. Training batches go through `train_transform`
    (an augment config), after `self_blend` turned some real crops into pseudo-fakes;
    validation and test always use the fixed `eval_pipeline`. The numeric settings are checked
    here, before any work: a bad one is a `SettingError` naming it (`data.batch_size=0`).
    """

    def __init__(
        self,
        image_size: int = 224,
        batch_size: int = 32,
        num_workers: int = 0,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        train_transform: A.Compose | None = None,
        self_blend: SelfBlendedFakes | None = None,
        pin_memory: bool = False,
        val_root: str | None = None,
        test_root: str | None = None,
    ) -> None:
        super().__init__()
        self.image_size = settings.image_size(f"{PREFIX}image_size", image_size)
        self.batch_size = settings.whole_number(f"{PREFIX}batch_size", batch_size, 1)
        self.num_workers = settings.whole_number(f"{PREFIX}num_workers", num_workers, 0)
        self.val_fraction, self.test_fraction = settings.split_fractions(
            PREFIX, val_fraction, test_fraction
        )
        # A split given as its own folder takes no share of the source's samples.
        self.split_roots = {
            name: Path(root).expanduser()
            for name, root in (("val", val_root), ("test", test_root))
            if root
        }
        if val_root:
            self.val_fraction = 0.0
        if test_root:
            self.test_fraction = 0.0
        self.train_transform = train_transform or eval_pipeline(image_size)
        self.self_blend = self_blend
        self.pin_memory = pin_memory
        self._splits: dict[str, list[FaceSample]] = {}
        self._own: dict[str, list[FaceSample]] | None = None

    def load_samples(self) -> Sequence[FaceSample]:
        raise NotImplementedError

    def load_splits(self) -> dict[str, list[FaceSample]]:
        """The source's samples per split; by default a hash of each source id decides."""
        return hash_split(self.load_samples(), self.val_fraction, self.test_fraction)

    def split(self, name: str) -> list[FaceSample]:
        """The samples of one split, loaded on first use: a split given as a folder
        (`val_root`, `test_root`) is read from there alone, so evaluating on a test folder
        does not need the training data."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        if name not in self._splits:
            if name in self.split_roots:
                samples = scan_folders(self.split_roots[name])
            else:
                samples = self._own_splits()[name]
            labels = [s.label for s in samples]
            log.info("%s: %d samples (%d fake)", name, len(labels), sum(labels))
            self._splits[name] = samples
        return self._splits[name]

    def _own_splits(self) -> dict[str, list[FaceSample]]:
        if self._own is None:
            self._own = self.load_splits()
            for name in self.split_roots:
                if self._own.get(name):
                    log.warning(
                        "%s%s_root replaces the %d %s samples of the data source",
                        PREFIX,
                        name,
                        len(self._own[name]),
                        name,
                    )
        return self._own

    @property
    def splits(self) -> dict[str, list[FaceSample]]:
        """Every split's samples (each loaded on first use)."""
        return {name: self.split(name) for name in SPLITS}

    def setup(self, stage: str | None = None) -> None:
        """Training ("fit") needs real and fake samples in train and val, and warns when val
        is too small to choose a checkpoint on; evaluation needs only the split it scores."""
        if stage != "fit":
            return
        for name in ("train", "val"):
            if len({s.label for s in self.split(name)}) < 2:
                raise DataError(f"the {name} split needs both real and fake samples; add data")
        warn_if_small(self.split("val"))

    def dataset(self, split: str, train: bool = False) -> FaceDataset:
        """The samples of `split` with the training or the evaluation transform."""
        if not train:
            return FaceDataset(self.split(split), eval_pipeline(self.image_size))
        return FaceDataset(self.split(split), self.train_transform, self.self_blend)

    def train_sampler(self, dataset: FaceDataset, seed: int) -> EpochSampler:
        """The training order: a uniform shuffle per epoch, drawn from `seed` and the epoch."""
        return EpochSampler(len(dataset), seed)

    def dataloader(self, split: str, train: bool = False) -> DataLoader:
        dataset = self.dataset(split, train)
        # torch's seed (set by `seed=`): a seeded run, and its resumption, draw the same way.
        seed = torch.initial_seed()
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=self.train_sampler(dataset, seed) if train else None,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            # Workers' base seeds come from here, not from the global generator, whose state
            # a resumed run restores only when its first epoch starts (see RandomStates).
            generator=torch.Generator().manual_seed(seed),
        )

    def train_dataloader(self) -> DataLoader:
        loader = self.dataloader("train", train=True)
        # Lightning asks for the loader after restoring a checkpoint and, resuming mid-epoch,
        # expects it to yield only the batches that epoch has left.
        epoch, batches_done = resume_position(self.trainer)
        loader.sampler.start_at(epoch, batches_done * self.batch_size)
        return loader

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("test")


# Below this many crops per class, validation AUC moves in steps too coarse to pick an epoch
# on (one crop is 2% of a class): it saturates early and best.ckpt is an under-trained model.
MIN_VAL_PER_CLASS = 50


def warn_if_small(val: Sequence[FaceSample]) -> None:
    """A warning, with what to do, when `val` is too small to select a checkpoint on."""
    counts = [sum(s.label == label for s in val) for label in (0, 1)]
    if min(counts) >= MIN_VAL_PER_CLASS:
        return
    log.warning(
        "the validation split has %d real and %d fake samples: too few (under %d per class) to "
        "choose the best checkpoint or stop early on. Give it more: %sval_fraction=0.2, a "
        "folder of its own with %sval_root=<folder with real/ and fake/>, or more data; or "
        "keep the last epoch (callbacks.early_stopping=null and test last.ckpt).",
        counts[0],
        counts[1],
        MIN_VAL_PER_CLASS,
        PREFIX,
        PREFIX,
    )


def hash_split(
    samples: Sequence[FaceSample], val_fraction: float, test_fraction: float
) -> dict[str, list[FaceSample]]:
    """Samples per split by a stable hash of each source id (see `split_of`)."""
    splits: dict[str, list[FaceSample]] = {name: [] for name in SPLITS}
    for sample in samples:
        splits[split_of(sample.source_id, val_fraction, test_fraction)].append(sample)
    return splits


def resume_position(trainer: L.Trainer | None) -> tuple[int, int]:
    """The epoch training (re)starts in and how many of its batches are done already: (0, 0)
    for a new run, (e + 1, 0) after a checkpoint at the end of epoch e, (e, k) after one taken
    by an interrupt k batches into epoch e. Under DDP a mid-epoch position is not kept (each
    process's share of the order would shift), so that epoch restarts from its beginning."""
    if trainer is None:
        return 0, 0
    epoch = trainer.fit_loop.epoch_progress.current.processed
    done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
    started = trainer.fit_loop.epoch_progress.current.started
    if started == epoch or trainer.world_size > 1:  # no epoch left half done
        return epoch, 0
    return epoch, done


class DemoDataModule(FaceDataModule):
    """Synthetic faces and self-blended fakes generated in code: no download (see data.demo)."""

    def __init__(
        self, num_identities: int = 600, seed: int = 0, blend: SelfBlend | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.num_identities = settings.whole_number(f"{PREFIX}num_identities", num_identities, 1)
        self.seed = settings.whole_number(f"{PREFIX}seed", seed, 0)
        needed = identities_needed(self.val_fraction, self.test_fraction)
        if self.num_identities < needed:
            raise SettingError(
                f"{PREFIX}num_identities={num_identities} is too small: at least {needed} with "
                f"{PREFIX}val_fraction={self.val_fraction:g} and "
                f"{PREFIX}test_fraction={self.test_fraction:g}, "
                "so that the train and val splits both get faces"
            )
        self.blend = blend  # how the fakes are made; None: SelfBlend's defaults

    def load_samples(self) -> Sequence[FaceSample]:
        from fakeguard.data.demo import make_demo_samples

        # Render at the model size: resizing synthetic faces adds nothing.
        return make_demo_samples(self.num_identities, self.image_size, self.seed, self.blend)


def identities_needed(val_fraction: float, test_fraction: float, limit: int = 100_000) -> int:
    """How many demo identities it takes for the train and val splits to get at least one each.

    Identity i always lands in the same split (a hash of its source id), so the first n
    identities either cover both splits or do not: the answer is exact, not an estimate.
    """
    from fakeguard.data.demo import demo_source_id

    seen: set[str] = set()
    for i in range(limit):
        seen.add(split_of(demo_source_id(i), val_fraction, test_fraction))
        if {"train", "val"} <= seen:
            return i + 1
    return limit


class FolderDataModule(FaceDataModule):
    """Images under `root/real` and `root/fake`, split by a hash of each file's source id; or
    under `root/{train,val,test}/{real,fake}`, split as given. In that layout a split without
    its folder is carved from train by the hash (val_fraction, test_fraction)."""

    def __init__(self, root: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = root

    def load_samples(self) -> Sequence[FaceSample]:
        return scan_folders(self.root)

    def load_splits(self) -> dict[str, list[FaceSample]]:
        given = split_folders(self.root)
        if not given:
            return super().load_splits()
        splits = {name: scan_folders(folder) for name, folder in given.items()}
        carved = [n for n in SPLITS if n not in given and n not in self.split_roots]
        if "train" in splits and carved:
            log.info("%s has no %s folder: carved from train", self.root, " or ".join(carved))
            val = self.val_fraction if "val" in carved else 0.0
            test = self.test_fraction if "test" in carved else 0.0
            parts = hash_split(splits["train"], val, test)
            splits |= {n: parts[n] for n in ("train", *carved)}
        return {name: splits.get(name, []) for name in SPLITS}


class ManifestDataModule(FaceDataModule):
    """Face crops listed in a manifest from `python -m fakeguard.prepare` (data=faces).

    Splits come from the manifest (by source id, decided once at preparation). `methods`
    keeps only these manipulation methods among the fakes (real crops always stay);
    `compressions` and `datasets` keep only matching rows. `balance` draws training batches
    with equal expected numbers of real and fake crops (FF++ has 4-5 fakes per real).
    """

    def __init__(
        self,
        manifest: str,
        methods: Sequence[str] | None = None,
        compressions: Sequence[str] | None = None,
        datasets: Sequence[str] | None = None,
        balance: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.manifest = Path(manifest).expanduser()
        self.filters = {"methods": methods, "compressions": compressions, "datasets": datasets}
        self.balance = balance

    def load_splits(self) -> dict[str, list[FaceSample]]:
        rows = select(read_manifest(self.manifest), **self.filters)
        if rows.empty:
            raise DataError(f"no rows of {self.manifest} match {self.filters}")
        unknown = set(rows["split"]) - set(SPLITS)
        if unknown:
            raise DataError(f"{self.manifest} has unknown split name(s) {sorted(unknown)}")
        return {
            name: manifest_samples(rows[rows["split"] == name], self.manifest.parent)
            for name in SPLITS
        }

    def train_sampler(self, dataset: FaceDataset, seed: int) -> EpochSampler:
        if not self.balance:
            return super().train_sampler(dataset, seed)
        labels = torch.tensor([s.label for s in dataset.samples])
        weights = 1.0 / torch.bincount(labels, minlength=2).clamp(min=1).float()
        return EpochSampler(len(labels), seed, weights=weights[labels])


def select(
    manifest: pd.DataFrame,
    methods: Sequence[str] | None = None,
    compressions: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows of the given fake methods (plus every real row), compressions and datasets;
    None keeps all. A name that matches nothing is an error: it is most likely a typo."""
    keep = pd.Series(True, index=manifest.index)
    for column, wanted in (
        ("method", methods),
        ("compression", compressions),
        ("dataset", datasets),
    ):
        if wanted is None:
            continue
        present = set(manifest[column])
        if set(wanted) - present:
            raise DataError(
                f"no {column} {sorted(set(wanted) - present)} in the manifest; "
                f"it has {sorted(present)}"
            )
        match = manifest[column].isin(list(wanted))
        if column == "method":
            match |= manifest["label"] == 0  # a method names fakes; reals always stay
        keep &= match
    return manifest[keep]
