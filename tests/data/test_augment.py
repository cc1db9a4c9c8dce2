"""The augment stage: one decode per image into a memory-mapped uint8 array, written atomically."""
from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pmtiqa.core.checksum import sha256_file
from pmtiqa.core.errors import UserError
from pmtiqa.data.augment import build_cache, load_cache

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (128, 128, 128)]
SIZES = [(64, 48), (40, 90), (300, 200), (2000, 1500), (17, 23), (100, 100)]


def make_dataset(tmp_path: Path) -> tuple[Path, Path]:
    """Solid-colour images of differing sizes and formats, and their labels.csv."""
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    names = []
    for i, (colour, size) in enumerate(zip(COLOURS, SIZES)):
        name = f"sub/img{i}.png" if i % 2 else f"img{i}.jpg"
        Image.new("RGB", size, colour).save(raw / name, quality=95)
        names.append(name)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"image": names, "mos": range(len(names)), "score": np.linspace(0, 1, len(names)),
                  "group": names}).to_csv(labels, index=False)
    return labels, raw


def test_each_image_s_own_size_is_kept_for_the_crops_to_check(tmp_path: Path) -> None:
    """Resized to the protocol's size, a 17x23 image fills the cache like the others; training refuses
    it by the size it has in the dataset (compute/device_data.py), as `pmtiqa predict` refuses it."""
    from pmtiqa.compute.device_data import check_crops_fit

    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "cache", size=(64, 64), workers=1)
    cache = load_cache(tmp_path / "cache")
    assert cache.sizes is None and cache.source_sizes.tolist() == [list(s) for s in SIZES]
    with pytest.raises(UserError, match=r"cache: img4\.jpg is 17x23 in the dataset, smaller than train.crop_size 32$"):
        check_crops_fit(cache.labels["image"].tolist(), cache.source_sizes, 32, tmp_path / "cache")
    check_crops_fit(cache.labels["image"].tolist(), cache.source_sizes, 17, tmp_path / "cache")


def test_shapes_dtype_and_row_order(tmp_path: Path) -> None:
    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "cache", size=(32, 24), workers=2)
    cache = load_cache(tmp_path / "cache")
    assert cache.images.shape == (6, 24, 32, 3) and cache.images.dtype == np.uint8
    assert isinstance(cache.images, np.memmap)
    assert cache.labels["image"].tolist() == pd.read_csv(labels)["image"].tolist()
    for row, colour in zip(cache.images, COLOURS):  # each row is the image of that labels.csv row
        assert np.abs(row.reshape(-1, 3).mean(0) - colour).max() < 4


def test_one_worker_and_many_give_the_same_array(tmp_path: Path) -> None:
    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "a", size=(20, 20), workers=1)
    build_cache(labels, raw, tmp_path / "b", size=(20, 20), workers=0)
    assert np.array_equal(load_cache(tmp_path / "a").images, load_cache(tmp_path / "b").images)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    stored = Image.new("RGB", (80, 40), (255, 0, 0))  # stored landscape: left red, right blue
    stored.paste((0, 0, 255), (40, 0, 80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise: left half goes on top
    stored.save(raw / "rotated.jpg", quality=95, exif=exif)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"image": ["rotated.jpg"], "mos": [1.0], "score": [1.0], "group": ["g"]}).to_csv(labels, index=False)
    build_cache(labels, raw, tmp_path / "cache", size=(20, 40), workers=1)
    image = load_cache(tmp_path / "cache").images[0]
    assert image[2, 10].tolist() == pytest.approx([255, 0, 0], abs=40)  # top: red
    assert image[37, 10].tolist() == pytest.approx([0, 0, 255], abs=40)  # bottom: blue


def test_stored_decoding_keeps_the_stored_orientation_and_sizes(tmp_path: Path) -> None:
    """augment.decode stored (the authors'): no EXIF rotation, and the sizes the crops are checked
    against are the stored ones, as decoded."""
    raw = tmp_path / "raw"
    raw.mkdir()
    stored = Image.new("RGB", (80, 40), (255, 0, 0))  # left red, right blue
    stored.paste((0, 0, 255), (40, 0, 80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(raw / "rotated.jpg", quality=95, exif=exif)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"image": ["rotated.jpg"], "mos": [1.0], "score": [1.0], "group": ["g"]}).to_csv(labels, index=False)
    build_cache(labels, raw, tmp_path / "cache", size=(40, 20), workers=1, how="stored")
    cache = load_cache(tmp_path / "cache")
    assert cache.source_sizes.tolist() == [[80, 40]] and cache.meta["decode"] == "stored"
    assert cache.images[0, 10, 2].tolist() == pytest.approx([255, 0, 0], abs=40)  # left: red, as stored
    assert cache.images[0, 10, 37].tolist() == pytest.approx([0, 0, 255], abs=40)
    build_cache(labels, raw, tmp_path / "upright", size=None, workers=1)
    assert load_cache(tmp_path / "upright").source_sizes.tolist() == [[40, 80]]


