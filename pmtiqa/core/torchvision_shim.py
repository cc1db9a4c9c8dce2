"""Import torchvision, working around a CUDA-only wheel on a CPU-only torch.

On the development and CI machines the only torchvision wheel that matches torch 2.13 is a CUDA
build: its compiled extension cannot load beside the CPU torch, and `import torchvision` then
fails while registering fake kernels for two operators whose schemas the extension would have
declared (`torchvision::nms` and `torchvision::qnms`). We only need torchvision's pure-Python
parts (the ResNet definitions and the weights enums), so when, and only when, the first import
fails that way we declare those two schemas ourselves and import again. On a machine where the
extension loads (the GPU machine), nothing is declared: declaring first would clash with it.
`torchvision.io` and `torchvision.ops` do not work under the shim; images are decoded with Pillow.
"""
from __future__ import annotations

import sys
import types

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library = None  # keeps the torch.library registration alive


def import_torchvision() -> types.ModuleType:
    global _library
    try:
        import torchvision
    except RuntimeError as err:
        if "torchvision::nms" not in str(err):
            raise
        import torch

        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]  # drop the half-imported package before trying again
        _library = torch.library.Library("torchvision", "DEF")
        for schema in _SCHEMAS:
            _library.define(schema)
        import torchvision
    return torchvision
