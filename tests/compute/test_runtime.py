"""runtime.precision: what each value computes in, and the TF32 flags it leaves for CUDA's fp32 products."""
import pytest
import torch

from pmtiqa.compute.runtime import resolve_device, resolve_precision, resolve_runtime, set_tf32
from pmtiqa.core.errors import UserError

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize("precision, tf32", [("fp32", False), ("tf32", True), ("bf16", True)])
def test_only_fp32_keeps_cuda_products_in_full_fp32(tf32_flags, precision, tf32):
    set_tf32("fp32" if tf32 else "tf32")  # start from the other setting
    set_tf32(precision)
    assert tf32_flags() == (tf32, tf32)


@pytest.mark.parametrize("asked, on_cuda, on_cpu", [
    ("fp32", "fp32", "fp32"), ("tf32", "tf32", "fp32"), ("bf16", "bf16", "bf16")])
def test_each_precision_resolves_per_device(asked, on_cuda, on_cpu):
    assert resolve_precision(asked, CUDA) == on_cuda and resolve_precision(asked, CPU) == on_cpu


def test_auto_is_bf16_where_native(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert resolve_precision("auto", CUDA) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert resolve_precision("auto", CUDA) == "fp32"


def test_tf32_on_a_cpu_is_fp32_and_leaves_the_flags_alone(tf32_flags):
    threads = torch.get_num_threads()
    set_tf32("tf32")
    try:
        runtime = resolve_runtime("cpu", "tf32", 1)
    finally:
        torch.set_num_threads(threads)
    assert runtime.precision == "fp32" and tf32_flags() == (True, True)


@pytest.mark.parametrize("name, ok", [("cuda:0", True), ("cuda:1", True), ("cuda:2", False), ("cuda", True),
                                      ("cuda:256", False), ("cuda:129", False)])  # torch keeps 8 bits: 256 is 0
def test_a_cuda_device_the_machine_lacks_is_named(monkeypatch, name, ok):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    if ok:
        assert str(resolve_device(name)) == name
    else:
        with pytest.raises(UserError, match=rf"runtime.device '{name}': torch sees 2 CUDA device\(s\), numbered from 0"):
            resolve_device(name)
