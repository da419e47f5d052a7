"""Dataset layouts -> media items: labels, source ids, fake <-> original links and splits."""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path

import pytest
from helpers import ROOT, SHARED_DATA
from omegaconf import OmegaConf

from fakeguard.data.sources import (
    REGISTRY,
    SOURCES,
    celebdf_items,
    dfdc_items,
    ffpp_items,
    folder_items,
    list_items,
    register,
)
from fakeguard.errors import DataError


def touch(root: Path, *relpaths: str) -> Path:
    """Empty files under `root`: parsers only look at names, never at content."""
    for rel in relpaths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).touch()
    return root


def by_id(items):
    return {item.video_id: item for item in items}


# --- FaceForensics++ ----------------------------------------------------------------------

REAL = "original_sequences/youtube/{comp}/videos/{name}.mp4"
FAKE = "manipulated_sequences/{method}/{comp}/videos/{name}.mp4"
ACTOR = "original_sequences/actors/{comp}/videos/{name}.mp4"


@pytest.fixture
def ffpp(tmp_path):
    return touch(
        tmp_path,
        REAL.format(comp="c23", name="953"),
        REAL.format(comp="c23", name="974"),
        REAL.format(comp="c40", name="953"),
        FAKE.format(method="Deepfakes", comp="c23", name="953_974"),
        FAKE.format(method="FaceSwap", comp="c23", name="974_953"),
        FAKE.format(method="Face2Face", comp="c23", name="100_200"),  # its real is absent
        FAKE.format(method="Deepfakes", comp="c40", name="953_974"),
        ACTOR.format(comp="c23", name="01__kitchen_pan"),
        FAKE.format(method="DeepFakeDetection", comp="c23", name="01_02__kitchen_pan__ABCD1234"),
    )


def test_ffpp_lists_only_the_chosen_compression_sorted_with_absolute_paths(ffpp):
    items = ffpp_items(ffpp, compression="c23")
    assert [i.video_id for i in items] == sorted(i.video_id for i in items)
    assert len(items) == 7 and {i.compression for i in items} == {"c23"}
    assert all(Path(i.path).is_absolute() and Path(i.path).exists() for i in items)
    assert {i.method for i in items if i.label == 0} == {"real"}
    assert [i.video_id for i in ffpp_items(ffpp, compression="c40")] == [
        "Deepfakes/c40/953_974",
        "youtube/c40/953",
    ]


def test_a_ffpp_fake_shares_the_source_id_of_its_real_video(ffpp):
    items = by_id(ffpp_items(ffpp))
    fake = items["Deepfakes/c23/953_974"]
    assert (fake.label, fake.method, fake.source_id) == (1, "Deepfakes", "953")
    assert fake.original == "youtube/c23/953"
    assert items["youtube/c23/953"].source_id == "953"
    assert items["Face2Face/c23/100_200"].original is None  # real 100 is not listed


def test_deepfakedetection_fakes_belong_to_their_first_actor(ffpp):
    items = by_id(ffpp_items(ffpp))
    real = items["actors/c23/01__kitchen_pan"]
    fake = items["DeepFakeDetection/c23/01_02__kitchen_pan__ABCD1234"]
    assert real.source_id == fake.source_id == "actor-01"
    assert fake.original == real.video_id


def test_methods_restrict_the_fakes_and_leave_actors_out_without_deepfakedetection(ffpp):
    items = ffpp_items(ffpp, methods=["FaceSwap"])
    assert {i.method for i in items} == {"real", "FaceSwap"}
    assert not any(i.video_id.startswith("actors/") for i in items)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"methods": ["DeepFakes"]}, "DeepFakes"),
        ({"methods": ["FaceShifter"]}, "FaceShifter"),  # valid name, but not downloaded
        ({"compression": "c32"}, "c32"),
    ],
)
def test_a_wrong_ffpp_method_or_compression_is_a_data_error(ffpp, options, message):
    with pytest.raises(DataError, match=message):
        ffpp_items(ffpp, **options)


def write_split_files(folder: Path, **splits) -> Path:
    folder.mkdir(exist_ok=True)
    for name, pairs in splits.items():
        (folder / f"{name}.json").write_text(json.dumps(pairs))
    return folder


def test_official_split_files_give_both_videos_of_a_pair_and_their_fakes_one_split(ffpp):
    split_dir = write_split_files(
        ffpp / "splits", train=[["953", "974"]], val=[["100", "200"]], test=[]
    )
    items = by_id(ffpp_items(ffpp, split_dir=split_dir))
    for video_id in ("youtube/c23/953", "youtube/c23/974", "FaceSwap/c23/974_953"):
        assert items[video_id].split == "train"
    assert items["Face2Face/c23/100_200"].split == "val"
    assert items["actors/c23/01__kitchen_pan"].split is None  # not in the official lists
    assert {i.split for i in ffpp_items(ffpp)} == {None}


