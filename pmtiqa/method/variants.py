"""The ablation variants: each is data, a feature choice and a task schedule.

| variant      | features     | schedule    | paper name         |
|--------------|--------------|-------------|--------------------|
| baseline     | pooled       | regression  | ResNet50           |
| ms           | multiscale   | regression  | MS                 |
| pmt          | pooled       | progressive | PMT                |
| ms_pmt       | multiscale   | progressive | PMT-IQA            |
| ms_fixed     | multiscale   | fixed       | type1              |
| ms_reverse   | multiscale   | reverse     | type2 (our reading)|
"""
from __future__ import annotations

from dataclasses import dataclass

FEATURES = ("pooled", "multiscale")
SCHEDULES = ("progressive", "fixed", "reverse", "regression")


@dataclass(frozen=True)
class Variant:
    name: str
    features: str  # "pooled": layer4 global average; "multiscale": the MS module
    schedule: str  # how lambda1 (regression) and lambda2 (classification) move over epochs
    paper_name: str

    @property
    def multitask(self) -> bool:
        """Is the variant trained on both tasks (any schedule but regression alone)?"""
        return self.schedule != "regression"


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("baseline", "pooled", "regression", "ResNet50"),
        Variant("ms", "multiscale", "regression", "MS"),
        Variant("pmt", "pooled", "progressive", "PMT"),
        Variant("ms_pmt", "multiscale", "progressive", "PMT-IQA"),
        Variant("ms_fixed", "multiscale", "fixed", "type1"),
        Variant("ms_reverse", "multiscale", "reverse", "type2 (our reading)"),
    )
}


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r} (known: {', '.join(VARIANTS)})") from None
