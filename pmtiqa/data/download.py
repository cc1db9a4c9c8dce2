"""The download stage: put a dataset into ``data/raw/<name>/`` in its published layout.

The source is an explicit ``source`` (a URL, a local archive or a local folder), else the dataset
module's ``PARTS`` (its official files or mirror), else, where the official site needs a form (livec,
live), a UserError saying where to get the archive and what command to run with it; ``synthetic`` is
generated. URLs are fetched into ``data/raw/.downloads/<name>/`` (fetch.py) and archives unpacked
(archives.py); the sha256 of every file is recorded in ``data/raw/.downloads/<name>/checksums.json``
and in ``data/raw/<name>/.download.json``, and a recorded one is verified before the file is reused,
so that rebuilding ``data/raw/<name>/`` needs no network. The folder is assembled in a temporary
folder and swapped in at the end, so an earlier copy survives any failure. A run holds
``data/raw/.downloads/<name>.lock`` (flock, released by the kernel when the process dies): the next
run removes the temporaries of a killed one, and a second live run stops. A local folder is copied
with its symlinks followed only to files inside it; one that leaves it, dangles, loops or names a
folder stops the run with its name.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

from pmtiqa.core.atomic import atomic_dir, parked_copy, remove_temporaries, restore_parked, write_json
from pmtiqa.core.checksum import sha256_file
from pmtiqa.core.errors import UserError
from pmtiqa.core.paths import DOWNLOAD_RECORD
from pmtiqa.core.processes import die_with_parent
from pmtiqa.data.archives import ARCHIVES, MAX_DEPTH, find_root, is_archive, unpack_layout
from pmtiqa.data.datasets import module as dataset_module
from pmtiqa.data.datasets import synthetic
from pmtiqa.data.datasets.base import Part
from pmtiqa.data.datasets.custom import IMAGES, LABELS, CustomDataset
from pmtiqa.data.folder_copy import check_link, copy_folder
from pmtiqa.data.fetch import check_url, fetch_verified, file_name, is_url, split_checksum, url_key

log = logging.getLogger(__name__)

CHECKSUMS = "checksums.json"  # inside data/raw/.downloads/<name>/


def download(name: str, dest: Path, source: str | None = None, custom: dict | None = None) -> None:
    """Fill ``dest`` (``data/raw/<name>/``) from ``source`` or the dataset's default source (a
    ``custom`` dataset's: the folder and CSV its params.custom_datasets entry declares)."""
    dest = Path(dest)
    fill = _filler(name, dataset_module(name, custom), dest, source)
    if fill is None:
        return
    with _exclusive_run(dest):
        _clear_killed_run(dest)
        fill()


def _filler(name: str, module, dest: Path, source: str | None) -> Callable[[], None] | None:
    """What fills ``dest``, checked before anything is written; None when it already holds the data."""
    if name == "synthetic" and not source:
        return lambda: _generate_synthetic(dest)
    if isinstance(module, CustomDataset) and not source:
        return lambda: _from_custom(module, dest)
    if source and is_url(source):
        url, expected = split_checksum(source)
        check_url(url)
        part = Part(url, markers=module.MARKERS, sha256=expected)
        return lambda: _from_urls(name, module, (part,), dest, source)
    if source:
        return lambda: _from_local(name, module, Path(source).expanduser(), dest)
    if module.PARTS:
        for part in module.PARTS:
            check_url(part.url)
        return lambda: _from_urls(name, module, module.PARTS, dest, ", ".join(part.url for part in module.PARTS))
    if any((dest / marker).exists() for marker in module.MARKERS):
        # a form-gated dataset placed earlier, with --source or by hand: a run without a source
        # (`dvc repro` runs this stage so after the README's manual step) keeps it
        log.info("%s: holds %s (from %s); nothing to do", dest, name,
                 _read_json(dest / DOWNLOAD_RECORD).get("source", "a copy placed by hand"))
        return None
    if any((parked_copy(dest) / marker).exists() for marker in module.MARKERS):
        return lambda: log.info("%s: holds %s again; nothing else to do", dest, name)  # restored under the lock
    raise UserError(module.INSTRUCTIONS)


