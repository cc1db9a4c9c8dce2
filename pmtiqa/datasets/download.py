"""The download stage: put a dataset into ``data/raw/<name>/`` in its published layout.

Sources, in order of preference: an explicit ``source`` (a URL, a local archive or a local
folder), else the dataset module's ``PARTS`` (its official files or mirror), else, where the
official site needs a form (livec, live), a UserError saying where to get the archive and what
command to run with it. ``synthetic`` is generated.

How each promise is kept:
- One cache entry per URL: a URL is streamed into ``data/raw/.downloads/<name>/<key>/<file>.part``,
  where ``<key>`` is derived from the whole URL, so two URLs that end in the same file name never
  share a file, a checksum or a partial download. After a cut
  connection the next request asks for the rest with an HTTP Range header (several attempts per
  call, and the ``.part`` file survives for the next call). A finished file is renamed to its name.
- Checksums: the sha256 of every fetched file is recorded in ``data/raw/.downloads/<name>/checksums.json``
  and in ``data/raw/<name>/.download.json``. A known checksum (the module's, or a ``#sha256=<hex>``
  suffix on the source URL) or one recorded by an earlier download of the same URL is verified; a
  mismatch deletes the file and stops. The archives stay in ``.downloads`` so that rebuilding
  ``data/raw/<name>/`` needs no network; they are verified again before reuse.
- Safe extraction: every member of a zip or tar archive is checked before anything is written: an
  absolute path, a path that lands outside the target, a link that points outside it, or a device
  file stops with an error naming the archive and the member.
- Layout: archives often wrap the layout in a top folder; the folder holding one of the module's
  ``MARKERS`` (or a part's own markers) is hoisted to its place, and the rest is dropped.
- Atomicity: ``data/raw/<name>/`` is assembled in a temporary folder and swapped in at the end, so
  an earlier copy survives any failure and a new explicit source replaces it in one step.
- Kills: a run holds ``data/raw/.downloads/<name>.lock`` (flock, released by the kernel when the
  process dies), so the next run knows that the temporaries of ``<name>`` it finds belong to a
  dead run and removes them; a second live run of the same dataset stops instead. Worker processes
  (synthetic generation) are killed by the kernel when the stage dies.
- Local folders: symlinks are followed only to files inside the folder; one that leaves it,
  dangles, loops or names a folder stops the run with its name.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import socket
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from types import ModuleType

from pmtiqa.atomic import atomic_dir, parked_copy, remove_temporaries, restore_parked, write_json
from pmtiqa.checksum import sha256_file
from pmtiqa.datasets import module as dataset_module
from pmtiqa.datasets import synthetic
from pmtiqa.datasets.base import Part
from pmtiqa.errors import UserError
from pmtiqa.orphans import die_with_parent

log = logging.getLogger(__name__)

RECORD = ".download.json"  # provenance inside data/raw/<name>/
CHECKSUMS = "checksums.json"  # inside data/raw/.downloads/<name>/
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
CHUNK = 1 << 20
ATTEMPTS = 5  # per call; a later call resumes from the .part file
TIMEOUT_S = 60
MAX_DEPTH = 4  # how deep to look for a layout's markers inside an archive or folder


def download(name: str, dest: Path, source: str | None = None) -> None:
    """Fill ``dest`` (``data/raw/<name>/``) from ``source`` or the dataset's default source."""
    dest = Path(dest)
    fill = _filler(name, dataset_module(name), dest, source)
    if fill is None:
        return
    with _exclusive_run(dest):
        _clear_killed_run(dest)
        fill()


