"""Parsers of live and koniq on fixtures built in their published layouts; prepare's contract."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io

from pmtiqa.core.errors import UserError
from pmtiqa.data.datasets import MODULES, koniq, live, score_bounds, to_score
from pmtiqa.data.prepare import prepare
from pmtiqa.method.score_scales import to_published
from tests.builders.live import build_live

# -- live: databaserelease2 layout, .mat files written with scipy ----------------------------------


def test_live_keeps_779_distorted_images_grouped_by_reference(tmp_path: Path) -> None:
    truth = build_live(tmp_path / "live")
    df = prepare("live", tmp_path / "live", tmp_path / "labels.csv")
    assert len(df) == 779
    assert df["group"].nunique() == 29
    assert df["distortion"].value_counts().to_dict() == {"jpeg": 175, "jp2k": 169, "wn": 145, "gblur": 145,
                                                         "fastfading": 145}
    assert df["image"].iloc[0] == "jp2k/img1.bmp"
    assert np.allclose(df["mos"], truth["dmos"][truth["orgs"] == 0])
    assert df["mos"].min() == pytest.approx(-2.64)  # negative DMOS kept
    assert df["score"].between(0, 1).all()
    assert df["score"].iloc[0] > df["score"].iloc[1]  # DMOS -2.64 is better than 111.77
    assert not any(df["image"].str.startswith("fastfading/img174"))  # a reference copy, dropped


def test_live_missing_image(tmp_path: Path) -> None:
    build_live(tmp_path / "live")
    (tmp_path / "live" / "wn" / "img3.bmp").unlink()
    with pytest.raises(UserError, match=r"dmos_realigned\.mat.*wn/img3\.bmp"):
        live.parse(tmp_path / "live")


def test_live_wrong_length_names_file(tmp_path: Path) -> None:
    build_live(tmp_path / "live", n_entries=981)
    with pytest.raises(UserError, match=r"dmos_realigned\.mat: dmos_new has 981 entries"):
        live.parse(tmp_path / "live")


def test_live_truncated_mat(tmp_path: Path) -> None:
    build_live(tmp_path / "live")
    path = tmp_path / "live" / "refnames_all.mat"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(UserError, match=r"refnames_all\.mat"):
        live.parse(tmp_path / "live")


def test_live_out_of_scale_value_is_clamped_not_dropped(tmp_path: Path, caplog) -> None:
    build_live(tmp_path / "live")
    mat = scipy.io.loadmat(tmp_path / "live" / "dmos_realigned.mat")
    mat["dmos_new"][0, 2] = 130.0
    scipy.io.savemat(tmp_path / "live" / "dmos_realigned.mat", {k: v for k, v in mat.items() if not k.startswith("__")})
    with caplog.at_level(logging.WARNING):
        df = prepare("live", tmp_path / "live", tmp_path / "labels.csv")
    assert len(df) == 779 and df["score"].iloc[2] == 0.0 and df["mos"].iloc[2] == 130.0
    assert "clamped" in caplog.text


# -- koniq: the score CSV and the 1024x768 folder ---------------------------------------------------

def build_koniq(raw: Path, folder: str = "1024x768") -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = koniq.EXPECTED_ROWS
    table = pd.DataFrame({"image_name": [f"{1000000 + i}.jpg" for i in range(n)],
                          **{f"c{k}": rng.integers(0, 50, n) for k in range(1, 6)}})
    table["c_total"] = table[[f"c{k}" for k in range(1, 6)]].sum(axis=1)
    table["MOS"] = rng.uniform(1, 5, n)
    table["SD"] = rng.uniform(0.3, 1, n)
    table["MOS_zscore"] = rng.uniform(3.9, 88.4, n)
    raw.mkdir(parents=True)
    table.to_csv(raw / koniq.SCORES, index=False)
    (raw / folder).mkdir()
    for name in table["image_name"]:
        (raw / folder / name).touch()
    return table


@pytest.fixture(scope="module")
def koniq_raw(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """Built once (10,073 files); tests that damage it put it back."""
    raw = tmp_path_factory.mktemp("k") / "koniq"
    return raw, build_koniq(raw)


def test_koniq_uses_mos_zscore(koniq_raw, tmp_path: Path) -> None:
    raw, table = koniq_raw
    df = prepare("koniq", raw, tmp_path / "labels.csv")
    assert len(df) == 10073
    assert df["image"].iloc[0] == "1024x768/1000000.jpg"
    assert np.allclose(df["mos"], table["MOS_zscore"])
    assert np.allclose(df["score"], table["MOS_zscore"] / 100)
    assert (df["group"] == df["image"]).all()


def test_koniq_small_copy_is_found(koniq_raw) -> None:
    raw, _ = koniq_raw
    (raw / "1024x768").rename(raw / "512x384")
    try:
        assert koniq.parse(raw)["image"].iloc[0] == "512x384/1000000.jpg"
    finally:
        (raw / "512x384").rename(raw / "1024x768")


def test_koniq_truncated_csv(koniq_raw) -> None:
    raw, _ = koniq_raw
    path = raw / koniq.SCORES
    text = path.read_text()
    path.write_text(text[: len(text) - 30])  # the last line loses its last columns
    try:
        with pytest.raises(UserError, match=r"koniq10k_scores_and_distributions\.csv"):
            koniq.parse(raw)
    finally:
        path.write_text(text)


def test_koniq_missing_image(koniq_raw) -> None:
    raw, _ = koniq_raw
    image = raw / "1024x768" / "1000005.jpg"
    image.unlink()
    try:
        with pytest.raises(UserError, match=r"koniq10k_scores_and_distributions\.csv.*1000005\.jpg"):
            koniq.parse(raw)
    finally:
        image.touch()


# -- prepare and the score scales --------------------------------------------------------------------

def test_prepare_without_raw_folder_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"pmtiqa download --dataset csiq"):
        prepare("csiq", tmp_path / "nothing", tmp_path / "labels.csv")
    assert not (tmp_path / "labels.csv").exists()


def test_prepare_unknown_dataset(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"unknown dataset 'tid2013'"):
        prepare("tid2013", tmp_path, tmp_path / "labels.csv")


def test_prepare_failure_keeps_earlier_labels(tmp_path: Path) -> None:
    build_live(tmp_path / "live")
    out = tmp_path / "labels.csv"
    prepare("live", tmp_path / "live", out)
    before = out.read_bytes()
    (tmp_path / "live" / "gblur" / "img1.bmp").unlink()
    with pytest.raises(UserError):
        prepare("live", tmp_path / "live", out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_bounds_round_trip_and_direction(name: str) -> None:
    low, high, higher_is_better = score_bounds(name)
    assert low < high
    native = np.linspace(low, high, 7)
    assert np.allclose(to_published(to_score(name, native), score_bounds(name)), native)
    best = high if higher_is_better else low
    assert to_score(name, best) == pytest.approx(1.0)
    assert to_published(1.0, score_bounds(name)) == pytest.approx(best)


def test_directions_follow_the_datasets() -> None:
    assert [score_bounds(n)[2] for n in ("live", "csiq")] == [False, False]
    assert all(score_bounds(n)[2] for n in ("bid", "livec", "koniq", "synthetic"))
    assert score_bounds("live")[:2] == (-3.0, 112.0)