def _from_custom(dataset: CustomDataset, dest: Path) -> None:
    """The declared folder to data/raw/<name>/images/ and the CSV to data/raw/<name>/labels.csv."""
    spec, folder, labels = dataset.spec, Path(dataset.spec.images).expanduser(), Path(dataset.spec.labels).expanduser()
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder ({dataset.key('images')})")
    if not labels.is_file():
        raise UserError(f"{labels}: not a file ({dataset.key('labels')})")
    if dest.parent.resolve().is_relative_to(folder.resolve()):
        raise UserError(f"{folder}: holds {dest.parent}, where the copy would go ({dataset.key('images')})")
    with atomic_dir(dest) as tmp:
        log.info("%s: copying %s and %s", dataset.name, folder, labels)
        copy_folder(folder, tmp / IMAGES)
        shutil.copyfile(labels, tmp / LABELS)
        _write_record(tmp, dataset.name, f"{spec.images} and {spec.labels}",
                      [{"path": str(labels), "file": LABELS, "sha256": sha256_file(tmp / LABELS)}])


def _generate_synthetic(dest: Path) -> None:
    with atomic_dir(dest) as tmp, _children_die_with_us():
        table = synthetic.generate(tmp)
        _write_record(tmp, "synthetic", "generated by pmtiqa.data.datasets.synthetic", [], n_images=len(table))


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
    remove_temporaries(dest.parent / ".downloads" / dest.name / CHECKSUMS)


# -- worker processes die with the stage ---------------------------------------------------------
# synthetic.generate starts its own process pool, with no initializer to call die_with_parent from,
# so a fork hook calls it in each child forked while the generator runs.

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

def _from_urls(name: str, module: ModuleType, parts, dest: Path, label: str) -> None:
    """Fetch each part into its URL's cache folder, verified against the checksum known for it (the
    part's own, else one recorded by an earlier download), record its sha256, then assemble ``dest``."""
    cache = dest.parent / ".downloads" / dest.name
    cache.mkdir(parents=True, exist_ok=True)
    recorded = _recorded_checksums(cache / CHECKSUMS)
    earlier = {f.get("url"): f.get("sha256") for f in _record_files(dest / DOWNLOAD_RECORD)}
    files = []
    for part in parts:
        target = cache / url_key(part.url) / file_name(part.url)
        expected = part.sha256 or recorded.get(part.url, {}).get("sha256") or earlier.get(part.url)
        digest = fetch_verified(part.url, target, expected)
        recorded[part.url] = {"url": part.url, "file": str(target.relative_to(cache)), "sha256": digest,
                              "bytes": target.stat().st_size}
        write_json(cache / CHECKSUMS, recorded)
        files.append((part, target, {"url": part.url, "file": target.name, "sha256": digest}))
    _assemble(name, module, files, dest, label)


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
        root = find_root(source, module.MARKERS)
        if root is not None:
            _adopt_folder(name, source, root, dest)
            return
        raise UserError(f"{source}: no {' or '.join(module.MARKERS)} inside (looked {MAX_DEPTH} folders deep): "
                        f"not a copy of the {name} dataset")
    if source.is_file() and is_archive(source):
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
    with atomic_dir(dest) as tmp:
        log.info("%s: adopting folder %s", name, root)
        copy_folder(root, tmp)
        _write_record(tmp, name, str(source), [{"path": str(root)}])


def _local_parts(module: ModuleType, folder: Path) -> list:
    """A folder holding every file of the module's PARTS by name (e.g. the three CSIQ files)."""
    found = [(part, folder / file_name(part.url)) for part in module.PARTS]
    if not found or not all(path.is_file() or path.is_symlink() for _, path in found):
        return []
    for _, path in found:
        if path.is_symlink():
            check_link(path, folder)
    return [(part, path, {"path": str(path), "file": path.name, "sha256": sha256_file(path)}) for part, path in found]


# -- assembling data/raw/<name>/ -----------------------------------------------------------------

def _assemble(name: str, module: ModuleType, files, dest: Path, label: str) -> None:
    """Extract or copy each (part, file) into place inside an atomic folder, check the layout."""
    with atomic_dir(dest) as tmp:
        for part, path, _ in files:
            _place(part, path, tmp, part.markers or module.MARKERS)
        if find_root(tmp, module.MARKERS, max_depth=0) is None:
            raise UserError(f"{label}: the result lacks {' or '.join(module.MARKERS)}: not the {name} layout")
        _write_record(tmp, name, label, [entry for _, _, entry in files])
    log.info("%s: ready in %s", name, dest)


def _place(part: Part, path: Path, tmp: Path, markers: tuple[str, ...]) -> None:
    into = tmp / part.into
    into.mkdir(parents=True, exist_ok=True)
    if is_archive(path):
        unpack_layout(path, into, markers, scratch=tmp)  # scratch inside tmp: atomic_dir cleans it up
    else:
        shutil.copyfile(path, into / path.name)


def _write_record(tmp: Path, name: str, source: str, files: list[dict], **extra) -> None:
    record = {"dataset": name, "source": source, "files": files,
              "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra}
    write_json(tmp / DOWNLOAD_RECORD, record)


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
