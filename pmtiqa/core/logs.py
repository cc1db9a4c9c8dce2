"""One format for every line a pmtiqa process writes to stderr: the package's own, Python's warnings
and Optuna's (tune.log_optuna_as_ours) alike, in the command and in the processes it starts; and
an expected failure (bad input, a file that cannot be read or written) as one line."""
from __future__ import annotations

import logging
import warnings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool) -> None:
    """One format for every line of the log, the package's own and Python's warnings alike (Optuna's
    messages join them when `pmtiqa tune` starts: tune.log_optuna_as_ours)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT, datefmt="%H:%M:%S")
    warnings.showwarning = log_warning


def log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning as one log line. (logging.captureWarnings would log the warning's source
    line as a second line, and installs itself only once per process.)"""
    logging.getLogger("py.warnings").warning("%s:%d: %s: %s", filename, lineno, category.__name__,
                                             one_line(message))


def one_line(message: object) -> str:
    """A message as one line: YAML's and torch's run over several."""
    return " ".join(str(message).split())




def file_error(err: OSError) -> str:
    """An OSError as '<file>: <reason>', as the shell says it."""
    names = " -> ".join(str(name) for name in (err.filename, err.filename2) if name is not None)
    return f"{names}: {err.strerror or err}"