def _filler(name: str, module: ModuleType, dest: Path, source: str | None) -> Callable[[], None] | None:
    """What fills ``dest``, checked before anything is written; None when it already holds the data."""
    if name == "synthetic" and not source:
        return lambda: _generate_synthetic(dest)
    if source and _is_url(source):
        url, expected = _split_checksum(source)
        _check_url(url)
        part = Part(url, markers=module.MARKERS, sha256=expected)
        return lambda: _from_urls(name, module, (part,), dest, source)
    if source:
        return lambda: _from_local(name, module, Path(source).expanduser(), dest)
    if module.PARTS:
        for part in module.PARTS:
            _check_url(part.url)
        return lambda: _from_urls(name, module, module.PARTS, dest, ", ".join(part.url for part in module.PARTS))
    if any((dest / marker).exists() for marker in module.MARKERS):
        # a form-gated dataset placed earlier, with --source or by hand: a run without a source
        # (`dvc repro` runs this stage so after the README's manual step) keeps it
        log.info("%s: holds %s (from %s); nothing to do", dest, name,
                 _read_json(dest / RECORD).get("source", "a copy placed by hand"))
        return None
    if any((parked_copy(dest) / marker).exists() for marker in module.MARKERS):
        return lambda: log.info("%s: holds %s again; nothing else to do", dest, name)  # restored under the lock
    raise UserError(module.INSTRUCTIONS)


def _generate_synthetic(dest: Path) -> None:
    with atomic_dir(dest) as tmp, _children_die_with_us():
        table = synthetic.generate(tmp)
        _write_record(tmp, "synthetic", "generated by pmtiqa.datasets.synthetic", [], n_images=len(table))


# -- one live run per dataset, and what a killed one left ------------------------------------------

@contextlib.contextmanager
def _exclusive_run(dest: Path) -> Iterator[None]:
    """Hold ``data/raw/.downloads/<name>.lock`` for the run; stop if a live run of ``<name>`` holds it.

    flock dies with its holder, so a lock that can be taken means every temporary of ``<name>``
    belongs to a dead run.
    """
    lock = dest.parent / ".downloads" / f"{dest.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{dest}: another `pmtiqa download --dataset {dest.name}` is running "
                            f"(it holds {lock}); wait for it to finish") from None
        yield
    finally:
        os.close(fd)


def _clear_killed_run(dest: Path) -> None:
    """Undo what a killed run of this dataset left: a half-swapped folder, its temporaries, and those of
    its checksum record (the lock held, no live run owns them)."""
    restore_parked(dest)
    remove_temporaries(dest)
    remove_temporaries(dest.parent / ".downloads" / dest.name / "checksums.json")


# -- worker processes die with the stage ---------------------------------------------------------

# The pid whose forked children get a parent-death signal; None outside _children_die_with_us.
_pdeathsig_parent: int | None = None


@contextlib.contextmanager
def _children_die_with_us() -> Iterator[None]:
    """Processes forked meanwhile (the generator's process pool) are killed by the kernel when this
    process dies: a pool's workers otherwise outlive a SIGKILL of the stage, waiting for work forever."""
    global _pdeathsig_parent
    _pdeathsig_parent = os.getpid()
    try:
        yield
    finally:
        _pdeathsig_parent = None


def _ask_for_death_with_parent() -> None:
    """In a child just forked inside _children_die_with_us: SIGKILL when the parent dies."""
    if _pdeathsig_parent is not None:
        die_with_parent(_pdeathsig_parent)


# Forks made by multiprocessing's default "fork" start method run this hook; "spawn" and
# "forkserver" start fresh interpreters, which do not.
os.register_at_fork(after_in_child=_ask_for_death_with_parent)


# -- sources ------------------------------------------------------------------------------------

def _is_url(source: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source) is not None


def _split_checksum(source: str) -> tuple[str, str | None]:
    """'URL#sha256=HEX' -> (URL, HEX); a plain URL -> (URL, None)."""
    url, _, fragment = source.partition("#")
    if not fragment.startswith("sha256="):
        return source, None
    digest = fragment.removeprefix("sha256=").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise UserError(f"{source}: the checksum after '#sha256=' must be 64 hex digits, not {digest!r}")
    return url, digest


