"""Training-step throughput of pmtiqa against its ceiling and against a conventional pipeline.

Four ways to run the same training step (same model, batch and crop size), measured in one run:
  (a) ceiling:      pre-made normalised crops already on the device, our precision, layout,
                    compilation (runtime.compile, --compile) and launch (runtime.step, --step)
  (b) pmtiqa:       the trainer's own step (Trainer.step): crops/flips/normalisation gathered from
                    the uint8 cache on the device, our precision, layout, compilation and launch
  (c) conventional: JPEG files -> PIL decode -> torchvision transforms -> DataLoader with one
                    worker per core, our step as in (a) (so c differs from b by the data path alone)
  (d) authors:      the same conventional pipeline, eager, in fp32 and the default (NCHW) layout,
                    under PyTorch's default TF32 flags, as the authors' code runs it
It prints images per second and the ratios b/a (how close to the ceiling), b/c (the data path)
and b/d (what a user gains end to end), for each launch mode asked for: eager, and (on a GPU) graph,
where a, b and c replay each step as one CUDA graph (graphs.py). On a CPU it also prints (e), the convolutions' bound: the
images per second of a step that did nothing but its convolutions (PyTorch's oneDNN kernels at our
precision, in the faster layout, timed by the profiler), and e/d, the most that ANY engine built
on these kernels could gain over d on the machine it runs on. The ways take turns, round after round
(--rounds): a ratio is the median over rounds of the ratio within a round, and a rate the median
over rounds, because a shared machine's speed drifts by 15 % and more from minute to minute
(measured here) and two ways timed minutes apart would compare the machine, not the ways.
It imports nothing that the GPU machine lacks.

    python bench/bench_train.py                       # CPU: resnet18 and resnet50
    python bench/bench_train.py --backbones resnet50 --batch-sizes 12 96   # GPU: eager and graph
    python bench/bench_train.py --compile reduce-overhead --step eager   # a torch.compile mode
    python bench/bench_train.py --precision bf16 tf32   # a, b and c at each precision, a row each
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pmtiqa.compute.crops import IMAGENET_MEAN, IMAGENET_STD, random_crop_draws, random_crops
from pmtiqa.compute.cuda_graphs import StaticCall
from pmtiqa.compute.device_data import DeviceData
from pmtiqa.compute.runtime import Runtime, resolve_runtime, set_tf32
from pmtiqa.config.run_settings import Settings
from pmtiqa.config.sections import COMPILE_MODES, PRECISIONS, LossParams, ModelParams, TrainParams
from pmtiqa.core.torchvision_shim import import_torchvision
from pmtiqa.method.losses import pmt_loss, quality_level
from pmtiqa.method.model import build_model
from pmtiqa.training.trainer import Trainer

from photos import write_jpegs  # bench/photos.py, beside this script


# PyTorch's TF32 flags as a process starts (TF32 convolutions on, matmuls off): the authors' code never
# sets them, so (d) runs under these whatever our precision set for a, b and c.
PYTORCH_DEFAULT_TF32 = {"matmul": False, "conv": True}


@contextlib.contextmanager
def tf32_flags(matmul: bool, conv: bool):
    """CUDA's TF32 switches set for the block, and put back as they were after it."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, conv
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class JpegDataset(torch.utils.data.Dataset):
    """The authors' style of data path: decode a file per sample and transform it with torchvision."""

    def __init__(self, paths, scores, crop):
        tv = import_torchvision()
        t = tv.transforms
        self.paths, self.scores = paths, scores
        self.transform = t.Compose([t.RandomCrop(crop), t.RandomHorizontalFlip(), t.ToTensor(),
                                    t.Normalize(IMAGENET_MEAN, IMAGENET_STD)])

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as img:
            return self.transform(img.convert("RGB")), self.scores[i]


def make_step(backbone: str, runtime: Runtime, channels_last: bool):
    """A fresh model and its Adam, and a training step on given crops as Trainer.step computes it
    (replayed as a CUDA graph under runtime.graphs), called with (crops, targets, quality levels)."""
    device = runtime.device
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = build_model("ms_pmt", backbone).to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    lr = torch.tensor(1e-4, device=device) if runtime.graphs else 1e-4
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4, fused=cuda,
                                 capturable=cuda and runtime.graphs)
    forward = runtime.compiled(model)

    def update(x, target, level):
        with runtime.autocast():
            score, logits = forward(x)
        loss = pmt_loss(score, logits, target, level, 0.5, 0.5).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    # quality levels come with each batch, computed before it reaches the device, as the trainer's are
    # computed once with its data: quality_level's check reads the host, which a graph cannot hold
    return StaticCall(update, capture=cuda) if runtime.graphs else update


