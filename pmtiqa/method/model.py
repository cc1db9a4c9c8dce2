"""The PMT-IQA network: a ResNet backbone, a feature module and two heads.

    image -> ResNet stages (layer1..layer4)
          -> features: "multiscale" (the MS module) or "pooled" (layer4 global average)
          -> h: 112 values
          -> shared MLP 112 -> 112 -> 14
          -> g1: regression head 14 -> 1          (the quality score, on the scale of loss.target)
          -> g2: classification head 14 -> 14 -> K (quality-level logits)

The forward pass always returns both heads' outputs; the task schedule of a variant decides
which of them the loss uses at each epoch (schedule.py). Under bf16 autocast only the backbone
computes in bf16: the feature module and the heads run in fp32, so that a score is not rounded to
bf16's 8-bit mantissa (which left a few dozen distinct predictions for hundreds of images).
"""
from __future__ import annotations

from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlparse

import torch
from torch import nn

from pmtiqa.core.errors import UserError
from pmtiqa.core.progress import on_terminal
from pmtiqa.core.torchvision_shim import import_torchvision
from pmtiqa.method.variants import get_variant

FEATURE_DIM = 112  # 4 scales x 28 values in the authors' MS module
HIDDEN_DIM = 14

# Stage output channels of each backbone (layer1..layer4).
STAGE_CHANNELS = {
    "cnn4": (16, 32, 64, 128),
    "resnet18": (64, 128, 256, 512),
    "resnet34": (64, 128, 256, 512),
    "resnet50": (256, 512, 1024, 2048),
}
_IMAGENET_WEIGHTS = {  # torchvision's V1 weights, as the authors used
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
}


