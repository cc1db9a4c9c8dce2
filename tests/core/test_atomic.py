"""What atomic writes say when the writing fails: the file where it was going, never its temporary."""
import errno
import multiprocessing
import os
import re
import socket
from pathlib import Path

import pytest

from pmtiqa.core import atomic
from pmtiqa.core.atomic import atomic_dir, atomic_path, temporaries, write_text
from pmtiqa.core.errors import UserError


def full_disk(name: Path) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(name))


# (case, the writer, the file its body fails on (from the temporary), the name the error should give)
CASES = [
    ("a file", atomic_path, lambda tmp: tmp, lambda dest: dest),
    ("a file in a folder", atomic_dir, lambda tmp: tmp / "distorted" / "a.png", lambda dest: dest / "distorted" / "a.png"),
    ("the folder itself", atomic_dir, lambda tmp: tmp, lambda dest: dest),
    ("a file elsewhere", atomic_dir, lambda tmp: Path("/elsewhere/b.png"), lambda dest: Path("/elsewhere/b.png")),
]


@pytest.mark.parametrize("case, writer, failing, named", CASES, ids=[c[0] for c in CASES])
def test_a_failed_write_names_the_destination(tmp_path, case, writer, failing, named):
    dest = tmp_path / "out" / "synthetic"
    with pytest.raises(OSError) as err, writer(dest) as tmp:
        raise full_disk(failing(tmp))
    assert err.value.filename == str(named(dest)) and err.value.errno == errno.ENOSPC
    assert not dest.exists() and not temporaries(dest)  # nothing half-written is left


# -- writers of one destination side by side (tune workers sharing a folder each write best.json) --

@pytest.mark.parametrize("writer", [atomic_path, atomic_dir], ids=["file", "folder"])
def test_a_write_leaves_a_live_writers_temporary_alone(tmp_path, writer):
    """A second write of the same destination, while the first is still writing, removes only what a
    dead write left: the first one's temporary survives, and the first write completes after it."""
    dest = tmp_path / "runs" / "best.json"
    dead = dest.parent / f".{dest.name}.killed.tmp"
    with writer(dest) as first:
        dead.parent.mkdir(parents=True, exist_ok=True)
        dead.write_text("left by a killed write")
        with writer(dest) as second:
            assert first.exists() and not dead.exists()
            assert temporaries(dest) == sorted([first, second])
    assert dest.exists() and not temporaries(dest)


def test_a_temporary_gone_while_being_cleared_is_no_error(tmp_path, monkeypatch):
    """Two writers may clear the same dead temporary at once, or see another's temporary renamed
    into place between listing and removing it."""
    dest = tmp_path / "best.json"
    monkeypatch.setattr(atomic, "temporaries", lambda dest: [dest.parent / f".{dest.name}.vanished.tmp"])
    write_text(dest, "{}\n")
    assert dest.read_text() == "{}\n"


def _write_many(dest: str, n: int) -> None:
    for i in range(n):
        write_text(dest, f"{i}\n")


def test_processes_writing_one_file_at_once_all_succeed(tmp_path):
    dest = tmp_path / "best.json"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        pool.starmap(_write_many, [(str(dest), 300)] * 3)
    assert dest.read_text() == "299\n" and not temporaries(dest)


LEFTOVERS = [
    ("a file", lambda p: p.write_text("half")),
    ("a folder", lambda p: (p.mkdir(), (p / "a.png").write_text("half"))),
    ("a symlink to a file elsewhere", lambda p: p.symlink_to(p.parent.parent / "keep.txt")),
    ("a fifo (opening it would block)", os.mkfifo),
    ("a socket (it cannot be opened)", lambda p: socket.socket(socket.AF_UNIX).bind(str(p))),
]


@pytest.mark.parametrize("make", [c[1] for c in LEFTOVERS], ids=[c[0] for c in LEFTOVERS])
def test_what_a_dead_write_left_is_removed(tmp_path, make):
    dest = tmp_path / "out" / "best.json"
    dest.parent.mkdir()
    (tmp_path / "keep.txt").write_text("not a temporary")
    make(dest.parent / f".{dest.name}.dead.tmp")
    write_text(dest, "{}\n")
    assert os.listdir(dest.parent) == ["best.json"] and (tmp_path / "keep.txt").read_text() == "not a temporary"