def _check_url(url: str) -> None:
    """Stop with the URL named unless it is an http(s) URL that urllib can request as it is."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as err:
        raise UserError(f"{url}: not a valid URL ({err})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UserError(f"{url}: only http and https URLs are fetched (give a local file or folder as its path)")
    if not parts.hostname:
        raise UserError(f"{url}: the URL names no host")
    if re.search(r"[\x00-\x20\x7f]", url):
        raise UserError(f"{url!r}: a URL cannot hold spaces or control characters (percent-encode them)")
    _file_name(url)


def _from_urls(name: str, module: ModuleType, parts, dest: Path, label: str) -> None:
    cache = dest.parent / ".downloads" / dest.name
    cache.mkdir(parents=True, exist_ok=True)
    recorded = _recorded_checksums(cache / CHECKSUMS)
    earlier = {f.get("url"): f.get("sha256") for f in _record_files(dest / RECORD)}
    files = []
    for part in parts:
        target = cache / _url_key(part.url) / _file_name(part.url)
        expected = part.sha256 or recorded.get(part.url, {}).get("sha256") or earlier.get(part.url)
        digest = _fetch_verified(part.url, target, expected)
        recorded[part.url] = {"url": part.url, "file": str(target.relative_to(cache)), "sha256": digest,
                              "bytes": target.stat().st_size}
        write_json(cache / CHECKSUMS, recorded)
        files.append((part, target, {"url": part.url, "file": target.name, "sha256": digest}))
    _assemble(name, module, files, dest, label)


def _url_key(url: str) -> str:
    """The cache folder of one URL: a digest of the whole URL, so that equal file names never meet."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _recorded_checksums(path: Path) -> dict[str, dict]:
    """checksums.json by URL (an older file keyed by file name carries the URL in each entry)."""
    return {entry.get("url", key): entry for key, entry in _read_json(path).items() if isinstance(entry, dict)}


def _record_files(path: Path) -> list[dict]:
    files = _read_json(path).get("files", [])
    return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []


def _from_local(name: str, module: ModuleType, source: Path, dest: Path) -> None:
    if source.is_dir():
        files = _local_parts(module, source)  # first: a folder of the official files (csiq, koniq)
        if files:
            _assemble(name, module, files, dest, str(source))
            return
        root = _find_root(source, module.MARKERS)
        if root is not None:
            _adopt_folder(name, source, root, dest)
            return
        raise UserError(f"{source}: no {' or '.join(module.MARKERS)} inside (looked {MAX_DEPTH} folders deep): "
                        f"not a copy of the {name} dataset")
    if source.is_file() and _is_archive(source):
        entry = {"path": str(source), "file": source.name, "sha256": sha256_file(source)}
        _assemble(name, module, [(Part(str(source), markers=module.MARKERS), source, entry)], dest, str(source))
        return
    if source.is_symlink():
        raise UserError(f"{source}: a symlink to {os.readlink(source)!r}, which does not exist (--source for {name})")
    if not source.exists():
        raise UserError(f"{source}: no such file or folder (--source for {name})")
    raise UserError(f"{source}: neither a folder nor an archive ({', '.join(ARCHIVES)})")


def _adopt_folder(name: str, source: Path, root: Path, dest: Path) -> None:
    """Copy the dataset folder ``root`` (found inside ``source``) into ``dest``."""
    if dest.parent.resolve().is_relative_to(root.resolve()):
        raise UserError(f"{root}: holds {dest.parent}, where the copy would go; give the dataset's own folder")
    _check_links(root)
    with atomic_dir(dest) as tmp:
        log.info("%s: adopting folder %s", name, root)
        shutil.copytree(root, tmp, dirs_exist_ok=True)  # links are followed: all lead to files inside
        _write_record(tmp, name, str(source), [{"path": str(root)}])


def _check_links(folder: Path) -> None:
    """Stop at the first symlink under ``folder`` that is not a link to a file inside it."""
    for parent, dirs, files in os.walk(folder):
        for entry in sorted(dirs + files):
            if (Path(parent) / entry).is_symlink():
                _check_link(Path(parent) / entry, folder)


def _check_link(link: Path, folder: Path) -> None:
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