def test_a_missing_official_split_file_is_a_data_error(ffpp):
    split_dir = write_split_files(ffpp / "splits", train=[], val=[])
    with pytest.raises(DataError, match="test.json"):
        ffpp_items(ffpp, split_dir=split_dir)


def test_the_ffpp_sample_links_each_fake_to_its_real_video_when_present():
    root = SHARED_DATA / "ffpp_sample"
    if not root.is_dir():
        pytest.skip(f"shared data not available: {root}")
    items = by_id(ffpp_items(root))
    assert len(items) == 7
    assert {i.source_id for i in items.values() if i.label == 0} == {"004", "519", "634"}
    fakes = {i.video_id: (i.source_id, i.original) for i in items.values() if i.label == 1}
    assert fakes == {
        "Deepfakes/c23/519_515": ("519", "youtube/c23/519"),
        "Face2Face/c23/750_743": ("750", None),
        "FaceSwap/c23/634_660": ("634", "youtube/c23/634"),
        "NeuralTextures/c23/004_982": ("004", "youtube/c23/004"),
    }


# --- Celeb-DF -----------------------------------------------------------------------------


@pytest.fixture
def celebdf(tmp_path):
    return touch(
        tmp_path,
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id16_0003.mp4",
        "YouTube-real/00170.mp4",
        "Celeb-synthesis/id0_id16_0000.mp4",
        "Celeb-synthesis/id16_id0_0001.mp4",  # its real id16_0001 is absent
    )


def test_a_celebdf_swap_belongs_to_identity_a(celebdf):
    items = by_id(celebdf_items(celebdf))
    swap = items["Celeb-synthesis/id0_id16_0000"]
    assert (swap.label, swap.method, swap.source_id) == (1, "Celeb-synthesis", "id0")
    assert swap.original == "Celeb-real/id0_0000"
    assert items["Celeb-synthesis/id16_id0_0001"].original is None
    assert items["Celeb-real/id16_0003"].source_id == "id16"
    assert items["YouTube-real/00170"].source_id == "youtube-00170"
    assert {i.label for i in items.values() if i.method == "real"} == {0}


def test_celebdf_test_list_marks_test_videos_even_those_missing_on_disk(celebdf):
    (celebdf / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id0_id16_0000.mp4\n1 Celeb-real/id5_0002.mp4\n"
    )
    items = by_id(celebdf_items(celebdf))
    tests = {video_id for video_id, item in items.items() if item.split == "test"}
    assert tests == {"YouTube-real/00170", "Celeb-synthesis/id0_id16_0000", "Celeb-real/id5_0002"}
    missing = items["Celeb-real/id5_0002"]
    assert missing.label == 0 and not Path(missing.path).exists()  # prepare records it
    assert items["YouTube-real/00170"].label == 0  # labels come from the folder, not the list


def test_celebdf_without_test_list_leaves_every_split_unset_and_warns(celebdf, caplog):
    with caplog.at_level(logging.WARNING):
        items = celebdf_items(celebdf)
    assert {i.split for i in items} == {None}
    assert "List_of_testing_videos.txt" in caplog.text


# --- DFDC ---------------------------------------------------------------------------------


@pytest.fixture
def dfdc(tmp_path):
    part0, part1 = tmp_path / "dfdc_train_part_0", tmp_path / "dfdc_train_part_1"
    touch(part0, "aaa.mp4", "bbb.mp4")
    touch(part1, "ccc.mp4")  # ddd.mp4 is listed in its metadata but not on disk
    meta0 = {
        "aaa.mp4": {"label": "REAL", "split": "train", "original": None},
        "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
    }
    meta1 = {
        "ccc.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
        "ddd.mp4": {"label": "FAKE", "split": "train", "original": "zzz.mp4"},
    }
    (part0 / "metadata.json").write_text(json.dumps(meta0))
    (part1 / "metadata.json").write_text(json.dumps(meta1))
    return tmp_path


def test_a_dfdc_fake_shares_the_source_id_of_its_original_across_parts(dfdc):
    items = by_id(dfdc_items(dfdc))
    real = items["dfdc_train_part_0/aaa"]
    assert (real.label, real.method, real.source_id, real.original) == (0, "real", "aaa", None)
    for video_id in ("dfdc_train_part_0/bbb", "dfdc_train_part_1/ccc"):
        fake = items[video_id]
        assert (fake.label, fake.method, fake.source_id) == (1, "dfdc-fake", "aaa")
        assert fake.original == "dfdc_train_part_0/aaa"
    assert {i.split for i in items.values()} == {None}


def test_a_dfdc_entry_missing_on_disk_is_still_listed(dfdc):
    missing = by_id(dfdc_items(dfdc))["dfdc_train_part_1/ddd"]
    assert missing.path == str(dfdc / "dfdc_train_part_1" / "ddd.mp4")
    assert (missing.source_id, missing.original) == ("zzz", None)  # zzz.mp4 is not listed


