"""One format for every line of the log: Python's warnings and Optuna's messages come out as the
package's own lines do (time, level, logger: message), one line each."""
from __future__ import annotations

import logging
import re
import subprocess
import sys
import warnings

import pytest

from pmtiqa.core import logs
from tests.builders import ROOT

LINE = r"\d\d:\d\d:\d\d {level} {logger}: {message}"

# A command whose handler warns and logs, run as the engines run it: stderr to a file, not a terminal.
WARNING_COMMAND = """
import logging, sys, warnings
from pmtiqa import cli
def command(args, params, files):
    warnings.warn("careful:\\n  over two lines")
    logging.getLogger("pmtiqa.stage").info("done")
    return 0
cli.cmd_predict = command  # predict reads no params file
sys.exit(cli.main(["predict", "--checkpoint", "model.pt", "image.png"]))
"""

OPTUNA_COMMAND = """
import sys
import optuna
from pmtiqa import cli
from pmtiqa.tuning.tune import log_optuna_as_ours
def command(args, params, files):
    log_optuna_as_ours()
    optuna.create_study(study_name="quiet").optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    return 0
cli.cmd_predict = command  # predict reads no params file
sys.exit(cli.main(["predict", "--checkpoint", "model.pt", "image.png"]))
"""


def stderr_lines(program: str) -> list[str]:
    run = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stderr.splitlines()


def test_a_warning_is_one_line_in_the_log_format():
    lines = stderr_lines(WARNING_COMMAND)
    assert len(lines) == 2, lines
    warning = LINE.format(level="WARNING", logger=r"py\.warnings",
                          message=r".+:\d+: UserWarning: careful: over two lines")
    assert re.fullmatch(warning, lines[0]), lines[0]
    assert re.fullmatch(LINE.format(level="INFO", logger=r"pmtiqa\.stage", message="done"), lines[1]), lines[1]


def test_optunas_messages_are_lines_in_the_log_format():
    pytest.importorskip("optuna")
    lines = stderr_lines(OPTUNA_COMMAND)
    assert lines and all(re.fullmatch(LINE.format(level="INFO", logger=r"optuna[\w.]*", message=".+"), line)
                         for line in lines), lines
    assert any("Trial 0 finished" in line for line in lines), lines


def test_the_warning_hook_logs_through_py_warnings(monkeypatch, caplog):
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # restored after the test
    logs.setup_logging(verbose=False)
    with caplog.at_level(logging.WARNING, logger="py.warnings"):
        warnings.warn("a\n  b", RuntimeWarning)
    [record] = [r for r in caplog.records if r.name == "py.warnings"]
    assert record.getMessage().endswith("RuntimeWarning: a b") and __file__ in record.getMessage()