class MultiScaleFeatures(nn.Module):
    """The MS module: each stage's map is reduced by a 1x1 conv (layer4 kept as is), average-pooled
    to a small grid (8x8, 4x4, 2x2, 1x1 at a 224 crop), flattened and projected to 28 values;
    the four vectors are concatenated. Adaptive pooling makes any crop size from 32 up work.
    As the authors': taps without bias, taps and projections kaiming-normal initialised."""

    def __init__(self, channels: tuple[int, int, int, int], reduced=(16, 32, 64, None), grids=(8, 4, 2, 1),
                 per_scale: int = FEATURE_DIM // 4):
        super().__init__()
        self.reduce = nn.ModuleList(
            nn.Conv2d(c, r, kernel_size=1, bias=False) if r is not None else nn.Identity()
            for c, r in zip(channels, reduced)
        )
        self.pool = nn.ModuleList(nn.AdaptiveAvgPool2d(g) for g in grids)
        self.project = nn.ModuleList(
            nn.Linear((r or c) * g * g, per_scale) for c, r, g in zip(channels, reduced, grids)
        )
        for layer in [*self.reduce, *self.project]:
            if not isinstance(layer, nn.Identity):
                nn.init.kaiming_normal_(layer.weight)

    def forward(self, stages: list[torch.Tensor]) -> torch.Tensor:
        parts = [
            proj(pool(reduce(x)).flatten(1))
            for x, reduce, pool, proj in zip(stages, self.reduce, self.pool, self.project)
        ]
        return torch.cat(parts, dim=1)


class PooledFeatures(nn.Module):
    """The ablation without MS: layer4 globally averaged, projected to the same 112 values
    (which also keeps the parameter count within a fraction of a percent of the MS variant)."""

    def __init__(self, channels: tuple[int, int, int, int]):
        super().__init__()
        self.project = nn.Linear(channels[-1], FEATURE_DIM)

    def forward(self, stages: list[torch.Tensor]) -> torch.Tensor:
        return self.project(stages[-1].mean(dim=(2, 3)))


class PMTIQA(nn.Module):
    def __init__(self, backbone: nn.Module, features: nn.Module, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(backbone.conv1, backbone.bn1, backbone.relu, backbone.maxpool)
        self.stages = nn.ModuleList([backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4])
        self.features = features
        self.shared = nn.Sequential(
            nn.Linear(FEATURE_DIM, FEATURE_DIM), nn.LeakyReLU(),
            nn.Linear(FEATURE_DIM, HIDDEN_DIM), nn.LeakyReLU(),
        )
        self.regress = nn.Linear(HIDDEN_DIM, 1)
        self.classify = nn.Sequential(nn.Linear(HIDDEN_DIM, HIDDEN_DIM), nn.LeakyReLU(),
                                      nn.Linear(HIDDEN_DIM, num_classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, 3, H, W) ImageNet-normalised images -> (score (N,), logits (N, K))."""
        x = self.stem(x)
        stages = []
        for stage in self.stages:
            x = stage(x)
            stages.append(x)
        with torch.autocast(x.device.type, enabled=False):  # fp32 from here on, whatever the backbone ran in
            z = self.shared(self.features([s.float() for s in stages]))
            return self.regress(z).squeeze(1), self.classify(z)


class SmallCNN(nn.Module):
    """cnn4: four stages of two 3x3 conv + BN + ReLU (16, 32, 64, 128 channels), max-pooled between,
    about 0.29 M parameters. Full resolution in its first stage, so a small tile keeps its detail
    (ResNet's stem halves it twice first): quick CPU experiments and the demo. No ImageNet weights."""

    def __init__(self):
        super().__init__()
        self.conv1 = self.bn1 = self.relu = self.maxpool = nn.Identity()  # the stem a ResNet has
        widths = (3, *STAGE_CHANNELS["cnn4"])
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            nn.Sequential(*([nn.MaxPool2d(2)] if i else []), *self.block(widths[i], widths[i + 1])) for i in range(4))

    @staticmethod
    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def build_model(variant: str, backbone: str = "resnet50", weights: str = "none", num_classes: int = 10) -> PMTIQA:
    """The network of a variant (see variants.py). weights: "none", "imagenet" or a state-dict path."""
    if backbone not in STAGE_CHANNELS:
        raise UserError(f"model.backbone: unknown backbone {backbone!r} (known: {', '.join(STAGE_CHANNELS)})")
    if backbone == "cnn4":
        if weights == "imagenet":
            raise UserError("model.weights: cnn4 has no ImageNet weights; set none (or a state-dict path)")
        resnet = SmallCNN()
    else:
        resnet = getattr(import_torchvision().models, backbone)(weights=None)
    _load_backbone_weights(resnet, backbone, weights)
    channels = STAGE_CHANNELS[backbone]
    features = MultiScaleFeatures(channels) if get_variant(variant).features == "multiscale" else PooledFeatures(channels)
    return PMTIQA(resnet, features, num_classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def imagenet_weights_file(backbone: str) -> tuple[str, Path]:
    """(url, file in the torch hub cache) of torchvision's ImageNet V1 weights for a backbone."""
    tv = import_torchvision()
    url = getattr(tv.models, _IMAGENET_WEIGHTS[backbone]).IMAGENET1K_V1.url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def _load_backbone_weights(resnet: nn.Module, backbone: str, weights: str) -> None:
    if weights == "none":
        return
    if weights == "imagenet":
        state = _imagenet_state_dict(backbone)
    else:
        path = Path(weights)
        if not path.is_file():
            raise UserError(f"model.weights: {weights!r} is neither 'none', 'imagenet' nor an existing file")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a pickle error, a truncated file, ...
            raise UserError(f"model.weights: cannot load {path}: {err}") from None
    # Accept a torchvision ResNet state dict; its ImageNet classifier (fc) is not part of our model.
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    try:
        result = resnet.load_state_dict(state, strict=False)
    except RuntimeError as err:  # tensors of the wrong shape
        raise UserError(f"model.weights: {weights} does not fit a {backbone}: {str(err)[:300]}") from None
    missing = [k for k in result.missing_keys if not k.startswith("fc.")]
    if missing or result.unexpected_keys:
        raise UserError(f"model.weights: {weights} does not fit a {backbone}: missing {missing[:3]}, "
                        f"unexpected {result.unexpected_keys[:3]}")


def _imagenet_state_dict(backbone: str) -> dict:
    url, file = imagenet_weights_file(backbone)
    if not file.is_file():
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(file), progress=on_terminal())
        except (URLError, OSError) as err:
            raise UserError(
                f"model.weights: imagenet: the ImageNet weights of {backbone} are not in the torch hub cache "
                f"and cannot be downloaded here ({err}). Fetch {url} on a machine with a network and place "
                f"it at {file} (the cache follows TORCH_HOME), or set model.weights to none (train from "
                f"scratch) or to the path of a state-dict file."
            ) from None
    return torch.load(file, map_location="cpu", weights_only=True)
