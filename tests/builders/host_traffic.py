"""What a CUDA graph cannot hold, seen on a CPU: the tests of captured regions (training steps, test
batches, the GPU benchmark's step) run them under HostTraffic."""
import torch


class HostTraffic(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the ops that a CUDA graph cannot hold and that show on a CPU: a tensor made from
    Python data (a copy from the host), a value read back to the host (.item(), a branch on a
    tensor), and ops whose output size depends on values (nonzero, masked_select, boolean masks),
    which read back a count. A copy between devices cannot show on a CPU: .cpu(), .numpy() and
    .tolist() are refused outright while it records."""

    FORBIDDEN = ("aten.lift_fresh", "aten._local_scalar_dense", "aten.nonzero", "aten.masked_select",
                 "aten.index.Tensor", "aten.index_put")

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if str(func).startswith(self.FORBIDDEN) and not (str(func) == "aten.index.Tensor" and not any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] if i is not None)):
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


def refuse(name):
    def refused(*args, **kwargs):
        raise AssertionError(f"Tensor.{name}() inside a region a CUDA graph captures")
    return refused