def test_corrupt_image_is_named_and_old_cache_survives(tmp_path: Path) -> None:
    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "cache", size=(16, 16), workers=2)
    before = {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()}
    (raw / "sub" / "img3.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(UserError, match=r"sub/img3\.png: cannot decode image"):
        build_cache(labels, raw, tmp_path / "cache", size=(8, 8), workers=2)
    assert {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "labels.csv", "raw"]  # no temp folder left


def test_a_full_disk_is_named_before_any_image_is_decoded_and_the_old_cache_survives(tmp_path, monkeypatch):
    """The cache's space is claimed up front: on a full disk a worker writing into its mapped pages
    would die of SIGBUS and leave the pool waiting."""
    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "cache", size=(16, 16), workers=2)
    before = {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()}

    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(OSError) as err:
        build_cache(labels, raw, tmp_path / "cache", size=(8, 8), workers=2)
    assert err.value.errno == errno.ENOSPC and err.value.filename.endswith("images.npy")
    assert {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "labels.csv", "raw"]  # no temp folder left


def test_missing_image_is_named(tmp_path: Path) -> None:
    labels, raw = make_dataset(tmp_path)
    (raw / "img0.jpg").unlink()
    with pytest.raises(UserError, match=r"labels\.csv: column image, row 1: .*img0\.jpg is missing$"):
        build_cache(labels, raw, tmp_path / "cache", size=(8, 8), workers=1)
    assert not (tmp_path / "cache").exists()


def test_truncated_jpeg_is_decoded_with_a_warning(tmp_path: Path) -> None:
    labels, raw = make_dataset(tmp_path)
    data = (raw / "img2.jpg").read_bytes()
    (raw / "img2.jpg").write_bytes(data[: len(data) * 2 // 3])
    build_cache(labels, raw, tmp_path / "cache", size=(8, 8), workers=1)
    assert "img2.jpg" in load_cache(tmp_path / "cache").meta["warnings"]


def test_load_cache_of_nothing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"images\.npy: missing; run `pmtiqa augment`"):
        load_cache(tmp_path / "cache")


def test_meta_records_the_build(tmp_path: Path) -> None:
    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "cache", size=(12, 10), workers=1)
    meta = json.loads((tmp_path / "cache" / "meta.json").read_text())
    pixels = meta.pop("images_sha256")  # of the decoded rows: test_train shows it follows the pixels
    assert meta == {"labels_csv": str(labels), "labels_sha256": sha256_file(labels), "raw_dir": str(raw),
                    "size": [12, 10], "decode": "upright", "warnings": {}}
    assert len(pixels) == 64 and pixels != sha256_file(labels)


@pytest.mark.parametrize("meta, says", [
    ("[]", "meta.json: not what augment writes"),
    ('{"decode": "sideways"}', "meta.json: decode is 'sideways', not one of upright, stored"),
    ('{"size": [12, 10]}', None),  # a cache of an older augment, which recorded no decoding: upright
])
def test_a_cache_s_decoding_is_read_from_its_meta(tmp_path: Path, meta: str, says) -> None:
    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "cache", size=(12, 10), workers=1)
    (tmp_path / "cache" / "meta.json").write_text(meta)
    if says is None:
        assert load_cache(tmp_path / "cache").meta["decode"] == "upright"
    else:
        with pytest.raises(UserError, match=re.escape(says) + "; run `pmtiqa augment`"):
            load_cache(tmp_path / "cache")


def test_native_sizes_keep_every_image_whole_at_the_top_left_of_its_row(tmp_path: Path) -> None:
    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "cache", size=None, workers=2)
    cache = load_cache(tmp_path / "cache")
    assert cache.images.shape == (6, 1500, 2000, 3)  # the canvas: the widest and the tallest
    assert cache.sizes.tolist() == [list(s) for s in SIZES]
    for row, (w, h), colour in zip(cache.images, SIZES, COLOURS):
        assert np.abs(row[:h, :w].reshape(-1, 3).mean(0) - colour).max() < 4  # unresized: no edge blending
        assert not row[h:].any() and not row[:, w:].any()  # the rest of the row stays empty


