"""Errors the user can fix, and the one boundary where a process turns them into one line and an exit
status: 2 for bad input or a file that cannot be read or written, 130 for Ctrl-C."""
from __future__ import annotations

from collections.abc import Callable

BAD_INPUT, INTERRUPTED = 2, 130  # exit statuses


class UserError(Exception):
    """Bad input: a missing or corrupt file, a malformed label file, bad params, a bad argument.

    The message names the file, key or value at fault.
    """


def exit_status(work: Callable[[], int], say_error: Callable[[str], None],
                say_interrupted: Callable[[], None] = lambda: None) -> int:
    """``work()``'s exit status, at the boundary of a command or of a process it starts. Expected
    failures are said in one line (``say_error``) and give BAD_INPUT: bad input (UserError) and a
    file that cannot be read or written (an OSError that names it). Anything else is a bug, or the
    system's trouble, and keeps its traceback."""
    try:
        return work()
    except UserError as err:
        say_error(one_line(err))
    except OSError as err:
        if err.filename is None:  # not about a file the user named
            raise
        say_error(one_line(file_error(err)))
    except KeyboardInterrupt:
        say_interrupted()
        return INTERRUPTED
    return BAD_INPUT


def one_line(message: object) -> str:
    """A message as one line: YAML's and torch's run over several."""
    return " ".join(str(message).split())


def file_error(err: OSError) -> str:
    """An OSError as '<file>: <reason>', as the shell says it."""
    names = " -> ".join(str(name) for name in (err.filename, err.filename2) if name is not None)
    return f"{names}: {err.strerror or err}"
