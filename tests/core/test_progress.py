"""Progress bars are drawn on a terminal and nowhere else: a log written to a file, or read by DVC,
Snakemake or CI, holds log lines and no bar frames."""
from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from pmtiqa.core import progress
from pmtiqa.core.progress import on_terminal, progress_bar
from pmtiqa.training.trainer import Trainer
from tests.builders.training import tiny_data, tiny_settings

PACKAGE = Path(progress.__file__).parent


class Stream(io.StringIO):
    """A stderr that says it is a terminal, or not."""

    def __init__(self, terminal: bool):
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


class NoIsatty:
    def write(self, text: str) -> int:
        return len(text)


def closed() -> io.StringIO:
    stream = io.StringIO()
    stream.close()  # its isatty raises ValueError
    return stream


@pytest.mark.parametrize("stderr, terminal", [
    (Stream(terminal=True), True),
    (Stream(terminal=False), False),
    (None, False),  # pythonw, or a daemon that closed it
    (NoIsatty(), False),
    (closed(), False),
])
def test_on_terminal_asks_stderr(monkeypatch, stderr, terminal):
    monkeypatch.setattr(sys, "stderr", stderr)
    assert on_terminal() is terminal


@pytest.mark.parametrize("terminal, show, drawn", [
    (True, True, True),
    (True, False, False),  # the caller's own reason to keep quiet (a tuning trial, a single batch)
    (False, True, False),
    (False, False, False),
])
def test_bar_is_drawn_only_on_a_terminal(monkeypatch, terminal, show, drawn):
    stderr = Stream(terminal)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert list(progress_bar(range(5), show=show, desc="count", mininterval=0)) == list(range(5))
    with progress_bar(total=3, show=show, desc="by hand", mininterval=0) as bar:
        bar.update(3)
    assert bool(stderr.getvalue()) is drawn


def bar_frames(text: str) -> int:
    return len(re.findall(r"batch/s|img/s|it/s|B/s", text))


@pytest.mark.parametrize("terminal", [True, False])
def test_a_training_epoch_draws_frames_only_on_a_terminal(monkeypatch, terminal):
    settings, runtime = tiny_settings(epochs=1)
    data = tiny_data()
    trainer = Trainer(settings, data, runtime)
    stderr = Stream(terminal)
    monkeypatch.setattr(sys, "stderr", stderr)
    trainer.train_epoch(data.splits[0]["train"])  # progress asked for, as `pmtiqa train` asks
    assert (bar_frames(stderr.getvalue()) > 0) is terminal


def test_every_bar_of_the_package_is_made_by_progress_py():
    """The decision lives in one place: no other module draws with tqdm or asks torch.hub for a bar."""
    makers = [str(path.relative_to(PACKAGE)) for path in sorted(PACKAGE.rglob("*.py"))
              if path.name != "progress.py" and re.search(r"\btqdm\b|progress=True", path.read_text())]
    assert makers == []
