"""The embedded synthetic dataset: counts, determinism, score range and monotonicity, parsing."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pmtiqa.core.errors import UserError
from pmtiqa.data.datasets import synthetic
from pmtiqa.data.datasets.distortions import DISTORTIONS
from pmtiqa.data.download import download
from pmtiqa.data.prepare import prepare
from pmtiqa.data.splits import make_splits

SMALL = dict(photos=["astronaut", "brick"], tiles_per_photo=2)


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> tuple[Path, pd.DataFrame, float]:
    """The real default dataset, generated once through the download stage."""
    dest = tmp_path_factory.mktemp("raw") / "synthetic"
    started = time.perf_counter()
    download("synthetic", dest)
    seconds = time.perf_counter() - started
    return dest, pd.read_csv(dest / synthetic.LABELS), seconds


def test_counts(full) -> None:
    dest, table, seconds = full
    distortions = table[table["distortion"] != "none"]
    assert table["photo"].nunique() >= 12
    assert table["reference"].nunique() >= 24
    assert distortions["distortion"].nunique() >= 6
    assert distortions.groupby("distortion")["level"].nunique().min() >= 5
    assert len(table) == table["reference"].nunique() * (1 + len(DISTORTIONS) * 5)
    assert seconds < 120  # about 12 s on 2 idle cores (the budget is a minute); slack for a busy machine


def test_files_are_tiles_in_the_layout(full) -> None:
    dest, table, _ = full
    for image in table["image"].iloc[::97]:
        with Image.open(dest / image) as im:
            assert im.size == (synthetic.TILE, synthetic.TILE) and im.mode == "RGB"
    assert (dest / ".download.json").is_file() and (dest / synthetic.META).is_file()


def test_scores_cover_the_scale(full) -> None:
    _, table, _ = full
    assert table["mos"].between(0, 100).all()
    assert table.loc[table["distortion"] == "none", "mos"].eq(100).all()
    distorted = table.loc[table["distortion"] != "none", "mos"]
    assert distorted.min() < 25 and distorted.max() > 95 and distorted.std() > 15
    assert np.histogram(table["mos"], bins=10, range=(0, 100))[0].astype(bool).sum() >= 8


def test_scores_fall_with_level_for_every_distortion(full) -> None:
    _, table, _ = full
    means = table[table["distortion"] != "none"].groupby(["distortion", "level"])["mos"].mean().unstack()
    assert (means.diff(axis=1).iloc[:, 1:] < 0).all().all(), means


def test_generation_is_deterministic_and_matches_the_full_set(full, tmp_path: Path) -> None:
    _, table, _ = full
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = synthetic.generate(tmp_path / "a", **SMALL)
    b = synthetic.generate(tmp_path / "b", **SMALL)
    assert a.equals(b)
    assert (tmp_path / "a" / synthetic.LABELS).read_bytes() == (tmp_path / "b" / synthetic.LABELS).read_bytes()
    for image in a["image"].iloc[::7]:
        assert (tmp_path / "a" / image).read_bytes() == (tmp_path / "b" / image).read_bytes()
    same = table.set_index("image").loc[a["image"], "mos"].to_numpy()
    assert np.array_equal(same, a["mos"].to_numpy())  # a photo's images do not depend on the others


def test_prepare_groups_by_reference(full, tmp_path: Path) -> None:
    dest, table, _ = full
    df = prepare("synthetic", dest, tmp_path / "labels.csv")
    assert len(df) == len(table)
    assert set(df["group"]) == set(table["reference"])
    assert np.allclose(df["score"], df["mos"] / 100)
    for split in make_splits(df["group"], 3, 0.2, 0.2, seed=0)["splits"]:
        test_references = set(df["group"].iloc[split["test"]])
        assert not test_references & set(df["group"].iloc[split["train"] + split["val"]])


def test_truncated_labels_are_refused(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    synthetic.generate(tmp_path / "s", **SMALL)
    labels = tmp_path / "s" / synthetic.LABELS
    text = labels.read_text()
    labels.write_text(text[: len(text) - 25])
    with pytest.raises(UserError, match=r"synthetic_labels\.csv"):
        synthetic.parse(tmp_path / "s")
    labels.write_text("\n".join(text.splitlines()[:10]) + "\n")
    with pytest.raises(UserError, match=r"synthetic_labels\.csv: 9 entries"):
        synthetic.parse(tmp_path / "s")


def test_missing_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    table = synthetic.generate(tmp_path / "s", **SMALL)
    (tmp_path / "s" / table["image"].iloc[5]).unlink()
    with pytest.raises(UserError, match=rf"synthetic_labels\.csv.*{table['image'].iloc[5]}"):
        synthetic.parse(tmp_path / "s")


def test_unknown_photo(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"unknown photo\(s\) lena"):
        synthetic.generate(tmp_path, photos=["lena"])


def test_ssim_matches_scikit_image() -> None:
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 50, 3)).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    assert synthetic.ssim(a, b) == pytest.approx(expected, abs=1e-9)
    assert synthetic.ssim(a, a) == pytest.approx(1.0)


def test_an_image_that_cannot_be_written_names_its_file():
    """Pillow's error on a full disk names no file: the generator's does (/dev/full: every write fails)."""
    import errno

    with pytest.raises(OSError) as err:
        synthetic._save(Path("/dev/full"), np.zeros((8, 8, 3), np.uint8))
    assert err.value.errno == errno.ENOSPC and err.value.filename == "/dev/full"
