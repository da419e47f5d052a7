"""The DataModule base: splits by source id, seeded augmentation, demo data end to end."""

from __future__ import annotations

import albumentations as A
import torch

from fakeguard.data.blend import SelfBlend
from fakeguard.data.datamodule import DemoDataModule
from fakeguard.data.transforms import train_pipeline


def demo(**kwargs) -> DemoDataModule:
    return DemoDataModule(num_identities=30, image_size=48, batch_size=16, **kwargs)


def test_a_source_and_its_fakes_never_cross_splits():
    dm = demo()
    dm.setup()
    seen = {}
    for name, samples in dm.splits.items():
        for sample in samples:
            assert seen.setdefault(sample.source_id, name) == name
    assert all(dm.splits[name] for name in ("train", "val", "test"))


def test_same_seed_gives_the_same_augmented_batch():
    def first_batch(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        flips = train_pipeline(48, [A.HorizontalFlip(p=0.5)])
        return next(iter(demo(train_transform=flips).train_dataloader()))["image"]

    assert torch.equal(first_batch(7), first_batch(7))
    assert not torch.equal(first_batch(7), first_batch(8))


def test_demo_batches_carry_landmarks_through_the_pipeline():
    dm = demo()
    batch = next(iter(dm.val_dataloader()))
    assert batch["landmarks"].shape[1:] == (5, 2)
    assert torch.isfinite(batch["landmarks"]).all()
    assert set(batch["label"].tolist()) <= {0.0, 1.0}


def test_demo_fakes_follow_the_configured_blend():
    def fake_minus_real(**kwargs) -> float:
        dm = demo(**kwargs)
        samples = dm.load_samples()
        pairs = zip(samples[::2], samples[1::2], strict=True)
        return sum(float(abs(f.image.astype(int) - r.image.astype(int)).mean()) for r, f in pairs)

    strong = SelfBlend(color_shift=0.25, blend_ratios=[1.0])
    assert fake_minus_real(blend=strong) > 1.5 * fake_minus_real()
