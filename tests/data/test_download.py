"""Downloads against a loopback HTTP server (with Range support), safe extraction, local sources."""
from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from pmtiqa.core.errors import UserError
from pmtiqa.data import download as dl
from pmtiqa.data import fetch
from pmtiqa.data.datasets import csiq
from pmtiqa.data.datasets.base import Part
from tests.builders.web import BID_ZIP, BIG, cached, leftovers, zip_bytes


def zip_with_symlink(name: str, target: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("DatabaseGrades.xls", b"x")
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o120777 << 16  # a symlink, stored the Unix way
        zf.writestr(info, target)
    return buffer.getvalue()


def tar_bytes(add) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        add(tf)
    return buffer.getvalue()


def add_file(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def add_link(tf: tarfile.TarFile, name: str, target: str, kind=tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    tf.addfile(info)


# -- URLs ------------------------------------------------------------------------------------------

def test_resumed_download_is_byte_identical(server, tmp_path: Path) -> None:
    server.files["/bid.zip"], server.cuts["/bid.zip"] = BID_ZIP, 1
    dest = tmp_path / "raw" / "bid"
    dl.download("bid", dest, source=f"{server.url}/bid.zip")
    (first, first_range), (second, second_range) = server.requests
    assert first_range is None and re.fullmatch(r"bytes=\d+-", second_range)
    assert int(second_range[6:-1]) == len(BID_ZIP) // 3
    assert cached(tmp_path, "bid", f"{server.url}/bid.zip").read_bytes() == BID_ZIP
    assert (dest / "DatabaseImage0001.JPG").read_bytes() == BIG  # wrapper folder BID/ stripped
    assert sorted(p.name for p in dest.iterdir()) == [".download.json", "DatabaseGrades.xls", "DatabaseImage0001.JPG"]
    record = json.loads((dest / ".download.json").read_text())
    assert record["files"][0]["sha256"] == hashlib.sha256(BID_ZIP).hexdigest()
    assert leftovers(tmp_path) == []


def test_part_file_of_an_earlier_call_is_resumed(server, tmp_path: Path) -> None:
    server.files["/bid.zip"] = BID_ZIP
    target = cached(tmp_path, "bid", f"{server.url}/bid.zip")
    target.parent.mkdir(parents=True)
    target.with_name("bid.zip.part").write_bytes(BID_ZIP[:1000])
    dl.download("bid", tmp_path / "raw" / "bid", source=f"{server.url}/bid.zip")
    assert server.requests == [("/bid.zip", "bytes=1000-")]
    assert target.read_bytes() == BID_ZIP


def test_interrupted_download_keeps_part_and_says_how_to_resume(server, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(fetch, "ATTEMPTS", 2)
    server.files["/bid.zip"], server.cuts["/bid.zip"] = BID_ZIP, 99
    with pytest.raises(UserError, match=r"bid\.zip: download incomplete.*run the same command again to resume"):
        dl.download("bid", tmp_path / "raw" / "bid", source=f"{server.url}/bid.zip")
    assert not (tmp_path / "raw" / "bid").exists()
    part = cached(tmp_path, "bid", f"{server.url}/bid.zip").with_name("bid.zip.part")
    assert 0 < part.stat().st_size < len(BID_ZIP) and BID_ZIP.startswith(part.read_bytes())


def test_checksum_mismatch_leaves_nothing(server, tmp_path: Path) -> None:
    server.files["/bid.zip"] = BID_ZIP
    with pytest.raises(UserError, match=r"checksum mismatch"):
        dl.download("bid", tmp_path / "raw" / "bid", source=f"{server.url}/bid.zip#sha256={'0' * 64}")
    assert not (tmp_path / "raw" / "bid").exists()
    assert [p for p in (tmp_path / "raw" / ".downloads" / "bid").rglob("*") if p.is_file()] == []
    assert leftovers(tmp_path) == []


def test_known_checksum_passes(server, tmp_path: Path) -> None:
    server.files["/bid.zip"] = BID_ZIP
    digest = hashlib.sha256(BID_ZIP).hexdigest()
    dl.download("bid", tmp_path / "raw" / "bid", source=f"{server.url}/bid.zip#sha256={digest}")
    assert (tmp_path / "raw" / "bid" / "DatabaseGrades.xls").is_file()


def test_recorded_checksum_guards_a_later_download(server, tmp_path: Path) -> None:
    server.files["/bid.zip"] = BID_ZIP
    dest = tmp_path / "raw" / "bid"
    dl.download("bid", dest, source=f"{server.url}/bid.zip")
    cached(tmp_path, "bid", f"{server.url}/bid.zip").unlink()  # force a fresh fetch
    server.files["/bid.zip"] = zip_bytes({"BID/DatabaseGrades.xls": b"changed upstream"})
    with pytest.raises(UserError, match=r"checksum mismatch"):
        dl.download("bid", dest, source=f"{server.url}/bid.zip")
    assert (dest / "DatabaseGrades.xls").read_bytes() == b"grades"  # the earlier copy is untouched


def test_default_parts_are_assembled_and_reused_offline(server, tmp_path: Path, monkeypatch) -> None:
    server.files["/src_imgs.zip"] = zip_bytes({"src_imgs/1600.png": b"ref"})
    server.files["/dst_imgs.zip"] = zip_bytes({"dst_imgs/awgn/1600.AWGN.1.png": b"dst"})
    server.files["/csiq.DMOS.xlsx"] = b"workbook bytes"
    monkeypatch.setattr(csiq, "PARTS", (
        Part(f"{server.url}/src_imgs.zip", markers=("1600.png",), into="src_imgs"),
        Part(f"{server.url}/dst_imgs.zip", markers=("awgn",), into="dst_imgs"),
        Part(f"{server.url}/csiq.DMOS.xlsx"),
    ))
    dest = tmp_path / "raw" / "csiq"
    dl.download("csiq", dest)
    assert (dest / "src_imgs" / "1600.png").read_bytes() == b"ref"
    assert (dest / "dst_imgs" / "awgn" / "1600.AWGN.1.png").read_bytes() == b"dst"
    assert (dest / "csiq.DMOS.xlsx").read_bytes() == b"workbook bytes"
    asked = len(server.requests)
    dl.download("csiq", dest)  # rebuilt from the verified archives, no network
    assert len(server.requests) == asked and (dest / "src_imgs" / "1600.png").is_file()


def test_http_error_is_named(server, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"nothing\.zip: HTTP 404"):
        dl.download("bid", tmp_path / "raw" / "bid", source=f"{server.url}/nothing.zip")


def test_archive_without_the_layout_is_refused(server, tmp_path: Path) -> None:
    server.files["/other.zip"] = zip_bytes({"something/else.txt": b"x"})
    with pytest.raises(UserError, match=r"other\.zip: no DatabaseGrades\.xls or DatabaseGrades\.xlsx inside"):
        dl.download("bid", tmp_path / "raw" / "bid", source=f"{server.url}/other.zip")
    assert not (tmp_path / "raw" / "bid").exists()


def test_traversal_through_the_server_is_refused(server, tmp_path: Path) -> None:
    server.files["/bid.zip"] = zip_bytes({"DatabaseGrades.xls": b"x", "../evil.txt": b"gotcha"})
    with pytest.raises(UserError, match=r"bid\.zip: refused member '\.\./evil\.txt'"):
        dl.download("bid", tmp_path / "raw" / "bid", source=f"{server.url}/bid.zip")
    assert not list(tmp_path.rglob("evil.txt")) and not (tmp_path / "raw" / "bid").exists()
    assert leftovers(tmp_path) == []


# -- unsafe archives (local) ----------------------------------------------------------------------

UNSAFE = {
    "zip-parent": ("bad.zip", lambda: zip_bytes({"DatabaseGrades.xls": b"x", "../evil.txt": b"x"}), "lands outside"),
    "zip-absolute": ("bad.zip", lambda: zip_bytes({"DatabaseGrades.xls": b"x", "/tmp/evil.txt": b"x"}), "absolute"),
    "zip-symlink-out": ("bad.zip", lambda: zip_with_symlink("link", "../../outside"), "link"),
    "tar-absolute": ("bad.tgz", lambda: tar_bytes(lambda tf: (add_file(tf, "DatabaseGrades.xls", b"x"),
                                                              add_file(tf, "/tmp/evil.txt", b"x"))), "absolute"),
    "tar-parent": ("bad.tar.gz", lambda: tar_bytes(lambda tf: (add_file(tf, "DatabaseGrades.xls", b"x"),
                                                               add_file(tf, "a/../../evil.txt", b"x"))), "outside"),
    "tar-symlink-out": ("bad.tgz", lambda: tar_bytes(lambda tf: (add_file(tf, "DatabaseGrades.xls", b"x"),
                                                                 add_link(tf, "link", "../../outside"))), "symlink"),
    "tar-symlink-abs": ("bad.tgz", lambda: tar_bytes(lambda tf: (add_file(tf, "DatabaseGrades.xls", b"x"),
                                                                 add_link(tf, "link", "/etc/passwd"))), "symlink"),
    "tar-hardlink-out": ("bad.tgz", lambda: tar_bytes(lambda tf: (
        add_file(tf, "DatabaseGrades.xls", b"x"), add_link(tf, "hard", "../../etc/passwd", tarfile.LNKTYPE))), "hard link"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_archive_is_refused_with_archive_and_member(tmp_path: Path, case: str) -> None:
    name, build, why = UNSAFE[case]
    archive = tmp_path / name
    archive.write_bytes(build())
    dest = tmp_path / "raw" / "bid"
    with pytest.raises(UserError, match=rf"{re.escape(str(archive))}: refused member .*{why}"):
        dl.download("bid", dest, source=str(archive))
    assert not dest.exists() and leftovers(tmp_path) == []
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_inside_the_target_is_fine(tmp_path: Path) -> None:
    archive = tmp_path / "ok.tgz"
    archive.write_bytes(tar_bytes(lambda tf: (add_file(tf, "d/DatabaseGrades.xls", b"x"),
                                              add_link(tf, "d/alias.xls", "DatabaseGrades.xls"))))
    dl.download("bid", tmp_path / "raw" / "bid", source=str(archive))
    assert (tmp_path / "raw" / "bid" / "alias.xls").read_bytes() == b"x"


def test_truncated_archive(tmp_path: Path) -> None:
    archive = tmp_path / "cut.zip"
    archive.write_bytes(BID_ZIP[: len(BID_ZIP) // 2])
    with pytest.raises(UserError, match=r"cut\.zip: damaged or truncated archive"):
        dl.download("bid", tmp_path / "raw" / "bid", source=str(archive))


# -- local sources and forms ----------------------------------------------------------------------

def livec_folder(root: Path, marker: bytes) -> Path:
    release = root / "ChallengeDB_release"
    for name in ("Data/AllMOS_release.mat", "Data/AllImages_release.mat", "Images/100.bmp"):
        (release / name).parent.mkdir(parents=True, exist_ok=True)
        (release / name).write_bytes(marker)
    return root


def test_local_folder_is_adopted_and_replaced_atomically(tmp_path: Path) -> None:
    dest = tmp_path / "raw" / "livec"
    dl.download("livec", dest, source=str(livec_folder(tmp_path / "a", b"first")))
    assert (dest / "Data" / "AllMOS_release.mat").read_bytes() == b"first"  # wrapper stripped
    (dest / "stale.txt").write_text("from the earlier copy")
    dl.download("livec", dest, source=str(livec_folder(tmp_path / "b", b"second")))
    assert (dest / "Images" / "100.bmp").read_bytes() == b"second"
    assert not (dest / "stale.txt").exists()
    assert json.loads((dest / ".download.json").read_text())["source"] == str(tmp_path / "b")
    assert leftovers(tmp_path) == [] and sorted(p.name for p in dest.parent.iterdir()) == [".downloads", "livec"]
    assert [p.name for p in (dest.parent / ".downloads").iterdir()] == ["livec.lock"]


def test_local_archive_is_adopted(tmp_path: Path) -> None:
    archive = tmp_path / "databaserelease2.zip"
    archive.write_bytes(zip_bytes({"databaserelease2/dmos_realigned.mat": b"m", "databaserelease2/jp2k/img1.bmp": b"i"}))
    dest = tmp_path / "raw" / "live"
    dl.download("live", dest, source=str(archive))
    assert (dest / "dmos_realigned.mat").read_bytes() == b"m" and (dest / "jp2k" / "img1.bmp").is_file()
    record = json.loads((dest / ".download.json").read_text())
    assert record["files"][0]["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    # `dvc repro` then runs the stage without a source: the adopted copy stays, no form is asked for,
    # and so does a copy placed by hand
    dl.download("live", dest)
    assert (dest / "dmos_realigned.mat").read_bytes() == b"m"
    (dest / ".download.json").unlink()
    dl.download("live", dest)
    assert (dest / "dmos_realigned.mat").read_bytes() == b"m"


def test_local_folder_of_part_files(tmp_path: Path) -> None:
    folder = tmp_path / "csiq_files"
    folder.mkdir()
    (folder / "src_imgs.zip").write_bytes(zip_bytes({"1600.png": b"ref"}))  # no wrapper folder here
    (folder / "dst_imgs.zip").write_bytes(zip_bytes({"dst_imgs/awgn/1600.AWGN.1.png": b"dst"}))
    (folder / "csiq.DMOS.xlsx").write_bytes(b"wb")
    dl.download("csiq", tmp_path / "raw" / "csiq", source=str(folder))
    assert (tmp_path / "raw" / "csiq" / "src_imgs" / "1600.png").read_bytes() == b"ref"
    assert (tmp_path / "raw" / "csiq" / "dst_imgs" / "awgn" / "1600.AWGN.1.png").is_file()


def test_folder_that_is_not_the_dataset(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(UserError, match=r"no dmos_realigned\.mat inside"):
        dl.download("live", tmp_path / "raw" / "live", source=str(tmp_path / "x"))


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no such file or folder"):
        dl.download("live", tmp_path / "raw" / "live", source=str(tmp_path / "nope.zip"))


@pytest.mark.parametrize("name, page, archive", [
    ("live", "live.ece.utexas.edu/research/quality/subjective.htm", "databaserelease2.zip"),
    ("livec", "live.ece.utexas.edu/research/ChallengeDB", "ChallengeDB_release.zip"),
])
def test_form_datasets_say_where_to_go(tmp_path: Path, name: str, page: str, archive: str) -> None:
    with pytest.raises(UserError) as err:
        dl.download(name, tmp_path / "raw" / name)
    message = str(err.value)
    assert page in message and archive in message
    assert f"pmtiqa download --dataset {name} --source /path/to/{archive}" in message
    assert not (tmp_path / "raw").exists()
