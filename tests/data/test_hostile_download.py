"""Hostile input for the download stage: look-alike URLs, offline hosts, URL path tricks, symlinks
in a folder source, and what a killed run leaves. Only a loopback server and files the test makes."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pmtiqa.cli import main
from pmtiqa.core.errors import UserError
from pmtiqa.data import download as dl
from pmtiqa.data import fetch
from tests.builders import ROOT
from tests.builders.web import BID_ZIP, cached, leftovers, zip_bytes

OTHER_ZIP = zip_bytes({"BID/DatabaseGrades.xls": b"other grades"})


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- 1. the cache is keyed by URL, not by file name ------------------------------------------------

def test_same_file_name_from_two_urls_is_fetched_twice(server, tmp_path: Path) -> None:
    server.files["/a/bid.zip"], server.files["/b/bid.zip"] = BID_ZIP, OTHER_ZIP
    dest = tmp_path / "raw" / "bid"
    for path, data in (("/a/bid.zip", BID_ZIP), ("/b/bid.zip", OTHER_ZIP)):
        dl.download("bid", dest, source=f"{server.url}{path}")
        record = json.loads((dest / ".download.json").read_text())["files"][0]
        assert record == {"url": f"{server.url}{path}", "file": "bid.zip", "sha256": hashlib.sha256(data).hexdigest()}
    assert [path for path, _ in server.requests] == ["/a/bid.zip", "/b/bid.zip"]
    assert (dest / "DatabaseGrades.xls").read_bytes() == b"other grades"
    checksums = json.loads((tmp_path / "raw" / ".downloads" / "bid" / "checksums.json").read_text())
    assert {url: entry["sha256"] for url, entry in checksums.items()} == {
        f"{server.url}/a/bid.zip": hashlib.sha256(BID_ZIP).hexdigest(),
        f"{server.url}/b/bid.zip": hashlib.sha256(OTHER_ZIP).hexdigest()}


def test_partial_download_of_one_url_is_not_resumed_from_another(server, tmp_path: Path) -> None:
    server.files["/b/bid.zip"] = OTHER_ZIP
    part = cached(tmp_path, "bid", f"{server.url}/a/bid.zip").with_name("bid.zip.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(BID_ZIP[:1000])
    dl.download("bid", tmp_path / "raw" / "bid", source=f"{server.url}/b/bid.zip")
    assert server.requests == [("/b/bid.zip", None)]  # a fresh request, no Range
    assert cached(tmp_path, "bid", f"{server.url}/b/bid.zip").read_bytes() == OTHER_ZIP
    assert part.read_bytes() == BID_ZIP[:1000]  # the other URL's partial download is kept for it


def test_checksum_file_of_an_older_layout_still_guards_its_url(server, tmp_path: Path) -> None:
    """checksums.json was keyed by file name, with the URL inside each entry."""
    server.files["/bid.zip"] = BID_ZIP
    cache = tmp_path / "raw" / ".downloads" / "bid"
    cache.mkdir(parents=True)
    (cache / "checksums.json").write_text(json.dumps({"bid.zip": {"url": f"{server.url}/bid.zip", "sha256": "0" * 64}}))
    with pytest.raises(UserError, match=r"bid\.zip: checksum mismatch"):
        dl.download("bid", tmp_path / "raw" / "bid", source=f"{server.url}/bid.zip")


@pytest.mark.parametrize("content", ["[]", "\"text\"", "{\"files\": 3}", "{\"files\": [1, null]}"])
def test_damaged_records_are_ignored_not_a_traceback(server, tmp_path: Path, content: str) -> None:
    server.files["/bid.zip"] = BID_ZIP
    dest = tmp_path / "raw" / "bid"
    (tmp_path / "raw" / ".downloads" / "bid").mkdir(parents=True)
    dest.mkdir()
    (dest / ".download.json").write_text(content)
    (tmp_path / "raw" / ".downloads" / "bid" / "checksums.json").write_text(content)
    dl.download("bid", dest, source=f"{server.url}/bid.zip")
    assert (dest / "DatabaseGrades.xls").read_bytes() == b"grades"


# -- 2. a host that cannot be reached is named -----------------------------------------------------

def unresolvable(monkeypatch) -> str:
    def no_such_name(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    return "http://datasets.example.invalid/bid.zip"


def refused(monkeypatch) -> str:
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/bid.zip"


UNREACHABLE = {
    "name-does-not-resolve": (unresolvable, r"cannot reach the host 'datasets\.example\.invalid' \(its name does not "
                                            r"resolve: Name or service not known\): offline, or a wrong URL\?"),
    "connection-refused": (refused, r"cannot reach the host '127\.0\.0\.1' \(Connection refused, 2 attempts\): "
                                    r"offline, or a wrong URL\?"),
}


@pytest.mark.parametrize("case", sorted(UNREACHABLE))
def test_unreachable_host_is_named_not_called_incomplete(tmp_path: Path, monkeypatch, case: str) -> None:
    monkeypatch.setattr(fetch, "ATTEMPTS", 2)
    make_url, message = UNREACHABLE[case]
    url = make_url(monkeypatch)
    with pytest.raises(UserError, match=message) as err:
        dl.download("bid", tmp_path / "raw" / "bid", source=url)
    assert str(err.value).startswith(url) and "incomplete" not in str(err.value)
    assert not (tmp_path / "raw" / "bid").exists() and leftovers(tmp_path) == []


def real_unresolvable(monkeypatch) -> str:
    return "http://nonexistent.invalid/"  # .invalid never resolves (RFC 6761)


OFFLINE = {
    "unresolvable-name": (real_unresolvable, "nonexistent.invalid", "its name does not resolve"),
    "closed-port": (refused, "127.0.0.1", "Connection refused"),
}


@pytest.mark.parametrize("case", sorted(OFFLINE))
def test_offline_download_is_one_line_naming_the_host(tmp_path: Path, monkeypatch, capsys, case: str) -> None:
    monkeypatch.setattr(fetch, "ATTEMPTS", 2)
    make_url, host, why = OFFLINE[case]
    url = make_url(monkeypatch)
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    assert main(["download", "--dataset", "bid", "--source", url]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1, error
    assert error[0].startswith(f"pmtiqa download: error: {url}: cannot reach the host '{host}' ({why}")
    assert "offline" in error[0] and "--source" in error[0]


# -- 3. URLs whose path or form is a trick ---------------------------------------------------------

BAD_URLS = {
    "encoded-parent": ("/x/%2E%2E", "not a plain file name"),
    "encoded-parent-lower": ("/x/%2e%2e", "not a plain file name"),
    "encoded-dot": ("/x/%2E", "not a plain file name"),
    "encoded-slash": ("/x%2F..%2F..%2Fevil.zip", "not a plain file name"),
    "encoded-backslash": ("/..%5C..%5Cevil.zip", "not a plain file name"),
    "encoded-nul": ("/bid%00.zip", "not a plain file name"),
    "encoded-newline": ("/bid%0A.zip", "not a plain file name"),
    "hidden-name": ("/.download.json", "not a plain file name"),
    "name-too-long": ("/" + "a" * 300 + ".zip", "not a plain file name"),
    "space": ("/a b.zip", "spaces or control characters"),
    "bad-port": (":99999/bid.zip", "not a valid URL"),
    "checksum-not-hex": ("/bid.zip#sha256=xyz", "must be 64 hex digits"),
}
BAD_SCHEMES = {
    "file-scheme": ("file:///etc/passwd", "only http and https"),
    "ftp-scheme": ("ftp://127.0.0.1/bid.zip", "only http and https"),
    "no-host": ("http:///bid.zip", "names no host"),
    "broken-ipv6": ("http://[::1/bid.zip", "not a valid URL"),
}


@pytest.mark.parametrize("case", sorted(BAD_URLS) + sorted(BAD_SCHEMES))
def test_tricky_url_is_one_line_naming_it(server, tmp_path: Path, monkeypatch, capsys, case: str) -> None:
    if case in BAD_URLS:
        tail, why = BAD_URLS[case]
        url = (server.url.rsplit(":", 1)[0] + tail) if tail.startswith(":") else server.url + tail
    else:
        url, why = BAD_SCHEMES[case]
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    assert main(["download", "--dataset", "bid", "--source", url]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and why in error[0] and (url in error[0] or repr(url) in error[0])
    assert files_under(tmp_path) == ["params.yaml"] and server.requests == []  # nothing written or fetched
    assert not (tmp_path.parent / "evil.zip").exists()


# -- 4. symlinks in a folder given as --source ------------------------------------------------------

def bid_folder(root: Path) -> Path:
    (root / "BID").mkdir(parents=True)
    (root / "BID" / "DatabaseGrades.xls").write_bytes(b"grades")
    return root


def link_to_outside_file(src: Path, outside: Path) -> Path:
    (outside / "secret.txt").write_text("secret")
    return _link(src / "BID" / "secret.txt", outside / "secret.txt")


def link_to_outside_folder(src: Path, outside: Path) -> Path:
    (outside / "apt").mkdir()
    (outside / "apt" / "sources.list").write_text("deb ...")
    return _link(src / "BID" / "apt", outside / "apt")


def link_to_relative_parent(src: Path, outside: Path) -> Path:
    return _link(src / "BID" / "up", Path("../.."))


def dangling_link(src: Path, outside: Path) -> Path:
    return _link(src / "BID" / "gone.JPG", Path("nothing-here.JPG"))


def link_loop(src: Path, outside: Path) -> Path:
    _link(src / "BID" / "b", Path("a"))
    return _link(src / "BID" / "a", Path("b"))


def link_to_folder_inside(src: Path, outside: Path) -> Path:
    (src / "BID" / "sub").mkdir()
    return _link(src / "BID" / "sub" / "back", Path(".."))  # copying it would recurse forever


def _link(link: Path, target: Path) -> Path:
    link.symlink_to(target)
    return link


BAD_LINKS = {
    "file-outside": (link_to_outside_file, "outside the source folder"),
    "folder-outside": (link_to_outside_folder, "outside the source folder"),
    "relative-parent": (link_to_relative_parent, "outside the source folder"),
    "dangling": (dangling_link, "a dangling symlink"),
    "loop": (link_loop, "a symlink loop"),
    "folder-inside": (link_to_folder_inside, "a symlink to the folder"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINKS))
def test_folder_source_with_a_bad_symlink_is_refused_naming_it(tmp_path: Path, monkeypatch, capsys, case: str) -> None:
    make_link, why = BAD_LINKS[case]
    (tmp_path / "outside").mkdir()
    source = bid_folder(tmp_path / "src")
    link = make_link(source, tmp_path / "outside")
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    assert main(["download", "--dataset", "bid", "--source", str(source)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and str(link) in error[0] and why in error[0]
    assert not (tmp_path / "data" / "raw" / "bid").exists() and leftovers(tmp_path) == []


def test_link_to_a_file_inside_the_folder_is_copied_as_a_file(tmp_path: Path) -> None:
    source = bid_folder(tmp_path / "src")
    _link(source / "BID" / "alias.xls", Path("DatabaseGrades.xls"))
    dest = tmp_path / "raw" / "bid"
    dl.download("bid", dest, source=str(source))
    assert (dest / "alias.xls").read_bytes() == b"grades" and not (dest / "alias.xls").is_symlink()


def test_part_file_linked_from_outside_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "csiq_files"
    folder.mkdir()
    (tmp_path / "elsewhere.zip").write_bytes(zip_bytes({"1600.png": b"ref"}))
    _link(folder / "src_imgs.zip", tmp_path / "elsewhere.zip")
    (folder / "dst_imgs.zip").write_bytes(zip_bytes({"dst_imgs/awgn/1600.AWGN.1.png": b"dst"}))
    (folder / "csiq.DMOS.xlsx").write_bytes(b"wb")
    with pytest.raises(UserError, match=rf"{folder / 'src_imgs.zip'}: a symlink to .*outside the source folder"):
        dl.download("csiq", tmp_path / "raw" / "csiq", source=str(folder))


def test_dangling_symlink_as_source_is_named(tmp_path: Path) -> None:
    _link(tmp_path / "release.zip", tmp_path / "moved-away.zip")
    with pytest.raises(UserError, match=r"release\.zip: a symlink to .*moved-away\.zip.*does not exist"):
        dl.download("live", tmp_path / "raw" / "live", source=str(tmp_path / "release.zip"))


def test_source_folder_holding_the_destination_is_refused(tmp_path: Path) -> None:
    """Copying a folder into a folder inside it would never end."""
    (tmp_path / "DatabaseGrades.xls").write_bytes(b"grades")
    with pytest.raises(UserError, match=r"holds .*raw, where the copy would go"):
        dl.download("bid", tmp_path / "raw" / "bid", source=str(tmp_path))
    assert not (tmp_path / "raw" / "bid").exists()


# -- 5. what a killed run leaves ------------------------------------------------------------------

def test_rerun_removes_temporaries_of_a_killed_run_of_its_dataset_only(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    killed = {raw / ".live.k1ll3d00.tmp" / "jp2k" / "img1.bmp": b"half",
              raw / ".downloads" / "live" / ".checksums.json.k1ll3d00.tmp": b"{"}
    others = {raw / ".livec.n31ghb0r.tmp" / "x": b"another dataset's",
              raw / ".downloads" / "live" / "0123456789abcdef" / "a.zip.part": b"resumable"}
    for path, data in {**killed, **others}.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    archive = tmp_path / "databaserelease2.zip"
    archive.write_bytes(zip_bytes({"dmos_realigned.mat": b"m"}))
    dl.download("live", raw / "live", source=str(archive))
    assert not (raw / ".live.k1ll3d00.tmp").exists() and not any(path.exists() for path in killed)
    assert all(path.read_bytes() == data for path, data in others.items())


def test_copy_swapped_out_by_a_killed_run_is_restored(tmp_path: Path) -> None:
    """Killed between atomic_dir's two renames: no data/raw/live, the earlier copy in .live.old."""
    old = tmp_path / "raw" / ".live.old"
    old.mkdir(parents=True)
    (old / "dmos_realigned.mat").write_bytes(b"earlier")
    dl.download("live", tmp_path / "raw" / "live")  # a run without a source keeps what is there
    assert (tmp_path / "raw" / "live" / "dmos_realigned.mat").read_bytes() == b"earlier" and not old.exists()