def _local_parts(module: ModuleType, folder: Path) -> list:
    """A folder holding every file of the module's PARTS by name (e.g. the three CSIQ files)."""
    found = [(part, folder / _file_name(part.url)) for part in module.PARTS]
    if not found or not all(path.is_file() or path.is_symlink() for _, path in found):
        return []
    for _, path in found:
        if path.is_symlink():
            _check_link(path, folder)
    return [(part, path, {"path": str(path), "file": path.name, "sha256": sha256_file(path)}) for part, path in found]


# -- assembling data/raw/<name>/ -----------------------------------------------------------------

def _assemble(name: str, module: ModuleType, files, dest: Path, label: str) -> None:
    """Extract or copy each (part, file) into place inside an atomic folder, check the layout."""
    with atomic_dir(dest) as tmp:
        for part, path, _ in files:
            _place(part, path, tmp, part.markers or module.MARKERS)
        if _find_root(tmp, module.MARKERS, max_depth=0) is None:
            raise UserError(f"{label}: the result lacks {' or '.join(module.MARKERS)}: not the {name} layout")
        _write_record(tmp, name, label, [entry for _, _, entry in files])
    log.info("%s: ready in %s", name, dest)


def _place(part: Part, path: Path, tmp: Path, markers: tuple[str, ...]) -> None:
    into = tmp / part.into
    into.mkdir(parents=True, exist_ok=True)
    if not _is_archive(path):
        shutil.copyfile(path, into / path.name)
        return
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=tmp))
    safe_extract(path, staging)
    root = _find_root(staging, markers)
    if root is None:
        raise UserError(f"{path}: no {' or '.join(markers)} inside (looked {MAX_DEPTH} folders deep): "
                        f"not the expected archive")
    for child in sorted(root.iterdir()):
        if child.name == "__MACOSX":
            continue
        if (into / child.name).is_dir() or (child.is_dir() and (into / child.name).exists()):
            raise UserError(f"{path}: folder {child.name} clashes with one from another part")
        if (into / child.name).exists():
            log.warning("%s: %s also came with an earlier part: keeping the first", path, child.name)
            continue
        os.replace(child, into / child.name)
    shutil.rmtree(staging)


def _find_root(tree: Path, markers: tuple[str, ...], max_depth: int = MAX_DEPTH) -> Path | None:
    """The shallowest folder under ``tree`` that holds one of ``markers`` (breadth first, sorted)."""
    level = [tree]
    for _ in range(max_depth + 1):
        for folder in level:
            if any((folder / marker).exists() for marker in markers):
                return folder
        level = [child for folder in level for child in sorted(folder.iterdir())
                 if child.is_dir() and not child.is_symlink() and not child.name.startswith((".", "__MACOSX"))]
    return None


