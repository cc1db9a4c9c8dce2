"""Atomic writes: a killed stage never leaves a file or folder that looks finished.

Everything is written under a temporary name ``.<name>.<random>.tmp`` in the destination's folder
and then renamed, which is atomic on POSIX file systems. Each write first removes what a killed
earlier write of the same destination left behind (its temporaries, a half-swapped folder). A writer
holds a lock (flock) on its temporary until the rename, and the kernel drops it when the writer dies:
a temporary whose lock can be taken is a dead write's, one whose lock is held belongs to a live
writer of the same destination (tune workers sharing a folder each write best.json) and is left alone.
A folder has one writer at a time: where the system cannot exchange two names in one step (not
Linux), atomic_dir's swap is two renames, which a second writer of the same folder could interleave.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pmtiqa.core.errors import UserError

RENAME_EXCHANGE = 2  # renameat2(2) flag: swap two names in one step
AT_FDCWD = -100


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, mode: int) -> None:
    """mkstemp and mkdtemp create private (0600/0700) entries; give the result the usual permissions."""
    os.chmod(path, mode & ~_umask())


def parked_copy(dest: Path) -> Path:
    """Where the fallback swap of atomic_dir parks the previous folder for a moment."""
    return dest.with_name(f".{dest.name}.old")


def is_temporary(path: Path, dest: Path) -> bool:
    """Is ``path`` a temporary of ``dest`` (``.<name>.<random>.tmp`` beside it), not another name's?
    The random part never holds a dot, so ``.a.b.x.tmp`` belongs to ``a.b``, not to ``a``."""
    return os.path.abspath(path.parent) == os.path.abspath(dest.parent) and re.fullmatch(rf"\.{re.escape(dest.name)}\.[A-Za-z0-9_]+\.tmp",
                                                        path.name) is not None


def temporaries(dest: Path) -> list[Path]:
    """The temporaries of ``dest`` beside it."""
    if not dest.parent.is_dir():
        return []
    return sorted(p for p in dest.parent.iterdir() if is_temporary(p, dest))


def remove_temporaries(dest: Path) -> None:
    """Delete the temporaries a killed earlier write of ``dest`` left beside it (those no live
    writer holds), whether or not another writer removes or renames them at the same moment."""
    for tmp in temporaries(dest):
        try:
            fd = _open_leftover(tmp)
        except FileNotFoundError:
            continue  # removed, or renamed into place, by another writer meanwhile
        except PermissionError:
            continue  # another user's: its lock cannot be tested, so it may be a live write
        try:
            if fd is None or _try_lock(fd):
                _remove(tmp)
        finally:
            if fd is not None:
                os.close(fd)


def _open_leftover(tmp: Path) -> int | None:
    """A descriptor to lock ``tmp`` by: read-write for a file (NFS locks a file only through a
    descriptor open for writing), read-only for a folder; None for a symlink or a socket, which no
    write makes (removed as a name)."""
    flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a fifo opens without waiting for a writer
    try:
        return os.open(tmp, os.O_RDWR | flags)
    except IsADirectoryError:
        return os.open(tmp, os.O_RDONLY | flags)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENXIO):
            return None
        raise


# A file system without flock (an NFS mount without lock support), or one that cannot lock this kind
# of descriptor (a folder on NFS: EBADF)
NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EBADF)


def _try_lock(fd: int) -> bool:
    """Take ``fd``'s lock; False where a live writer holds it, or where the file system has no locks:
    there a live write's temporary cannot be told from a dead one's, and is left in place."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as err:
        if err.errno in NO_LOCKS:
            return False
        raise
    return True


