"""Listing a folder loses nothing: files behind links to folders are found, each folder once,
and a link loop is named rather than walked forever."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from fakeguard import walk
from fakeguard.data.folders import scan_folders
from fakeguard.export.benchmark import list_media


@pytest.fixture
def linked_tree(tmp_path):
    """root/real/{a.png, more -> elsewhere/, loop -> .., again -> elsewhere/}"""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    image = np.full((32, 32, 3), 127, np.uint8)
    cv2.imwrite(str(elsewhere / "b.png"), image)
    real = tmp_path / "root" / "real"
    real.mkdir(parents=True)
    cv2.imwrite(str(real / "a.png"), image)
    os.symlink(elsewhere, real / "more")
    os.symlink(elsewhere, real / "again")
    os.symlink(real, real / "loop")
    return tmp_path


def test_files_behind_a_link_to_a_folder_are_listed_once(linked_tree):
    real = linked_tree / "root" / "real"
    found = walk.files(real)
    assert [p.name for p in found] == ["a.png", "b.png"]
    notes = dict(walk.entries(real))
    assert "walked already" in notes[real / "more"] or "walked already" in notes[real / "again"]
    assert "symlink loop" in notes[real / "loop"]


def test_training_folders_and_the_gasbench_estimate_see_linked_files(linked_tree):
    root = linked_tree / "root"
    (root / "fake").mkdir()
    cv2.imwrite(str(root / "fake" / "c.png"), np.zeros((32, 32, 3), np.uint8))
    names = sorted(os.path.basename(s.path) for s in scan_folders(root))
    assert names == ["a.png", "b.png", "c.png"]
    items, skipped, _ = list_media(root, "image")
    assert sorted(p.name for p, _ in items) == ["a.png", "b.png", "c.png"]
    assert {s.reason.split(" (")[0] for s in skipped} >= {"symlink loop"}
