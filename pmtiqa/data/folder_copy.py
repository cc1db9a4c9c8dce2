"""A folder the user names, copied into the project (a custom dataset's images, a dataset given by
--source): symlinks are followed only to files inside it, anything but folders and regular files
is refused by name before the copy starts, and a file that cannot be copied (unreadable, a full
disk) stops it with one line. The caller copies into a temporary folder, so nothing half-copied
is ever left in place."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from pmtiqa.core.errors import UserError

SPECIAL = {stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
           stat.S_IFBLK: "a block device"}


def copy_folder(folder: Path, dest: Path) -> None:
    """``folder`` copied into ``dest``, links followed (all lead to files inside: check_entries).
    A file that cannot be copied (unreadable, a full disk) stops with one line naming it."""
    check_entries(folder)
    try:
        shutil.copytree(folder, dest, dirs_exist_ok=True)
    except shutil.Error as err:  # each file that failed, as (source, destination, why)
        failed = err.args[0]
        source, _, why = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise UserError(f"{source}: cannot be copied into the project: {why}{more}") from None


def check_entries(folder: Path) -> None:
    """Stop at the first entry under ``folder`` that is neither a folder, nor a regular file, nor a
    symlink to a file inside it: a named pipe or a socket would hang or break the copy."""
    for parent, dirs, files in os.walk(folder):
        for entry in sorted(dirs + files):
            path = Path(parent) / entry
            if path.is_symlink():
                check_link(path, folder)
                continue
            kind = stat.S_IFMT(path.lstat().st_mode)
            if kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise UserError(f"{path}: {SPECIAL.get(kind, 'a special file')}, not a regular file, in the source "
                                f"folder; move it out")


def check_link(link: Path, folder: Path) -> None:
    """A symlink may be copied when it leads to a file inside ``folder``; anything else is named."""
    target = os.readlink(link)
    try:
        resolved = link.resolve(strict=True)
    except FileNotFoundError:
        raise UserError(f"{link}: a dangling symlink (to {target!r}) in the source folder") from None
    except (RuntimeError, OSError):  # RuntimeError: a loop, as Python before 3.13 reports it
        raise UserError(f"{link}: a symlink loop (to {target!r}) in the source folder") from None
    if not resolved.is_relative_to(folder.resolve()):
        raise UserError(f"{link}: a symlink to {target!r}, outside the source folder {folder}; "
                        f"copy the file in its place")
    if resolved.is_dir():
        raise UserError(f"{link}: a symlink to the folder {target!r}; copy the folder in its place")
