"""One format for every line a pmtiqa process writes to stderr: the package's own, Python's warnings
and Optuna's (tuning.tune.log_optuna_as_ours) alike, in the command and in the processes it starts."""
from __future__ import annotations

import logging
import warnings

from pmtiqa.core.errors import one_line

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool) -> None:
    """One format for every line of the log, the package's own and Python's warnings alike (Optuna's
    messages join them when `pmtiqa tune` starts: tuning.tune.log_optuna_as_ours)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT, datefmt="%H:%M:%S")
    warnings.showwarning = log_warning


def log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning as one log line. (logging.captureWarnings would log the warning's source
    line as a second line, and installs itself only once per process.)"""
    logging.getLogger("py.warnings").warning("%s:%d: %s: %s", filename, lineno, category.__name__,
                                             one_line(message))
