"""Unpacking a dataset's zip or tar archive safely, and finding its layout inside, for the download stage.

Every member is checked before anything is written: an absolute path, a path that lands outside the
target, a link that points outside it, or a device file stops with an error naming the archive and
the member (tar's ``data`` extraction filter, where Python has it, is a second line of defence).
Archives often wrap a dataset's layout in a top folder: ``find_root`` looks for the shallowest folder
holding one of the layout's markers, and ``unpack_layout`` moves that folder's contents into place
and drops the rest.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from pmtiqa.core.errors import UserError

log = logging.getLogger(__name__)

ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
MAX_DEPTH = 4  # how deep to look for a layout's markers inside an archive or folder


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVES)


# -- the dataset's layout inside ---------------------------------------------------------------------

def unpack_layout(archive: Path, into: Path, markers: tuple[str, ...], scratch: Path) -> None:
    """Extract ``archive`` into a folder under ``scratch`` and move the contents of its layout's root
    (the folder holding one of ``markers``) into ``into``; a name an earlier archive brought stays."""
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=scratch))
    safe_extract(archive, staging)
    root = find_root(staging, markers)
    if root is None:
        raise UserError(f"{archive}: no {' or '.join(markers)} inside (looked {MAX_DEPTH} folders deep): "
                        f"not the expected archive")
    for child in sorted(root.iterdir()):
        if child.name == "__MACOSX":
            continue
        if (into / child.name).is_dir() or (child.is_dir() and (into / child.name).exists()):
            raise UserError(f"{archive}: folder {child.name} clashes with one from another part")
        if (into / child.name).exists():
            log.warning("%s: %s also came with an earlier part: keeping the first", archive, child.name)
            continue
        os.replace(child, into / child.name)
    shutil.rmtree(staging)


def find_root(tree: Path, markers: tuple[str, ...], max_depth: int = MAX_DEPTH) -> Path | None:
    """The shallowest folder under ``tree`` that holds one of ``markers`` (breadth first, sorted)."""
    level = [tree]
    for _ in range(max_depth + 1):
        for folder in level:
            if any((folder / marker).exists() for marker in markers):
                return folder
        level = [child for folder in level for child in sorted(folder.iterdir())
                 if child.is_dir() and not child.is_symlink() and not child.name.startswith((".", "__MACOSX"))]
    return None


# -- safe extraction ---------------------------------------------------------------------------------

def safe_extract(archive: Path, target: Path) -> None:
    """Extract a zip or tar archive into ``target`` after checking every member."""
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _check_zip_member(archive, zf, info, target)
                zf.extractall(target)
        else:
            with tarfile.open(archive, "r:*") as tf:
                members = tf.getmembers()
                for member in members:
                    _check_tar_member(archive, member, target)
                _extract_tar(archive, tf, target)
    except (zipfile.BadZipFile, tarfile.ReadError, EOFError) as err:
        raise UserError(f"{archive}: damaged or truncated archive ({err})") from None


def _refuse(archive: Path, member: str, why: str) -> UserError:
    return UserError(f"{archive}: refused member {member!r}: {why}; nothing was extracted")


def _inside(archive: Path, member: str, target: Path, relative: str, what: str) -> None:
    """Raise unless ``relative`` (a path inside the archive) stays inside ``target``."""
    if relative.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", relative):
        raise _refuse(archive, member, f"{what} is an absolute path")
    root = target.resolve()
    if not (root / relative).resolve().is_relative_to(root):
        raise _refuse(archive, member, f"{what} lands outside the target folder")


def _check_zip_member(archive: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    _inside(archive, info.filename, target, info.filename, "its path")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:  # a symlink stored the Unix way
        link = zf.read(info).decode("utf-8", "replace")
        _inside(archive, info.filename, target, str(PurePosixPath(info.filename).parent / link), f"its link {link!r}")


def _check_tar_member(archive: Path, member: tarfile.TarInfo, target: Path) -> None:
    _inside(archive, member.name, target, member.name, "its path")
    if member.issym():
        if member.linkname.startswith("/"):
            raise _refuse(archive, member.name, f"symlink to the absolute path {member.linkname!r}")
        _inside(archive, member.name, target, str(PurePosixPath(member.name).parent / member.linkname),
                f"its symlink {member.linkname!r}")
    elif member.islnk():
        _inside(archive, member.name, target, member.linkname, f"its hard link {member.linkname!r}")
    elif not (member.isfile() or member.isdir()):
        raise _refuse(archive, member.name, "a device or special file")


def _extract_tar(archive: Path, tf: tarfile.TarFile, target: Path) -> None:
    if not hasattr(tarfile, "data_filter"):  # Python without extraction filters: our checks stand
        tf.extractall(target)
        return
    try:
        tf.extractall(target, filter="data")  # a second line of defence behind our own checks
    except tarfile.FilterError as err:
        raise _refuse(archive, getattr(err, "tarinfo", None) and err.tarinfo.name or "?", str(err)) from None