def test_a_single_dfdc_part_can_be_the_root(dfdc):
    items = dfdc_items(dfdc / "dfdc_train_part_0")
    assert [i.video_id for i in items] == ["dfdc_train_part_0/aaa", "dfdc_train_part_0/bbb"]


def test_dfdc_labels_csv_is_the_test_set(dfdc):
    touch(dfdc, "test/eee.mp4", "test/fff.mp4")
    (dfdc / "test" / "labels.csv").write_text("filename,label\neee.mp4,1\nfff.mp4,0\n")
    items = by_id(dfdc_items(dfdc))
    assert len(items) == 6
    fake, real = items["test/eee"], items["test/fff"]
    assert (fake.label, fake.method, fake.source_id, fake.split) == (1, "dfdc-fake", "eee", "test")
    assert (real.label, real.method, real.split) == (0, "real", "test")


@pytest.mark.parametrize(
    "filename, content, message",
    [
        ("metadata.json", "{not json", "metadata.json"),
        ("metadata.json", '{"x.mp4": {"label": "fake"}}', "x.mp4"),
        ("labels.csv", "name,is_fake\nx.mp4,1\n", "labels.csv"),
        ("labels.csv", "filename,label\nx.mp4,FAKE\n", "labels.csv"),
    ],
)
def test_a_malformed_dfdc_metadata_file_is_a_data_error_naming_it(
    tmp_path, filename, content, message
):
    (tmp_path / "dfdc_train_part_9").mkdir()
    (tmp_path / "dfdc_train_part_9" / filename).write_text(content)
    with pytest.raises(DataError, match=message):
        dfdc_items(tmp_path)


# --- real/ + fake/ folders ----------------------------------------------------------------


def test_folders_mix_images_and_videos_labelled_by_class_folder(tmp_path):
    touch(tmp_path, "real/a.jpg", "real/clips/b.MP4", "fake/gan/c.png", "fake/d.mp4", "fake/e.txt")
    items = by_id(folder_items(tmp_path))
    assert set(items) == {"real/a", "real/clips/b", "fake/gan/c", "fake/d"}  # e.txt ignored
    assert [(i.kind, i.label, i.method) for i in items.values()] == [
        ("video", 1, "fake"),
        ("image", 1, "fake"),
        ("image", 0, "real"),
        ("video", 0, "real"),
    ]
    assert all(i.source_id == i.video_id and i.split is None for i in items.values())


@pytest.mark.parametrize(
    "files, message",
    [
        (["real/a.jpg"], "fake"),  # class folder missing
        (["real/a.jpg", "fake/notes.txt"], "fake"),  # class folder without media
        (["real/a.jpg", "real/a.png", "fake/b.jpg"], "real/a"),  # two files, one video id
    ],
)
def test_an_unusable_folder_layout_is_a_data_error(tmp_path, files, message):
    touch(tmp_path, *files)
    with pytest.raises(DataError, match=message):
        folder_items(tmp_path)


# --- dispatch -----------------------------------------------------------------------------


def test_list_items_passes_options_to_the_parser(ffpp):
    assert list_items("ffpp", ffpp, compression="c40") == ffpp_items(ffpp, compression="c40")


def test_an_unknown_source_is_a_data_error_listing_the_sources(tmp_path):
    with pytest.raises(DataError, match="celebdf") as error:
        list_items("celeb-df", tmp_path)
    assert all(source in str(error.value) for source in SOURCES)


@pytest.mark.parametrize("source, option", [("ffpp", "compresion"), ("folders", "methods")])
def test_an_unknown_option_is_a_data_error_naming_it(ffpp, source, option):
    with pytest.raises(DataError, match=option):
        list_items(source, ffpp, **{option: "c23"})


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_has_a_config_with_options_it_accepts(source):
    """A dataset source is a module in fakeguard/data/sources/ plus configs/source/<name>.yaml."""
    config = OmegaConf.load(ROOT / "configs" / "source" / f"{source}.yaml")
    accepted = list(inspect.signature(REGISTRY[source].list_items).parameters)[1:]
    assert config.name == source and set(config.options) <= set(accepted)


def test_every_source_config_names_a_registered_source():
    configs = {path.stem for path in (ROOT / "configs" / "source").glob("*.yaml")}
    assert configs == set(SOURCES)


def test_a_source_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        register("ffpp")(lambda root: [])
    assert REGISTRY["ffpp"].list_items is ffpp_items


@pytest.mark.parametrize("source", SOURCES)
def test_a_missing_root_is_a_data_error(tmp_path, source):
    with pytest.raises(DataError, match="not found"):
        list_items(source, tmp_path / "nowhere")


def test_a_root_without_the_expected_layout_is_a_data_error(tmp_path):
    touch(tmp_path, "videos/x.mp4")
    for parser in (ffpp_items, celebdf_items, dfdc_items, folder_items):
        with pytest.raises(DataError):
            parser(tmp_path)