def _write_record(tmp: Path, name: str, source: str, files: list[dict], **extra) -> None:
    record = {"dataset": name, "source": source, "files": files,
              "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra}
    write_json(tmp / RECORD, record)


def _read_json(path: Path) -> dict:
    """A JSON object written by an earlier run; {} when it is missing or damaged (it is advisory)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        log.warning("%s: not a JSON object: ignored", path)
        return {}
    return data


# -- safe extraction -----------------------------------------------------------------------------

def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVES)


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


# -- fetching ------------------------------------------------------------------------------------

def _file_name(url: str) -> str:
    """The name a URL's file is stored under: its last path segment, decoded, if that is a plain name.

    The segment is split off before decoding, so that %2F cannot smuggle in a folder and
    %2E%2E cannot name the parent folder.
    """
    segment = urllib.parse.urlsplit(url).path.rpartition("/")[2]
    name = urllib.parse.unquote(segment)
    if not name:
        return "download"
    if name.startswith(".") or re.search(r"[/\\\x00-\x1f\x7f]", name) or len(name.encode()) > 200:
        raise UserError(f"{url}: its file name {name!r} is not a plain file name")
    return name


def _fetch_verified(url: str, target: Path, expected: str | None) -> str:
    """Fetch ``url`` to ``target`` unless a verified copy is there; return its sha256."""
    if target.is_file():
        digest = sha256_file(target)
        if expected is None or digest == expected:
            log.info("%s: reusing %s (sha256 %s)", url, target, digest[:12])
            return digest
        log.warning("%s: sha256 %s, expected %s: fetching it again", target, digest, expected)
        target.unlink()
    fetch(url, target)
    digest = sha256_file(target)
    if expected is not None and digest != expected:
        target.unlink()
        raise UserError(f"{url}: checksum mismatch: sha256 {digest}, expected {expected}; "
                        f"the file was deleted")
    return digest


def fetch(url: str, target: Path, attempts: int | None = None) -> None:
    """Stream ``url`` into ``target`` via ``target.part``, resuming with HTTP Range after a cut."""
    attempts = attempts or ATTEMPTS  # read at call time, so that the module's setting applies
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    total, last_error = None, None
    for attempt in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        try:
            total = _fetch_once(url, part, have)
        except urllib.error.HTTPError as err:
            if err.code == 416 and have and _range_total(err.headers.get("Content-Range")) == have:
                total = have  # the .part file already holds everything
            elif err.code >= 500:
                last_error = err
                _pause(attempt)
                continue
            else:
                raise UserError(f"{url}: HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            if _name_does_not_resolve(err):
                raise UserError(f"{url}: cannot reach the host {_host(url)!r}: its name does not resolve "
                                f"({err.reason.strerror}); check the URL and the network") from None
            last_error = err
            _pause(attempt)
            continue
        size = part.stat().st_size if part.exists() else 0
        if total is None or size == total:
            os.replace(part, target)
            return
        if size > total:
            part.unlink()
            last_error = f"got {size} bytes, more than the announced {total}"
        else:
            last_error = f"connection closed after {size} of {total} bytes"
    raise _gave_up(url, part, attempts, last_error)


def _gave_up(url: str, part: Path, attempts: int, last_error) -> UserError:
    """The error after the last attempt: the host was never reached, or the download is incomplete."""
    have = part.stat().st_size if part.exists() else 0
    kept = f"; {have} bytes kept in {part}: run the same command again to resume" if have else ""
    if _never_connected(last_error):
        return UserError(f"{url}: cannot reach the host {_host(url)!r} after {attempts} attempts "
                         f"({last_error.reason}){kept}")
    return UserError(f"{url}: download incomplete after {attempts} attempts ({last_error}); {have} bytes kept "
                     f"in {part}: run the same command again to resume")


def _never_connected(err) -> bool:
    """urllib wraps the errors of connecting (refused, unreachable, timed out) in a plain URLError."""
    return (isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError)
            and isinstance(err.reason, OSError))


def _name_does_not_resolve(err: Exception) -> bool:
    return isinstance(err, urllib.error.URLError) and isinstance(err.reason, socket.gaierror)


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or url


def _fetch_once(url: str, part: Path, have: int) -> int | None:
    """One request; append to ``part`` (or restart it); return the full size when announced."""
    from tqdm import tqdm

    headers = {"User-Agent": "pmtiqa-download", **({"Range": f"bytes={have}-"} if have else {})}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S) as response:
        status = response.status or 200
        if status == 206:
            if _range_start(response.headers.get("Content-Range")) != have:
                part.unlink(missing_ok=True)  # not the range we asked for: start over next attempt
                raise http.client.HTTPException(f"unexpected Content-Range {response.headers.get('Content-Range')!r}")
            total = _range_total(response.headers.get("Content-Range"))
            mode = "ab"
        else:  # a full response: the server ignored the Range, or none was asked
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            have, mode = 0, "wb"
        with open(part, mode) as out, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                           unit_divisor=1024, desc=part.name.removesuffix(".part"),
                                           mininterval=1.0) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    return total


def _range_start(header: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", header or "")
    return int(match[1]) if match else None


def _range_total(header: str | None) -> int | None:
    match = re.match(r"bytes (?:\d+-\d+|\*)/(\d+)", header or "")
    return int(match[1]) if match else None


def _pause(attempt: int) -> None:
    time.sleep(min(0.5 * attempt, 5.0))
