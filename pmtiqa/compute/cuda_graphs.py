"""Fixed-shape calls replayed as CUDA graphs: a training step, or a batch of test crops, launched as
one graph instead of hundreds of kernels. At the paper's batch of 12 a ResNet-50 step is short enough
on a GPU that launching its kernels one by one, not computing them, sets the pace.

A StaticCall keeps one set of input buffers per input shape. Each call copies its inputs into them
and runs the function on the buffers. On a GPU the first ``warmup`` calls of a shape run eagerly
(cuDNN's autotuning and the optimizer's lazy state happen there), the next one captures the
function's kernels into a graph, and every later call replays it. Every call does its work exactly
once: warm-up calls are real calls, and capture is followed by a replay.

What a captured function may do: read its inputs from the buffers it is given and any other tensor
that keeps its storage (the dataset, the parameters, a learning rate held in a tensor and filled in
place), write results into tensors that keep their storage, and never wait for the host (no .item(),
no branch on a tensor's value). A Python number it reads is frozen into the graph at capture.
Without capture (on a CPU) the same buffers and calls run eagerly: that is the path the CPU tests
hold equal to the plain eager one.
"""
from __future__ import annotations

import inspect
import weakref
from collections import Counter
from collections.abc import Callable

import torch

WARMUP_CALLS = 3  # PyTorch's guide warms a captured region up with a few eager iterations


class StaticCall:
    """``fn`` called on buffers of fixed shapes: replayed as a CUDA graph when ``capture``.

    ``fn`` is held weakly where it is a bound method: the object that owns this call (a trainer)
    is then freed, graphs and all, as soon as it is dropped, not at some later garbage collection.
    ``share_pool``: the graphs of all shapes draw on one memory pool, which is safe where nothing
    of a graph's memory outlives its replay but the result, and the caller uses that at once
    (batches of test crops); a training step keeps its gradients there, and keeps its own pool."""

    def __init__(self, fn: Callable, capture: bool, warmup: int = WARMUP_CALLS, share_pool: bool = False):
        self.fn = weakref.WeakMethod(fn) if inspect.ismethod(fn) else (lambda: fn)
        self.capture, self.warmup, self.share_pool = capture, warmup, share_pool
        self.buffers: dict[tuple, tuple[torch.Tensor, ...]] = {}
        self.graphs: dict[tuple, torch.cuda.CUDAGraph] = {}
        self.outputs: dict[tuple, object] = {}
        self.eager_calls: Counter = Counter()
        self.pool = None  # the shared pool, once a graph has made it
        self.stream = None  # the side stream of the warm-up calls, made at the first

    def __call__(self, *inputs: torch.Tensor):
        """fn's result on these inputs. A captured call's result lives in the graph's own memory:
        the next call of the same shape overwrites it, so use or copy it first."""
        key = tuple((tuple(x.shape), x.dtype, x.device) for x in inputs)
        buffers = self.buffers.get(key)
        if buffers is None:
            buffers = self.buffers[key] = tuple(x.clone() for x in inputs)
        else:
            for buffer, x in zip(buffers, inputs):
                buffer.copy_(x)
        fn = self.fn()
        if not self.capture:
            return fn(*buffers)
        if key in self.graphs:
            self.graphs[key].replay()
        elif self.eager_calls[key] < self.warmup:
            self.eager_calls[key] += 1
            return self.warm_up(fn, buffers)
        else:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                self.outputs[key] = fn(*buffers)
            self.graphs[key] = graph  # only once captured: a capture that failed is tried again
            if self.share_pool:
                self.pool = graph.pool()
            graph.replay()  # capture records the kernels without running them
        return self.outputs[key]

    def warm_up(self, fn: Callable, args: tuple):
        """fn(*args) on a side stream, ordered after and before the current one: PyTorch's guide
        warms a region up off the default stream, so that what it sets up lazily is not tied to
        that stream. One stream for every warm-up call: the allocator keeps freed memory per stream."""
        if self.stream is None:
            self.stream = torch.cuda.Stream()
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            out = fn(*args)
        torch.cuda.current_stream().wait_stream(self.stream)
        return out

    @property
    def captured(self) -> int:
        """How many shapes replay as graphs."""
        return len(self.graphs)
