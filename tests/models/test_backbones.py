"""Backbone weights come from none, timm's hub, a local file, or the packaged Lite0 weights."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from fakeguard.models.backbones import LITE0, create_backbone
from fakeguard.models.safe_load import UnsafeCheckpointError
from fakeguard.models.weights import lite0_state_dict, load_state_file


def test_lite0_weights_classify_chelsea_as_egyptian_cat():
    from skimage.data import chelsea

    model = timm.create_model(LITE0, pretrained=False)
    model.load_state_dict(lite0_state_dict(model))
    image = torch.from_numpy(chelsea()).permute(2, 0, 1).float()[None] / 255
    image = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True)
    with torch.no_grad():
        logits = model.eval()((image - 0.5) / 0.5)
    assert int(logits.argmax()) == 285


def test_lite0_backbone_has_the_b0_feature_grid():
    backbone = create_backbone(LITE0, "lite0")
    assert backbone.forward_features(torch.rand(1, 3, 224, 224)).shape == (1, 1280, 7, 7)


def test_lite0_weights_need_the_lite0_architecture():
    with pytest.raises(ValueError, match="tf_efficientnet_lite0"):
        create_backbone("efficientnet_b0", "lite0")


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_weight_file_is_loaded(tmp_path, suffix):
    source = create_backbone(LITE0, "lite0")
    path = tmp_path / f"lite0{suffix}"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    loaded = create_backbone(LITE0, str(path))
    assert torch.equal(loaded.conv_stem.weight, source.conv_stem.weight)


def test_weight_file_for_another_architecture_is_a_clear_error(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(timm.create_model("resnet18", num_classes=0).state_dict(), path)
    with pytest.raises(ValueError, match="does not fit this model"):
        create_backbone(LITE0, str(path))


def test_pickled_code_in_a_weight_file_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hook": print}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"would import builtins\.print"):
        load_state_file(path)


def test_unknown_weight_source_is_refused():
    with pytest.raises(ValueError, match="unknown weights"):
        create_backbone(LITE0, "imagenet21k")
