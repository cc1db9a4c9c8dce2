"""What the report calls a variant: its name in the paper only where the runs used the paper's
backbone. The paper's names describe ResNet-50 networks (its baseline is called "ResNet50"), so a
run on another backbone is named by its own: `baseline` on cnn4 is "cnn4", `ms_pmt` "PMT-IQA on cnn4"."""
from __future__ import annotations

from pmtiqa.method.variants import VARIANTS

PAPER_BACKBONE = "resnet50"


def shown_name(variant: str, backbone: str) -> str:
    """The variant's paper name where ``backbone`` is the paper's, else a name that says the backbone."""
    if backbone == PAPER_BACKBONE:
        return VARIANTS[variant].paper_name
    if variant == "baseline":  # the bare backbone: the paper names it after its ResNet-50
        return backbone
    return f"{VARIANTS[variant].paper_name} on {backbone}"


def backbones(results: dict, datasets=None) -> list[str]:
    """The backbones the runs of ``datasets`` (all the results' where None) used, each once, in order."""
    chosen = results if datasets is None else [ds for ds in datasets if ds in results]
    return list(dict.fromkeys(results[ds]["settings"]["model.backbone"] for ds in chosen))


def shown_names(variant: str, used: list[str]) -> str:
    """The variant's name over runs of several backbones: each backbone's name, once."""
    return ", ".join(dict.fromkeys(shown_name(variant, b) for b in used)) or VARIANTS[variant].paper_name