def trainer_step(backbone: str, batch: int, crop: int, cache: torch.Tensor, runtime: Runtime):
    """(b): the trainer's own step on random crops of the cache: Trainer.step after the draws."""
    n = len(cache)
    score = torch.rand(n, generator=torch.Generator().manual_seed(0)).to(cache.device)
    data = DeviceData(images=cache, sizes=None, score=score, level=quality_level(score, 10), mos=np.zeros(n),
                      names=[""] * n, bounds=(0.0, 1.0, True), splits=[], inputs=[])
    train = TrainParams(batch_size=batch, crop_size=crop, crops_per_image=1, lr=1e-4)
    trainer = Trainer(Settings("bench", "ms_pmt", 0, ModelParams(backbone=backbone, weights="none"), LossParams(),
                               train), data, runtime)
    trainer.task_weights.copy_(torch.tensor([0.5, 0.5]))
    trainer.full_batch = batch

    def step(index, _):
        trainer.step(index, *random_crop_draws(cache, index, crop, trainer.generator))
    return step


def conv_probe(backbone: str, batch: int, crop: int, runtime: Runtime):
    """(e) A function measuring the images per second of a step that cost only its convolutions (CPU):
    the profiler's self time of the convolution ops, forward and backward, in the faster layout."""
    from torch.profiler import ProfilerActivity, profile

    eager = dataclasses.replace(runtime, compile="none", graphs=False)
    x, target = torch.randn(batch, 3, crop, crop), torch.rand(batch)
    level = quality_level(target, 10)
    layouts = [(make_step(backbone, eager, last), x.contiguous(memory_format=torch.channels_last) if last else x)
               for last in (True, False)]
    for step, inputs in layouts:
        step(inputs, target, level)  # oneDNN builds its kernels on the first call

    def measure() -> float:
        seconds = []
        for step, inputs in layouts:
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(2):
                    step(inputs, target, level)
            conv_us = sum(e.self_cpu_time_total for e in prof.key_averages() if "convolution" in e.key)
            seconds.append(conv_us / 1e6 / 2)
        return batch / min(seconds)
    return measure


def timed(step_fn, batches, warmup: int, device) -> float:
    """Images per second over the batches (each the arguments of one step) after `warmup` of them."""
    count, started = 0, None
    for i, batch in enumerate(batches):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started, count = time.perf_counter(), 0
        step_fn(*batch)
        count += len(batch[0])
    if device.type == "cuda":
        torch.cuda.synchronize()
    return count / (time.perf_counter() - started)


RATIOS = (("b", "a"), ("b", "c"), ("b", "d"), ("e", "d"))


def bench_one(backbone: str, batch: int, steps: int, warmup: int, crop: int, jpegs: list[Path],
              cache: torch.Tensor, runtime: Runtime, rounds: int) -> tuple[dict, dict]:
    """(median images/s of each way, median over rounds of each ratio within its round)."""
    ours = make_step(backbone, runtime, channels_last=True)  # compiled once, then shared by a and c
    trainer = trainer_step(backbone, batch, crop, cache, runtime)
    authors = make_step(backbone, Runtime(device=runtime.device, precision="fp32"), channels_last=False)
    probe = conv_probe(backbone, batch, crop, runtime) if runtime.device.type == "cpu" else None
    per_round = []
    for _ in range(rounds):
        set_tf32(runtime.precision)  # ours, as a run at this precision sets them
        rates = bench_round(ours, trainer, authors, batch, steps, warmup, crop, jpegs, cache, runtime.device)
        if probe:
            rates["e"] = probe()
        per_round.append(rates)
    return summarise(per_round)


def summarise(per_round: list[dict]) -> tuple[dict, dict]:
    """(median rate of each way, median over rounds of each round's own ratio): a ratio within a round
    compares the ways at one speed of the machine, which drifts from round to round."""
    ways = per_round[0].keys()
    rates = {w: statistics.median(r[w] for r in per_round) for w in ways}
    ratios = {f"{x}/{y}": statistics.median(r[x] / r[y] for r in per_round) for x, y in RATIOS if x in ways}
    return rates, ratios


