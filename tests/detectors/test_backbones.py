"""Offline ImageNet backbone: the packaged EfficientNet-Lite0 mapped onto timm is the same network."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from detectors.backbones import (
    BackboneUnavailable,
    backbone_state_dict,
    load_into,
    packaged_lite0_path,
    packaged_lite0_state_dict,
    pretrained_extractor,
)


def _images() -> torch.Tensor:
    from skimage import data  # photos that ship inside scikit-image

    arrs = [data.chelsea(), data.coffee(), data.astronaut()]
    x = [np.asarray(Image.fromarray(a).resize((224, 224), Image.BILINEAR), np.float32) / 255.0 for a in arrs]
    return (torch.from_numpy(np.stack(x)).permute(0, 3, 1, 2) - 0.5) / 0.5  # Lite0's own normalisation


@pytest.fixture(scope="module")
def timm_lite0() -> torch.nn.Module:
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(packaged_lite0_state_dict(), strict=True)
    return model.eval()


def test_mapped_weights_give_the_package_architectures_logits(timm_lite0):
    lite = pytest.importorskip("efficientnet_lite_pytorch")  # the package's own architecture (test-only dep)
    ref = lite.EfficientNet.from_name("efficientnet-lite0")
    ref.load_state_dict(torch.load(packaged_lite0_path(), map_location="cpu", weights_only=True))
    ref.eval()
    x = _images()
    with torch.no_grad():
        np.testing.assert_allclose(timm_lite0(x).numpy(), ref(x).numpy(), atol=1e-4, rtol=1e-4)


def test_mapped_model_recognises_imagenet_classes(timm_lite0):
    with torch.no_grad():
        top = timm_lite0(_images()).argmax(1).tolist()
    assert 281 <= top[0] <= 285  # chelsea: a domestic cat class
    assert top[1] == 967  # coffee: espresso


def test_features_only_extractor_takes_the_weights():
    from anomalib.models.components import TimmFeatureExtractor

    ext = TimmFeatureExtractor("tf_efficientnet_lite0", layers=["blocks.2", "blocks.4"], pre_trained=False)
    pretrained_extractor(ext, "tf_efficientnet_lite0", None)
    torch.testing.assert_close(ext.feature_extractor.conv_stem.weight, packaged_lite0_state_dict()["conv_stem.weight"])


def test_local_weights_file_and_its_errors(tmp_path):
    net = timm.create_model("resnet18", pretrained=False, num_classes=10)
    torch.save({"state_dict": net.state_dict()}, tmp_path / "r18.pth")
    state = backbone_state_dict("resnet18", tmp_path / "r18.pth")
    torch.testing.assert_close(state["conv1.weight"], net.conv1.weight)
    with pytest.raises(BackboneUnavailable, match="not found"):
        backbone_state_dict("resnet18", tmp_path / "missing.pth")
    with pytest.raises(BackboneUnavailable, match="another architecture"):
        load_into(timm.create_model("tf_efficientnet_lite0", pretrained=False), state, "x")


def test_no_weights_and_no_download_is_refused_not_random(monkeypatch):
    from anomalib.models.components import TimmFeatureExtractor

    real = timm.create_model

    def offline(name, pretrained=False, **kw):
        if pretrained:
            raise OSError("no internet")
        return real(name, pretrained=False, **kw)

    monkeypatch.setattr(timm, "create_model", offline)
    ext = TimmFeatureExtractor("resnet18", layers=["layer1"], pre_trained=False)
    with pytest.raises(BackboneUnavailable, match="backbone_weights"):
        pretrained_extractor(ext, "resnet18", None)