def _hold_lock(fd: int) -> None:
    """Take ``fd``'s lock, waiting for a moment's holder; without locks, the write goes on unheld."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as err:
        if err.errno not in NO_LOCKS:
            raise


def _remove(path: Path) -> None:
    """Remove a file or folder that another process may be removing too."""
    def gone_is_fine(function, name, err: BaseException) -> None:
        if isinstance(err, FileNotFoundError):
            return
        if isinstance(err, OSError) and err.errno is not None:  # named by its whole path, not the bare name
            raise OSError(err.errno, err.strerror, name) from None
        raise err

    if path.is_dir() and not path.is_symlink():
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=gone_is_fine)
        else:
            shutil.rmtree(path, onerror=lambda function, name, info: gone_is_fine(function, name, info[1]))
    else:
        path.unlink(missing_ok=True)


def _held_temporary(dest: Path, folder: bool) -> tuple[Path, int]:
    """A new temporary of ``dest`` and an open descriptor holding its lock. Another writer's
    clearing may remove it between its making and its locking (then it is gone, or its link count
    is 0), and a fresh one is made."""
    prefix = f".{dest.name}."
    while True:
        if folder:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=dest.parent))
            try:
                fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=dest.parent)
            tmp = Path(name)
        _hold_lock(fd)
        if os.fstat(fd).st_nlink:
            return tmp, fd
        os.close(fd)


def restore_parked(dest: Path) -> None:
    """Undo a fallback swap of atomic_dir killed between its two renames: the parked folder goes
    back to ``dest`` where that is missing, and away where the new folder made it in."""
    old = parked_copy(dest)
    if old.is_dir() and dest.exists():
        shutil.rmtree(old)
    elif old.is_dir():
        os.replace(old, dest)


@contextlib.contextmanager
def _named_write_errors(dest: Path, own_temporary: bool = False) -> Iterator[None]:
    """An OSError of the file system (read-only, no space, no permission) as one line naming the path;
    with ``own_temporary`` (making or renaming this write's temporary), a temporary's name as
    ``dest``: the user knows where the file was going, never its temporary."""
    try:
        yield
    except OSError as err:
        if err.errno is None:
            raise
        where = err.filename or dest
        if own_temporary and is_temporary(Path(where), dest):
            where = dest
        raise UserError(f"{where}: cannot write ({err.strerror})") from None


@contextlib.contextmanager
def _named_as_destination(tmp: Path, dest: Path) -> Iterator[None]:
    """An OSError of the writing itself names the file where it was going (under ``dest``), not its
    temporary name: the user knows the one, never the other."""
    try:
        yield
    except OSError as err:
        for attr in ("filename", "filename2"):
            name = getattr(err, attr)
            if isinstance(name, (str, os.PathLike)) and Path(name).is_relative_to(tmp):
                setattr(err, attr, str(dest / Path(name).relative_to(tmp)) if Path(name) != tmp else str(dest))
        raise


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``dest``; rename it onto ``dest`` on success."""
    dest = Path(dest)
    with _named_write_errors(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_temporaries(dest)
    with _named_write_errors(dest, own_temporary=True):
        tmp, lock = _held_temporary(dest, folder=False)
    try:
        with _named_as_destination(tmp, dest):
            yield tmp
        with _named_write_errors(dest, own_temporary=True):
            _publish_mode(tmp, 0o666)
            os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
        os.close(lock)


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; swap it in for ``dest`` on success.

    An existing ``dest`` stays untouched until the new folder is complete, and is never missing:
    the swap is one exchange of names where the system has one (Linux), and otherwise a folder a
    kill leaves parked between two renames is put back first thing by the next write.
    """
    dest = Path(dest)
    with _named_write_errors(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        restore_parked(dest)
        remove_temporaries(dest)
    with _named_write_errors(dest, own_temporary=True):
        tmp, lock = _held_temporary(dest, folder=True)
    try:
        with _named_as_destination(tmp, dest):
            yield tmp
        with _named_write_errors(dest, own_temporary=True):
            _publish_mode(tmp, 0o777)
            _swap_in(tmp, dest)
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:  # the swap left a file that stood at ``dest`` here
            tmp.unlink(missing_ok=True)
        os.close(lock)


def _swap_in(new: Path, dest: Path) -> None:
    """Put the folder ``new`` at ``dest``; what was at ``dest`` ends up at ``new`` (or is removed)."""
    if not dest.exists():
        os.replace(new, dest)
    elif not _exchange(new, dest):
        old = parked_copy(dest)
        os.replace(dest, old)
        os.replace(new, dest)
        shutil.rmtree(old)


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` atomically (renameat2 RENAME_EXCHANGE); False where the
    system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except AttributeError:  # a C library older than glibc 2.28
        return False
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def write_text(dest: str | os.PathLike, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text)


def write_json(dest: str | os.PathLike, data: Any) -> None:
    """Strict JSON: a number that is not finite (the SRCC of constant predictions) is written as null."""
    write_text(dest, json.dumps(finite_or_null(data), indent=2, sort_keys=False, allow_nan=False) + "\n")


def null_as_nan(data: Any) -> Any:
    """finite_or_null undone: the numbers of a summary as written, null back to NaN (what every
    computation on them skips or shows as a dash)."""
    if data is None:
        return math.nan
    if isinstance(data, dict):
        return {key: null_as_nan(value) for key, value in data.items()}
    if isinstance(data, list):
        return [null_as_nan(value) for value in data]
    return data


def finite_or_null(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {key: finite_or_null(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_or_null(value) for value in data]
    return data