def bench_round(ours, trainer, authors, batch: int, steps: int, warmup: int, crop: int, jpegs: list[Path],
                cache: torch.Tensor, device: torch.device) -> dict:
    n = len(jpegs)
    scores = torch.rand(n, generator=torch.Generator().manual_seed(0))
    total = steps + warmup
    results = {}
    # (a) ceiling: crops made in advance, already on the device
    premade = [random_crops(cache, torch.randint(0, n, (batch,), device=device), crop,
                            torch.Generator(device).manual_seed(i)) for i in range(min(total, 4))]
    target, level = scores[:batch].to(device), quality_level(scores[:batch], 10).to(device)
    results["a"] = timed(ours, ((premade[i % len(premade)], target, level) for i in range(total)), warmup, device)

    # (b) pmtiqa: the trainer's step, which gathers its crops from the on-device uint8 cache
    gen = torch.Generator(device).manual_seed(1)
    index_batches = ((torch.randint(0, n, (batch,), device=device, generator=gen), None) for _ in range(total))
    results["b"] = timed(trainer, index_batches, warmup, device)

    # (c) and (d): the conventional pipeline
    workers = os.cpu_count() or 1
    dataset = JpegDataset(jpegs, scores, crop)

    def loader_batches(last: bool):
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                                             pin_memory=device.type == "cuda", drop_last=True,
                                             persistent_workers=True)  # a new pass spawns no workers
        produced = 0
        while produced < total:
            for x, y in loader:
                x, y = x.to(device, non_blocking=True), y.float()
                yield ((x.contiguous(memory_format=torch.channels_last) if last else x), y.to(device),
                       quality_level(y, 10).to(device))
                produced += 1
                if produced == total:
                    return

    results["c"] = timed(ours, loader_batches(True), warmup, device)
    with tf32_flags(**PYTORCH_DEFAULT_TF32):
        results["d"] = timed(authors, loader_batches(False), warmup, device)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[12])
    parser.add_argument("--steps", type=int, default=None, help="measured steps (default: 5 on CPU, 30 on GPU)")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--images", type=int, default=None, help="number of 500x500 JPEGs (default 96 CPU, 600 GPU)")
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--compile", default="none", choices=COMPILE_MODES,
                        help="torch.compile mode of a, b and c (runtime.compile)")
    parser.add_argument("--step", nargs="+", choices=("eager", "graph"),
                        help="launch modes of a, b and c (runtime.step; default: eager, and graph on a GPU)")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=["auto"],
                        help="precisions of a, b and c (runtime.precision), a row each; d stays the authors' fp32")
    parser.add_argument("--json", type=Path, help="also write the rows to this file (bench/gpu_table.py reads it)")
    args = parser.parse_args()

    device = resolve_runtime(args.device, "auto", 0).device
    modes = args.step or (["eager", "graph"] if device.type == "cuda" and args.compile == "none" else ["eager"])
    runtimes = {}  # by what they compute: off CUDA, tf32 is fp32
    for precision in args.precision:
        for mode in modes:
            rt = resolve_runtime(args.device, precision, 0, args.compile, mode)
            runtimes.setdefault((rt.precision, mode), rt)
    runtimes = list(runtimes.values())
    gpu = device.type == "cuda"
    steps = args.steps or (30 if gpu else 5)
    warmup = args.warmup or (5 if gpu else 1)
    count = args.images or (600 if gpu else 96)
    name = torch.cuda.get_device_name() if gpu else f"CPU, {os.cpu_count()} cores"
    print(f"device: {name}; our precision: {', '.join(dict.fromkeys(rt.precision for rt in runtimes))}, "
          f"compile: {args.compile}; torch {torch.__version__}; {count} JPEGs 500x500, crop {args.crop}, "
          f"{steps} measured steps after {warmup} warm-up, medians over {args.rounds} rounds")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        jpegs = write_jpegs(Path(tmp), count, (500, 500))
        cache = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB")) for p in jpegs])).to(device)
        bound = device.type == "cpu"
        header = f"{'backbone':<9} {'batch':>5} {'step':<5} {'ours':<5} | {'a ceiling':>9} {'b pmtiqa':>9} " \
                 f"{'c conv':>9} {'d authors':>9} | {'b/a':>5} {'b/c':>5} {'b/d':>5}"
        header += (f" | {'e convs':>8} {'e/d':>5}" if bound else "") + "   (images/s)"
        print(header)
        print("-" * len(header))
        for backbone in args.backbones:
            for batch in args.batch_sizes:
                for rt in runtimes:
                    mode = "graph" if rt.graphs else "eager"
                    r, q = bench_one(backbone, batch, steps, warmup, args.crop, jpegs, cache, rt, args.rounds)
                    rows.append({"backbone": backbone, "batch": batch, "step": mode, "precision": rt.precision,
                                 **r, **q})
                    line = f"{backbone:<9} {batch:>5} {mode:<5} {rt.precision:<5} | {r['a']:>9.1f} {r['b']:>9.1f} " \
                           f"{r['c']:>9.1f} {r['d']:>9.1f} | {q['b/a']:>5.2f} {q['b/c']:>5.2f} {q['b/d']:>5.2f}"
                    if bound:
                        line += f" | {r['e']:>8.1f} {q['e/d']:>5.2f}"
                    print(line, flush=True)
                    if args.json:  # after each row: a run cut short by its time limit keeps what it measured
                        args.json.write_text(json.dumps({"device": name, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
