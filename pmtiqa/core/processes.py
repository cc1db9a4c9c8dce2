"""Child processes that end with the command that started them.

A process pool's workers wait for work on a pipe they hold open themselves, and a split trained in
a process of its own would go on writing the checkpoint a rerun resumes from: when the command is
killed (SIGKILL), either would outlive it. A child that calls die_with_parent at its start is
killed by the kernel (Linux) or ends by itself (elsewhere) once its parent is gone.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal this process gets when its parent ends


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` (the pid that started it) ends, even by SIGKILL."""
    if os.getppid() == parent and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # no prctl to call: watch the parent instead
            threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if not sys.platform.startswith("linux"):
        threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)
