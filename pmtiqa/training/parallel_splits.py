"""A variant's splits trained several at once on one device (runtime.parallel_splits), each in a
process of its own.

A ResNet-50 at the paper's batch of 12 uses a fraction of a large GPU; several runs side by side use
more of it. Each process runs its split as `pmtiqa train --split k` would (split_run.py): it loads the
dataset onto the device, resumes its own checkpoint, and writes its split's folder. On a CPU its
files and numbers are those a sequential run writes (the tests hold them equal); on a GPU they are
as close as two sequential runs' are (cuDNN picks its kernels by timing them). Processes are
started, not forked: a CUDA context does not survive a fork. Each one dies with the command that
started it (Linux's parent-death signal), so that a killed stage leaves no orphan writing its
checkpoint while a rerun resumes from it.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from multiprocessing.connection import wait

from pmtiqa.compute.runtime import available_cores, resolve_device, uses_graphs
from pmtiqa.config.params import DatasetParams
from pmtiqa.core.errors import UserError, exit_status
from pmtiqa.core.logs import setup_logging
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.core.processes import die_with_parent
from pmtiqa.data.augment import load_cache
from pmtiqa.data.splits import check_split_count, read_splits
from pmtiqa.training.split_run import train_in_turn

log = logging.getLogger(__name__)


def train_concurrently(params: DatasetParams, files: DatasetFiles, variant: str, splits: list[int], code: dict,
                       at_once: int) -> None:
    """Train ``splits`` of the variant, at most ``at_once`` at a time, a process each. After a failure
    (each process logs its own reason: bad input fails them all alike) none starts; those running
    finish, and the command stops naming the splits that failed and those not started."""
    check_before_starting(params, files)
    warn_on_cpu(params, at_once)
    context = multiprocessing.get_context("spawn")
    pending, running, failed = list(splits), {}, []
    level = logging.getLogger("pmtiqa").getEffectiveLevel()
    log.info("training %s/%s: splits %s, %d at once, a process each", files.dataset, variant, splits, at_once)
    try:
        while pending or running:
            while pending and not failed and len(running) < at_once:
                k = pending.pop(0)
                process = context.Process(target=train_one, name=f"pmtiqa train {files.dataset}/{variant}/split{k}",
                                          args=(params, files, variant, k, code, os.getpid(), level))
                process.start()
                running[process.sentinel] = (k, process)
                log.info("%s/%s split %d: training in process %d", files.dataset, variant, k, process.pid)
            for sentinel in wait(list(running)):
                k, process = running.pop(sentinel)
                process.join()
                if process.exitcode != 0:
                    failed.append(k)
                if process.exitcode < 0:  # a signal: the process could say nothing itself
                    log.error("%s/%s split %d: its process was ended by %s (out of memory, or killed)",
                              files.dataset, variant, k, signal.Signals(-process.exitcode).name)
            if failed and not running:  # none starts after a failure
                break
    finally:  # interrupted (Ctrl-C reaching the command alone): end the splits running, which resume later
        for _, process in running.values():
            process.terminate()
            process.join()
    if failed:
        raise UserError(f"{files.dataset}/{variant}: split(s) {', '.join(map(str, sorted(failed)))} failed, for "
                        f"the reasons logged above" + (f"; split(s) {', '.join(map(str, pending))} not started"
                                                       if pending else ""))


def check_before_starting(params: DatasetParams, files: DatasetFiles) -> None:
    """What would stop every process alike, said once by the command: the runtime asked for, the
    cache (opened memory-mapped, not read) and the splits file."""
    r = params.runtime
    uses_graphs(resolve_device(r.device), r.step, r.compile)
    labels = load_cache(files.cache, params.made_as).labels
    held = read_splits(files.splits, len(labels), f"run `pmtiqa split --dataset {files.dataset}`")
    check_split_count(len(held), params.split.n_splits, files.splits, files.dataset)


def warn_on_cpu(params: DatasetParams, at_once: int) -> None:
    """Several runs on a CPU share its cores: each computes with runtime.threads (0: every core),
    as a run alone would, so that its numbers are the same; together they oversubscribe the cores."""
    if resolve_device(params.runtime.device).type == "cpu":
        threads = params.runtime.threads or available_cores()
        log.warning("runtime.parallel_splits %d on a CPU: %d runs of %d threads each share %d cores, which "
                    "slows them all; it pays on a GPU (a run's numbers depend on its thread count: fewer "
                    "threads each, runtime.threads, change them slightly)", at_once, at_once, threads,
                    available_cores())


def train_one(params: DatasetParams, files: DatasetFiles, variant: str, split: int, code: dict, parent: int,
              level: int) -> None:
    """A process's work: one split, with the command's log format and level. Its expected failures
    are one line and exit status 2, as the command's; Ctrl-C reaches the command and its processes
    alike, and the command says it."""
    die_with_parent(parent)
    setup_logging(verbose=level <= logging.DEBUG)
    sys.exit(exit_status(lambda: train_in_turn(params, files, variant, [split], code, progress=False) or 0,
                         lambda message: log.error("%s", message)))
