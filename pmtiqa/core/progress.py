"""Progress bars for people at a terminal, and none for logs.

A bar redraws itself several times a second; where stderr is not a terminal (a file, a pipe, DVC,
Snakemake, CI) each redraw would stay in the log as one more frame, burying its lines. So a bar is
drawn only where stderr is a terminal; elsewhere the stages' own log lines (one per epoch in
training, one per stage) say how far a run is. Every bar of the package is made here.
"""
from __future__ import annotations

import sys


def on_terminal() -> bool:
    """Is stderr, where bars are drawn, a terminal? Not when it was closed or replaced by a plain object."""
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(iterable=None, *, show: bool = True, **options):
    """A tqdm bar over ``iterable`` (or updated by hand, given ``total``), drawn only when ``show`` and
    stderr is a terminal; otherwise a silent one with the same interface."""
    from tqdm import tqdm  # here, so that importing a module that draws bars stays quick

    return tqdm(iterable, disable=not (show and on_terminal()), **options)