def test_another_users_temporary_is_left_alone(tmp_path, monkeypatch):
    """Whether its writer lives cannot be tested (its lock needs it open): it may be a live write."""
    dest = tmp_path / "best.json"
    theirs = tmp_path / ".best.json.theirs.tmp"
    theirs.write_text("being written")
    real_open = os.open

    def refuse_theirs(path, *args, **kwargs):
        if Path(path) == theirs:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "open", refuse_theirs)
    write_text(dest, "{}\n")
    assert theirs.read_text() == "being written" and dest.read_text() == "{}\n"


def test_a_leftover_that_cannot_be_removed_is_named_by_its_whole_path(tmp_path, monkeypatch):
    dest = tmp_path / "cache"
    (tmp_path / ".cache.dead.tmp" / "sub").mkdir(parents=True)
    (tmp_path / ".cache.dead.tmp" / "sub" / "a.png").write_text("left")
    real_unlink = os.unlink

    def refuse(path, *args, **kwargs):  # what a read-only folder of another user gives
        if str(path) == "a.png":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refuse)
    named = r"^(.*)/\.cache\.dead\.tmp/sub/a\.png: cannot write \(Permission denied\)$"
    with pytest.raises(UserError, match=named), atomic_dir(dest):
        pass


def test_a_file_whose_temporary_cannot_be_made_is_named(tmp_path, monkeypatch):
    """mkstemp names the temporary it tried: the user knows the destination, not that name."""
    def refuse(*args, dir=None, prefix="", suffix="", **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(Path(dir) / f"{prefix}k2j4h5g6{suffix}"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(UserError, match=rf"^{re.escape(str(tmp_path))}/best.json: cannot write \(Permission denied\)$"):
        write_text(tmp_path / "best.json", "{}\n")


def test_on_a_file_system_without_locks_temporaries_are_left(tmp_path, monkeypatch):
    """There a live writer's temporary cannot be told from a killed one's: removing it would break
    the live write (tune workers on several nodes, each writing best.json as it stops)."""
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(atomic.fcntl, "flock", no_locks)
    dest = tmp_path / "best.json"
    with atomic_path(dest) as first:
        first.write_text("1\n")
        write_text(dest, "2\n")
        assert first.exists()
    assert dest.read_text() == "1\n" and not temporaries(dest)


def test_a_dead_temporary_that_cannot_be_removed_is_named_by_its_own_path(tmp_path, monkeypatch):
    dest = tmp_path / "best.json"
    dead = tmp_path / ".best.json.dead.tmp"
    dead.write_text("left")
    real_unlink = Path.unlink

    def refuse(path, *args, **kwargs):  # what a folder of another user's with the sticky bit gives
        if path == dead:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", refuse)
    with pytest.raises(UserError, match=rf"^{re.escape(str(dead))}: cannot write \(Operation not permitted\)$"):
        write_text(dest, "{}\n")


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_lock_refused_for_the_descriptor_s_kind_leaves_the_temporary(tmp_path, monkeypatch, kind):
    """NFS locks a file only through a descriptor open for writing, and a folder not at all (EBADF):
    a leftover there cannot be told from a live write's."""
    real_flock = atomic.fcntl.flock

    def nfs_flock(fd, operation):
        if atomic.fcntl.fcntl(fd, atomic.fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real_flock(fd, operation)

    monkeypatch.setattr(atomic.fcntl, "flock", nfs_flock)
    dest = tmp_path / "out"
    left = tmp_path / ".out.left.tmp"
    left.mkdir() if kind == "folder" else left.write_text("left by a killed write")
    write_text(dest, "1\n")
    assert left.exists() == (kind == "folder") and dest.read_text() == "1\n"  # a file's lock is taken: removed


def test_a_destination_given_relative_is_named_not_its_temporary(tmp_path, monkeypatch):
    """mkstemp names its temporary by an absolute path; the commands give relative destinations."""
    monkeypatch.chdir(tmp_path)
    Path("metrics").mkdir()
    Path("metrics/ms.json").mkdir()  # a folder where the file goes
    with pytest.raises(UserError, match=r"^metrics/ms.json: cannot write \(Is a directory\)$"):
        write_text("metrics/ms.json", "{}\n")


def test_a_folder_written_where_a_file_stood_leaves_no_temporary(tmp_path):
    dest = tmp_path / "split0"
    dest.write_text("a file in the folder's place")
    with atomic_dir(dest) as tmp:
        (tmp / "metrics.json").write_text("{}")
    assert (dest / "metrics.json").is_file() and os.listdir(tmp_path) == ["split0"]
