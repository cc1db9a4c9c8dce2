"""Where and how a run computes: device, precision, compilation, threads and seeds, chosen once from params."""
from __future__ import annotations

import contextlib
import os
import random
import shutil
from dataclasses import dataclass

import numpy as np
import torch

from pmtiqa.core.errors import UserError


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: str  # "bf16", "tf32" or "fp32", resolved
    compile: str = "none"  # "none" or a torch.compile mode (config.COMPILE_MODES)
    graphs: bool = False  # training steps and test batches replayed as CUDA graphs (cuda_graphs.py)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast, or nothing at fp32. A captured graph must recompute its bf16 weights on
        every replay, so under graphs autocast keeps no cache of them."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=not self.graphs)
        return contextlib.nullcontext()

    def compiled(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as the training step calls it: itself, or compiled. Compilation fuses the
        normalisation, activation and cast kernels around each convolution into a few (and
        "reduce-overhead" replays a GPU step as one CUDA graph); it shares the model's parameters
        and changes how fast a step runs, not the method (results agree to float rounding). The
        first call compiles, a minute or two; Inductor's on-disk cache makes later runs start in seconds."""
        return model if self.compile == "none" else torch.compile(model, mode=self.compile)


def resolve_device(name: str, key: str = "runtime.device") -> torch.device:
    """The device ``name`` (a form config.sections.DEVICE_NAME admits) names, where torch sees it;
    ``key``: where the user gave it, for messages."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"{key} {name!r}: this torch sees no CUDA device (use auto or cpu)")
    index = name.partition(":")[2]  # read here: torch keeps a device's index in 8 bits (cuda:256 is cuda:0)
    if name.startswith("cuda") and index and int(index) >= torch.cuda.device_count():
        raise UserError(f"{key} {name!r}: torch sees {torch.cuda.device_count()} CUDA device(s), numbered from 0")
    return torch.device(name)


def bf16_is_native(device: torch.device) -> bool:
    """Does the hardware compute bf16 natively? On a CPU without AVX512-BF16 or AMX, bf16 autocast
    is emulated: measured 5 to 15 times slower than fp32 on an AVX2-only EPYC."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def available_cores() -> int:
    """The cores this process may run on (a SLURM job's share, a taskset). Not OMP_NUM_THREADS,
    which Snakemake sets from a job's thread count: both engines must compute a run with the same
    number of threads, or its CPU reductions, and so its numbers, would differ between them."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def check_compiler(device: torch.device, mode: str) -> None:
    """torch.compile writes and builds native code: C++ on a CPU, Triton kernels (whose launchers
    are C) on a GPU. Without a compiler it fails at the first step with a long trace; say it now.
    The search is theirs: Inductor runs $CXX, else g++; Triton runs $CC, else gcc, else clang."""
    if mode == "none":
        return
    if device.type == "cpu":
        env, candidates = "CXX", [os.environ.get("CXX") or "g++"]
    else:
        env, candidates = "CC", [os.environ["CC"]] if os.environ.get("CC") else ["gcc", "clang"]
    if not any(shutil.which(c) for c in candidates):
        raise UserError(f"runtime.compile: {mode!r} needs a compiler on this {device.type.upper()}: "
                        f"{' or '.join(candidates)} (${env} names another) is not found; install one, "
                        f"or set runtime.compile: none")


def uses_graphs(device: torch.device, step: str, compile: str) -> bool:
    """runtime.step: graph on a CUDA device, unless torch.compile already decides how a step runs
    (its reduce-overhead mode captures graphs of its own)."""
    if step == "graph":
        if device.type != "cuda":
            raise UserError(f"runtime.step: 'graph' replays CUDA graphs, and runs compute on {device} "
                            f"(use auto or eager)")
        if compile != "none":
            raise UserError(f"runtime.step: 'graph' with runtime.compile {compile!r}: choose one (compile's "
                            f"reduce-overhead mode captures graphs itself)")
    return step == "graph" or (step == "auto" and device.type == "cuda" and compile == "none")


def resolve_precision(precision: str, device: torch.device) -> str:
    """runtime.precision as a run computes it: auto is bf16 where the hardware computes bf16
    natively, else fp32; tf32 off CUDA is fp32 (TF32 is a CUDA tensor-core format)."""
    if precision == "auto":
        return "bf16" if bf16_is_native(device) else "fp32"
    if precision == "tf32" and device.type != "cuda":
        return "fp32"
    return precision


def set_tf32(precision: str) -> None:
    """Whether CUDA's fp32 matmuls and convolutions may round their inputs to TF32 (a 10-bit
    mantissa). fp32 computes every product in full fp32, as the authors' runs did; tf32 trades that
    for tensor-core speed. bf16 keeps TF32 for what runs outside its autocast (the MS module and the
    heads): their inputs come from a backbone already rounded to bf16's 8-bit mantissa."""
    fast = precision in ("tf32", "bf16")
    torch.backends.cuda.matmul.allow_tf32 = fast
    torch.backends.cudnn.allow_tf32 = fast


def resolve_runtime(device: str, precision: str, threads: int, compile: str = "none", step: str = "eager") -> Runtime:
    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)
    check_compiler(dev, compile)
    graphs = uses_graphs(dev, step, compile)
    # A fixed thread count makes CPU reductions, and so a resumed run, compute the same way.
    torch.set_num_threads(threads or available_cores())
    if dev.type == "cuda":
        if dev.index is not None:  # cuda:N is the current device: where new streams and CUDA graphs'
            torch.cuda.set_device(dev)  # captures go (on another device's stream a graph records nothing)
        torch.backends.cudnn.benchmark = True
        set_tf32(precision)
    return Runtime(device=dev, precision=precision, compile=compile, graphs=graphs)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