def test_native_sizes_are_recorded_even_where_all_are_alike(tmp_path: Path) -> None:
    """A model of a native dataset scores any image at its own size: training must know it is one."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(3):
        Image.new("RGB", (50, 40), COLOURS[i]).save(raw / f"{i}.png")
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"image": [f"{i}.png" for i in range(3)], "mos": range(3), "score": [0.0, 0.5, 1.0],
                  "group": range(3)}).to_csv(labels, index=False)
    build_cache(labels, raw, tmp_path / "cache", size=None, workers=1)
    cache = load_cache(tmp_path / "cache")
    assert cache.images.shape == (3, 40, 50, 3) and cache.sizes.tolist() == [[50, 40]] * 3
    build_cache(labels, raw, tmp_path / "resized", size=(50, 40), workers=1)
    assert load_cache(tmp_path / "resized").sizes is None  # resized: every image fills its row


def test_sizes_that_do_not_fit_the_canvas_are_refused(tmp_path: Path) -> None:
    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "cache", size=None, workers=1)
    np.save(tmp_path / "cache" / "sizes.npy", np.array([[4000, 10]] * 6))
    with pytest.raises(UserError, match=r"sizes\.npy: not the sizes of the 6 images"):
        load_cache(tmp_path / "cache")


def test_augment_keeps_live_at_its_images_own_sizes(tmp_path: Path, monkeypatch) -> None:
    """LIVE's protocol keeps each image's own size, through the CLI: LIVE's portraits are not stretched."""
    from pmtiqa.cli import main
    from tests.builders.live import build_live

    monkeypatch.chdir(tmp_path)
    raw = tmp_path / "data" / "raw" / "live"
    build_live(raw)
    for i, image in enumerate(sorted(p for p in raw.rglob("*.bmp"))):
        Image.new("RGB", (48, 32) if i % 3 else (32, 48), COLOURS[i % 6]).save(image, format="BMP")
    params = tmp_path / "params.yaml"
    params.write_text("datasets: [live]\nvariants: [ms_pmt]\nruntime: {workers: 1}\n"
                      "train: {crop_size: 32}\n")
    assert main(["prepare", "--dataset", "live", "--params", str(params)]) == 0
    assert main(["augment", "--dataset", "live", "--params", str(params)]) == 0
    cache = load_cache(tmp_path / "data" / "cache" / "live")
    assert cache.images.shape == (779, 48, 48, 3)
    assert {tuple(s) for s in cache.sizes.tolist()} == {(48, 32), (32, 48)}


STALE = [
    # (what params ask now: size, decode; the line that names it)
    ((48, 48), "upright", r"made at size \[32, 24\]; params ask size \[48, 48\] \(augment.size, or the dataset's"),
    (None, "upright", r"made at size \[32, 24\]; params ask size own \(augment.size"),
    ((32, 24), "stored", r"decoded upright; params ask decoding stored \(augment.decode, or the dataset's"),
]


@pytest.mark.parametrize("size, how, named", STALE, ids=["another size", "own sizes", "another decoding"])
def test_a_cache_made_otherwise_than_params_ask_is_refused(tmp_path: Path, size, how, named) -> None:
    """`pmtiqa train` (tune, cross) run by hand after an edit of augment.size or augment.decode would
    otherwise read the old pixels (the engines rerun augment first)."""
    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "cache", size=(32, 24), workers=1)
    with pytest.raises(UserError, match=rf"cache/meta.json: {named}.*\); run `pmtiqa augment`"):
        load_cache(tmp_path / "cache", made_as=(size, how))
    assert load_cache(tmp_path / "cache", made_as=((32, 24), "upright")).images.shape == (6, 24, 32, 3)


@pytest.mark.parametrize("size, named", [
    ([48, 40], r'size \[48, 40\] is not that of the cache, 32x24 images'),
    ("[32, 24]", r'size "\[32, 24\]" is not that of the cache, 32x24 images'),
    (None, r"size null is not that of the cache, 32x24 images"),
])
def test_a_meta_json_whose_size_is_not_its_images_is_refused(tmp_path: Path, size, named) -> None:
    """meta.json is what the made_as check reads: edited to what params ask, it would let the old
    pixels through."""
    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "cache", size=(32, 24), workers=1)
    meta = json.loads((tmp_path / "cache/meta.json").read_text())
    (tmp_path / "cache/meta.json").write_text(json.dumps({**meta, "size": size}))
    with pytest.raises(UserError, match=rf"cache/meta.json: {named}; run `pmtiqa augment`"):
        load_cache(tmp_path / "cache")


def test_a_cache_of_own_sizes_holds_a_null_size(tmp_path: Path) -> None:
    labels, raw = make_dataset(tmp_path)
    build_cache(labels, raw, tmp_path / "cache", size=None, workers=1)
    assert load_cache(tmp_path / "cache", made_as=(None, "upright")).sizes is not None
    meta = json.loads((tmp_path / "cache/meta.json").read_text())
    (tmp_path / "cache/meta.json").write_text(json.dumps({**meta, "size": [2000, 1500]}))
    with pytest.raises(UserError, match=r"size \[2000, 1500\] is not that of the cache, images of their own sizes"):
        load_cache(tmp_path / "cache")
