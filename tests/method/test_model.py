from urllib.error import URLError

import pytest
import torch

from pmtiqa.core.errors import UserError
from pmtiqa.method.model import build_model, count_parameters, imagenet_weights_file
from pmtiqa.method.variants import VARIANTS


@pytest.mark.parametrize("backbone", ["resnet18", "cnn4"])
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("size", [224, 64, 32])
def test_forward_shapes_any_crop_size(variant, size, backbone):
    model = build_model(variant, backbone=backbone, num_classes=7).eval()
    with torch.no_grad():
        score, logits = model(torch.randn(3, 3, size, size))
    assert score.shape == (3,)
    assert logits.shape == (3, 7)
    assert torch.isfinite(score).all() and torch.isfinite(logits).all()


def test_resnet50_variants_have_similar_parameter_counts():
    counts = {v: count_parameters(build_model(v, backbone="resnet50")) for v in VARIANTS}
    assert max(counts.values()) / min(counts.values()) < 1.05
    # The MS module really is different from the pooled head, not a renamed copy.
    assert counts["ms"] != counts["baseline"]


def test_cnn4_is_small_keeps_full_resolution_first_and_has_no_imagenet_weights():
    model = build_model("ms_pmt", backbone="cnn4")
    assert 300_000 < count_parameters(model) < 400_000
    x = model.stem(torch.randn(1, 3, 64, 64))
    sides = []
    for stage in model.stages:
        x = stage(x)
        sides.append(x.shape[-1])
    assert sides == [64, 32, 16, 8]  # four taps for the MS module, the first at the tile's resolution
    with pytest.raises(UserError, match="cnn4 has no ImageNet weights"):
        build_model("ms_pmt", backbone="cnn4", weights="imagenet")


def test_ms_on_resnet50_has_the_authors_parameter_count():
    """Taps without bias, as theirs: 23,716,293 parameters."""
    model = build_model("ms", backbone="resnet50")
    assert count_parameters(model) == 23_716_293
    assert all(conv.bias is None for conv in model.features.reduce if isinstance(conv, torch.nn.Conv2d))


def test_scores_are_computed_in_fp32_under_bf16_autocast():
    """Only the backbone runs in bf16: 64 images get 64 distinct scores, not bf16's few dozen levels."""
    torch.manual_seed(0)
    model = build_model("ms_pmt", backbone="resnet18").eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        score, logits = model(torch.randn(64, 3, 32, 32))
    assert score.dtype == logits.dtype == torch.float32
    assert len(torch.unique(score)) == 64


def test_variants_share_features_per_their_definition():
    ms = build_model("ms_pmt", backbone="resnet18")
    pooled = build_model("pmt", backbone="resnet18")
    assert type(ms.features).__name__ == "MultiScaleFeatures"
    assert type(pooled.features).__name__ == "PooledFeatures"


def test_state_dict_weights_are_loaded(tmp_path):
    from pmtiqa.core.torchvision_shim import import_torchvision

    resnet = import_torchvision().models.resnet18(weights=None)
    with torch.no_grad():
        resnet.conv1.weight.fill_(0.125)
    path = tmp_path / "r18.pt"
    torch.save(resnet.state_dict(), path)
    model = build_model("ms_pmt", backbone="resnet18", weights=str(path))
    assert torch.all(model.stem[0].weight == 0.125)


def test_state_dict_of_wrong_backbone_is_refused(tmp_path):
    from pmtiqa.core.torchvision_shim import import_torchvision

    path = tmp_path / "r18.pt"
    torch.save(import_torchvision().models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(UserError, match="does not fit a resnet50"):
        build_model("ms_pmt", backbone="resnet50", weights=str(path))


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(UserError, match="nope.pt"):
        build_model("ms", backbone="resnet18", weights=str(tmp_path / "nope.pt"))


def test_imagenet_offline_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(url, dst, *args, **kwargs):
        raise URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    url, file = imagenet_weights_file("resnet50")
    assert str(file).startswith(str(tmp_path))
    with pytest.raises(UserError) as err:
        build_model("ms_pmt", backbone="resnet50", weights="imagenet")
    message = str(err.value)
    assert url in message and str(file) in message and "none" in message


def test_imagenet_weights_from_the_hub_cache(tmp_path, monkeypatch):
    from pmtiqa.core.torchvision_shim import import_torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _, file = imagenet_weights_file("resnet18")
    file.parent.mkdir(parents=True)
    resnet = import_torchvision().models.resnet18(weights=None)
    with torch.no_grad():
        resnet.bn1.weight.fill_(3.0)
    torch.save(resnet.state_dict(), file)
    model = build_model("baseline", backbone="resnet18", weights="imagenet")
    assert torch.all(model.stem[1].weight == 3.0)