def test_live_run_of_the_same_dataset_is_left_alone(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    live_tmp = raw / ".live.l1v3run0.tmp"
    live_tmp.mkdir(parents=True)
    (raw / ".downloads").mkdir()
    archive = tmp_path / "databaserelease2.zip"
    archive.write_bytes(zip_bytes({"dmos_realigned.mat": b"m"}))
    with open(raw / ".downloads" / "live.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running download holds
        with pytest.raises(UserError, match=r"another `pmtiqa download --dataset live` is running"):
            dl.download("live", raw / "live", source=str(archive))
    assert live_tmp.is_dir() and not (raw / "live").exists()


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_sigkill_during_generation_leaves_no_workers_and_rerun_cleans_up(tmp_path: Path) -> None:
    code = "from pathlib import Path; from pmtiqa.data.download import download; download('synthetic', Path('raw/synthetic'))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stage = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = wait_for(lambda: children(stage.pid) and list((tmp_path / "raw").glob(".synthetic.*.tmp")), 60)
        workers = children(stage.pid)
    finally:
        stage.send_signal(signal.SIGKILL)
        stage.wait()
    if not started or len(workers) < 1:
        pytest.skip("the generator finished or ran without worker processes before it could be killed")
    survivors = lambda: [w for w in workers if Path(f"/proc/{w}").exists()  # noqa: E731
                         and "Z" not in Path(f"/proc/{w}/stat").read_text().split(")")[-1].split()[:1]]
    try:
        assert wait_for(lambda: not survivors(), 10), f"workers {survivors()} outlived the killed stage"
    finally:
        for worker in survivors():
            os.kill(worker, signal.SIGKILL)
    assert list((tmp_path / "raw").glob(".synthetic.*.tmp"))  # what the kill left ...
    dl.download("synthetic", tmp_path / "raw" / "synthetic")
    assert leftovers(tmp_path / "raw") == []  # ... the rerun removed
    assert (tmp_path / "raw" / "synthetic" / "synthetic_labels.csv").is_file()
