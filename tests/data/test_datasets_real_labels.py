"""Parsers on the real label files of livec, bid and csiq, with the images faked as empty files."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmtiqa.core.errors import UserError
from pmtiqa.data.datasets import bid, csiq, livec
from pmtiqa.data.prepare import prepare
from tests.builders import ROOT

LABELS = ROOT.parent / "shared" / "datasets" / "labels"
pytestmark = pytest.mark.skipif(not LABELS.is_dir(), reason=f"{LABELS} absent")


def touch_images(raw: Path, images) -> None:
    for image in images:
        (raw / image).parent.mkdir(parents=True, exist_ok=True)
        (raw / image).touch()


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# -- livec -----------------------------------------------------------------------------------------

@pytest.fixture
def livec_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "livec"
    (raw / "Data").mkdir(parents=True)
    for name in ("AllImages_release.mat", "AllMOS_release.mat", "AllStdDev_release.mat"):
        shutil.copy(LABELS / "livec" / name, raw / "Data" / name)
    import scipy.io

    names = [str(np.ravel(c)[0]) for c in scipy.io.loadmat(raw / "Data" / "AllImages_release.mat")["AllImages_release"].ravel()]
    touch_images(raw, [f"Images/{n}" for n in names[7:]] + [f"Images/trainingImages/{n}" for n in names[:7]])
    return raw


def test_livec_parses_1162_rows_without_training_images(livec_raw: Path, tmp_path: Path) -> None:
    df = prepare("livec", livec_raw, tmp_path / "out" / "labels.csv")
    assert len(df) == 1162
    assert not df["image"].str.contains(r"/t\d\.bmp").any()
    assert df["mos"].min() == pytest.approx(3.42, abs=0.005)
    assert df["mos"].max() == pytest.approx(92.43, abs=0.005)
    assert (df["group"] == df["image"]).all()
    assert df["score"].between(0, 1).all()
    assert np.allclose(df["score"], df["mos"] / 100)
    assert list(pd.read_csv(tmp_path / "out" / "labels.csv").columns) == ["image", "mos", "score", "group", "std"]


def test_livec_missing_image_names_label_file_and_image(livec_raw: Path) -> None:
    (livec_raw / "Images" / "100.bmp").unlink()
    with pytest.raises(UserError, match=r"AllMOS_release\.mat.*Images/100\.bmp"):
        livec.parse(livec_raw)


def test_livec_truncated_mat_names_file(livec_raw: Path) -> None:
    truncate(livec_raw / "Data" / "AllMOS_release.mat")
    with pytest.raises(UserError, match=r"AllMOS_release\.mat"):
        livec.parse(livec_raw)


# -- bid -------------------------------------------------------------------------------------------

@pytest.fixture
def bid_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "bid"
    raw.mkdir()
    shutil.copy(LABELS / "bid" / "DatabaseGrades.xls", raw)
    numbers = [n for n in range(1, 591) if n not in (2, 346, 413, 439)]
    touch_images(raw, [bid.image_name(n) for n in numbers])
    return raw


def test_bid_parses_586_rows(bid_raw: Path, tmp_path: Path) -> None:
    df = prepare("bid", bid_raw, tmp_path / "labels.csv")
    assert len(df) == 586
    assert df["image"].iloc[0] == "DatabaseImage0001.JPG"
    assert df["image"].iloc[1] == "DatabaseImage0003.JPG"
    assert df["mos"].min() == pytest.approx(0.164, abs=0.001)
    assert df["mos"].max() == pytest.approx(4.920, abs=0.001)
    assert np.allclose(df["score"], df["mos"] / 5)
    assert df["group"].nunique() == 586


def test_bid_images_one_folder_down_are_found(bid_raw: Path) -> None:
    (bid_raw / "ImageDatabase").mkdir()
    for jpg in bid_raw.glob("*.JPG"):
        jpg.rename(bid_raw / "ImageDatabase" / jpg.name)
    assert bid.parse(bid_raw)["image"].iloc[0] == "ImageDatabase/DatabaseImage0001.JPG"


def test_bid_missing_image(bid_raw: Path) -> None:
    (bid_raw / "DatabaseImage0590.JPG").unlink()
    with pytest.raises(UserError, match=r"DatabaseGrades\.xls.*DatabaseImage0590\.JPG"):
        bid.parse(bid_raw)


def test_bid_truncated_workbook(bid_raw: Path) -> None:
    truncate(bid_raw / "DatabaseGrades.xls")
    with pytest.raises(UserError, match=r"DatabaseGrades\.xls"):
        bid.parse(bid_raw)


# -- csiq ------------------------------------------------------------------------------------------

def csiq_raw(tmp_path: Path, label: str) -> Path:
    raw = tmp_path / "csiq"
    raw.mkdir(parents=True)
    if label == "xlsx":
        shutil.copy(LABELS / "csiq" / "csiq.beta.xlsx", raw / csiq.WORKBOOK)  # same sheets and columns
    else:
        shutil.copy(LABELS / "csiq" / "csiq_label.txt", raw / csiq.TEXT)
    names = (LABELS / "csiq" / "csiq_label.txt").read_text().split()[::2]
    touch_images(raw, [f"dst_imgs/{n.split('.')[1].lower()}/{n}" for n in names])
    return raw


@pytest.mark.parametrize("label", ["xlsx", "txt"])
def test_csiq_parses_866_rows_in_30_groups(tmp_path: Path, label: str) -> None:
    df = prepare("csiq", csiq_raw(tmp_path, label), tmp_path / "labels.csv")
    assert len(df) == 866
    assert df["group"].nunique() == 30
    assert set(df["distortion"]) == {"awgn", "blur", "contrast", "fnoise", "jpeg", "jpeg2000"}
    assert (df["distortion"] == "contrast").sum() == 116
    assert df["mos"].between(0, 1).all()
    assert np.allclose(df["score"], 1 - df["mos"])  # DMOS: lower is better, flipped
    first = df.iloc[0]
    assert (first["image"], first["group"], first["level"]) == ("dst_imgs/awgn/1600.AWGN.1.png", "1600", 1)


def test_csiq_both_formats_agree(tmp_path: Path) -> None:
    a = csiq.parse(csiq_raw(tmp_path / "a", "xlsx"))
    b = csiq.parse(csiq_raw(tmp_path / "b", "txt"))
    merged = a.merge(b, on="image")
    assert len(merged) == 866
    assert np.allclose(merged["mos_x"], merged["mos_y"], atol=1e-6)
    assert (merged["group_x"] == merged["group_y"]).all()


def test_csiq_truncated_text_names_file_and_line(tmp_path: Path) -> None:
    raw = csiq_raw(tmp_path, "txt")
    text = (raw / csiq.TEXT).read_text()
    (raw / csiq.TEXT).write_text(text[: len(text) // 2 - 7])  # cut inside a line
    with pytest.raises(UserError, match=r"csiq_label\.txt"):
        csiq.parse(raw)


def test_csiq_short_text_is_refused(tmp_path: Path) -> None:
    raw = csiq_raw(tmp_path, "txt")
    lines = (raw / csiq.TEXT).read_text().splitlines()
    (raw / csiq.TEXT).write_text("\n".join(lines[:400]) + "\n")  # cut at a line boundary
    with pytest.raises(UserError, match=r"csiq_label\.txt: 400 entries.*866"):
        csiq.parse(raw)


def test_csiq_truncated_workbook(tmp_path: Path) -> None:
    raw = csiq_raw(tmp_path, "xlsx")
    truncate(raw / csiq.WORKBOOK)
    with pytest.raises(UserError, match=r"csiq\.DMOS\.xlsx"):
        csiq.parse(raw)


def test_csiq_missing_image(tmp_path: Path) -> None:
    raw = csiq_raw(tmp_path, "xlsx")
    (raw / "dst_imgs" / "blur" / "woman.BLUR.5.png").unlink()
    with pytest.raises(UserError, match=r"csiq\.DMOS\.xlsx.*woman\.BLUR\.5\.png"):
        csiq.parse(raw)
