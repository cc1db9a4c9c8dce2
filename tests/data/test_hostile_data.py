"""Hostile and broken input to the data stages (prepare, split, augment) and to the atomic writes.

The promise: bad input stops with ONE line (a UserError; exit 2 at the command line) naming the
file, key or value; nothing already written is lost; nothing outside data/raw/<ds>/ is read for an
image that labels.csv names; a killed stage leaves nothing that a rerun does not clean up.

The hostile-input cases go through the command line only: ``pmtiqa.cli.main([...])`` run in a
temporary project folder (``project``) that holds a small params.yaml, tiny images under
data/raw/synthetic/ and the label files each case writes; each asserts the exit status, the one
line on stderr and that no file was written or lost. The few tests left at the bottom of a section
call a helper directly (atomic.py's swap, readers.open_regular, write_json): they are unit tests
of that helper, where no command line input can reach the case.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pmtiqa.cli import main
from pmtiqa.core import atomic
from pmtiqa.data.augment import load_cache
from pmtiqa.data.splits import read_splits, write_splits

DS = "synthetic"
RAW = Path("data/raw") / DS  # relative to the project folder, as the command line names them
LABELS = Path("data/prepared") / DS / "labels.csv"
SPLITS = Path("data/splits") / f"{DS}.json"
CACHE = Path("data/cache") / DS


# -- fixtures: a project folder with params.yaml, data/raw/synthetic/ and a file outside it -------

def write_params(root: Path, workers: int = 1, own_size: bool = False, split: dict | None = None) -> None:
    """A small params.yaml: synthetic only, resized to 40x40 (or kept at their own size), 32-pixel crops,
    ``split`` settings."""
    params = {"datasets": [DS], "variants": ["ms_pmt"], "augment": {"size": "own" if own_size else [40, 40]},
              "runtime": {"workers": workers}, "train": {"crop_size": 32},
              "split": {"n_splits": 2, **(split or {})}}
    (root / "params.yaml").write_text(json.dumps(params) + "\n")  # JSON is YAML


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """<tmp>/ as the working directory: params.yaml, data/raw/synthetic/{0..3}.png (40x30), and
    secret.png beside data/, outside the dataset's folder."""
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path)
    raw = tmp_path / RAW
    raw.mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (40, 30), (40 * i, 100, 200)).save(raw / f"{i}.png")
    Image.new("RGB", (40, 30), (255, 0, 0)).save(tmp_path / "secret.png")
    return tmp_path


def write_labels(images: list[str] | None, n: int = 3, path: Path = LABELS, **columns) -> Path:
    """data/prepared/synthetic/labels.csv of ``images`` (of ``n`` rows, without an image column,
    where None); a column given as None is left out."""
    n = n if images is None else len(images)
    table = {"image": images, "mos": np.linspace(1, 5, n), "score": np.linspace(0, 1, n),
             "group": [f"g{i}" for i in range(n)]}
    table.update(columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({k: v for k, v in table.items() if v is not None}).to_csv(path, index=False)
    return path


def write_published(images: list[str], mos: list[float] | None = None) -> None:
    """The raw synthetic dataset's own label files (synthetic_labels.csv, synthetic.json) listing
    ``images``: what `pmtiqa prepare --dataset synthetic` parses."""
    n = len(images)
    pd.DataFrame({"image": images, "photo": ["p"] * n, "reference": [f"r{i}" for i in range(n)],
                  "distortion": ["none"] * n, "level": [0] * n,
                  "mos": mos or list(np.linspace(10, 90, n))}).to_csv(RAW / "synthetic_labels.csv", index=False)
    (RAW / "synthetic.json").write_text(json.dumps({"n_images": n}))


def files(root: Path) -> dict[str, object]:
    """Every path under ``root``: a regular file's bytes, or what else it is (never opened)."""
    found = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            found[str(path.relative_to(root))] = path.read_bytes() if stat.S_ISREG(mode) else stat.S_IFMT(mode)
    return found


def cli(capsys, *argv: str) -> tuple[int, str]:
    """Run `pmtiqa <argv> --dataset synthetic --params params.yaml`; the exit status and stderr."""
    capsys.readouterr()
    status = main([*argv, "--dataset", DS, "--params", "params.yaml"])
    return status, capsys.readouterr().err


def refused(capsys, root: Path, *argv: str) -> str:
    """Run a command that must refuse its input: exit 2, one line on stderr, and nothing under
    ``root`` written or lost. Return the message, after 'pmtiqa <command>: error: '."""
    before = files(root)
    status, err = cli(capsys, *argv)
    assert status == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    prefix = f"pmtiqa {argv[0]}: error: "
    assert err.startswith(prefix), err
    assert files(root) == before
    return err[len(prefix):-1]


def built_cache(capsys) -> None:
    """data/cache/synthetic/ of images 0..2.png, through `pmtiqa augment`."""
    write_labels(["0.png", "1.png", "2.png"])
    assert cli(capsys, "augment")[0] == 0


# -- 1. image paths that leave data/raw/<ds>/ --------------------------------------------------

def _symlink_to_secret(raw: Path) -> str:
    (raw / "link.png").symlink_to(raw.parent.parent.parent / "secret.png")
    return "link.png"


def _symlinked_folder(raw: Path) -> str:
    (raw / "up").symlink_to(raw.parent.parent.parent, target_is_directory=True)
    return "up/secret.png"


LEAVING = {
    "dot-dot": lambda raw: "../../../secret.png",
    "dot-dot-inside-first": lambda raw: "sub/../../../../secret.png",
    "absolute": lambda raw: str(raw.parent.parent.parent / "secret.png"),
    "symlink-to-file-outside": _symlink_to_secret,
    "symlink-to-folder-outside": _symlinked_folder,
}


@pytest.mark.parametrize("make_name", LEAVING.values(), ids=LEAVING.keys())
def test_augment_refuses_an_image_outside_the_data_folder(project: Path, capsys, make_name) -> None:
    name = make_name(project / RAW)
    write_labels(["0.png", "1.png", name])
    assert f"labels.csv: column image, row 3: {name!r}" in refused(capsys, project, "augment")
    assert not CACHE.exists()


@pytest.mark.parametrize("make_name", LEAVING.values(), ids=LEAVING.keys())
def test_prepare_refuses_a_published_label_that_leaves_the_data_folder(project: Path, capsys, make_name) -> None:
    write_published(["0.png", make_name(project / RAW)])
    message = refused(capsys, project, "prepare")
    assert re.match(rf"{RAW}/synthetic_labels\.csv: entry 2: image .* must lie under", message), message
    assert not LABELS.exists()


def test_a_symlink_that_stays_inside_is_read(project: Path, capsys) -> None:
    (project / RAW / "sub").mkdir()
    (project / RAW / "sub" / "alias.png").symlink_to(project / RAW / "3.png")
    write_labels(["0.png", "1.png", "sub/alias.png"])
    assert cli(capsys, "augment")[0] == 0
    assert load_cache(CACHE).images.shape == (3, 40, 40, 3)


# -- 2. FIFOs, folders, devices: never opened ----------------------------------------------------

def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _device(path: Path) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's numbers
    except PermissionError:
        pytest.skip("mknod needs privileges here")


NOT_FILES = {
    "fifo": (_fifo, "a FIFO"),
    "folder": (lambda path: path.mkdir(), "a folder"),
    "device": (_device, "a character device"),
}


@pytest.fixture
def no_hang():
    """Fail instead of hanging forever, should a FIFO ever be opened."""
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("hung on a special file"))
    signal.alarm(20)
    yield
    signal.alarm(0)


@pytest.mark.parametrize("workers, own_size", [(1, False), (2, False), (1, True)], ids=["serial", "pool", "own_size"])
@pytest.mark.parametrize("make, kind", NOT_FILES.values(), ids=NOT_FILES.keys())
def test_augment_opens_regular_files_only(project: Path, capsys, no_hang, make, kind, workers, own_size) -> None:
    write_params(project, workers=workers, own_size=own_size)
    make(project / RAW / "odd.png")
    write_labels(["0.png", "odd.png", "1.png"])
    assert refused(capsys, project, "augment") == \
        f"{LABELS}: column image, row 2: {RAW / 'odd.png'} is {kind}, not a regular file"


@pytest.mark.parametrize("make, kind", NOT_FILES.values(), ids=NOT_FILES.keys())
def test_prepare_refuses_special_files(project: Path, capsys, no_hang, make, kind) -> None:
    make(project / RAW / "odd.png")
    write_published(["0.png", "odd.png"])
    message = refused(capsys, project, "prepare")
    assert re.match(rf"{RAW}/synthetic_labels\.csv: entry 2: .*odd\.png is {kind}, not a regular file",
                                  message), message


def _fifo_labels(capsys) -> None:
    LABELS.parent.mkdir(parents=True)
    os.mkfifo(LABELS)


def _fifo_splits(capsys) -> None:
    built_cache(capsys)
    SPLITS.parent.mkdir(parents=True)
    os.mkfifo(SPLITS)


FIFO_INPUTS = {  # the input file that is a FIFO: (make it, the command that reads it, the message)
    "labels-at-split": (_fifo_labels, ["split"], rf"{LABELS}: a FIFO, not a regular file; run `pmtiqa prepare`"),
    "splits-at-train": (_fifo_splits, ["train", "--variant", "ms_pmt", "--split", "0"],
                        rf"{SPLITS}: a FIFO, not a regular file; run `pmtiqa split"),
}


@pytest.mark.parametrize("make, argv, message", FIFO_INPUTS.values(), ids=FIFO_INPUTS.keys())
def test_label_and_splits_files_that_are_fifos_are_refused(project: Path, capsys, no_hang, make, argv,
                                                           message) -> None:
    make(capsys)
    assert re.match(message, refused(capsys, project, *argv))


def test_a_fifo_swapped_in_after_the_check_is_not_waited_on(tmp_path: Path, no_hang) -> None:
    """Unit test of readers.open_regular: a FIFO that replaces a checked file between the check and
    the open (a race no command line input can time) is refused, not waited on."""
    from pmtiqa.core.readers import open_regular

    os.mkfifo(tmp_path / "late.png")
    with pytest.raises(OSError, match="not a regular file"):
        open_regular(tmp_path / "late.png")


# -- 3. label files with bad values, and images listed twice -----------------------------------

BAD_LABELS = {
    "nan-score": (dict(score=[0.1, float("nan"), 0.3]), r"column score, row 2: .* is empty"),
    "text-nan-score": (dict(score=["0.1", "0.2", "NaN"]), r"column score, row 3: 'NaN' is not a number"),
    "no-score-column": (dict(score=None), r"lacks column\(s\) score"),
    "no-image-column": (dict(image=None), r"lacks column\(s\) image"),
    "text-mos": (dict(mos=[1.0, "good", 3.0]), r"column mos, row 2: 'good' is not a number"),
    "infinite-mos": (dict(mos=[1.0, 2.0, float("inf")]), r"column mos, row 3: inf is not a finite number"),
    "score-above-1": (dict(score=[0.1, 1.5, 0.3]), r"column score, row 2: 1.5 is outside 0\.\.1"),
    "score-below-0": (dict(score=[-0.2, 0.5, 2.0]), r"column score, row 1: -0.2 is outside 0\.\.1 \(and 1 more"),
    "empty-group": (dict(group=["a", "", "c"]), r"column group, row 2: .* is empty"),
    "empty-image": (dict(image=["0.png", "", "2.png"]), r"column image, row 2: .* is empty"),
    "line-break-in-image": (dict(image=["0.png", "a\nb.png", "2.png"]),
                            r"column image, row 2: 'a\\nb\.png' is a name with a control character"),
    "same-image-twice": (dict(image=["0.png", "1.png", "0.png"]),
                         r"column image, rows 1 and 3: '0\.png' and '0\.png' are the same image"),
    "same-image-other-spelling": (dict(image=["0.png", "./sub/../1.png", "1.png"]),
                                  r"column image, rows 2 and 3: '\./sub/\.\./1\.png' and '1\.png' are the same image"),
}


def _bad_labels(columns: dict) -> Path:
    return write_labels(columns.pop("image", ["0.png", "1.png", "2.png"]), **columns)


@pytest.mark.parametrize("columns, message", BAD_LABELS.values(), ids=BAD_LABELS.keys())
def test_split_refuses_bad_labels(project: Path, capsys, columns, message) -> None:
    labels = _bad_labels(dict(columns))
    assert re.match(rf"{labels}: {message}", refused(capsys, project, "split"))
    assert not SPLITS.exists()


@pytest.mark.parametrize("columns, message", BAD_LABELS.values(), ids=BAD_LABELS.keys())
def test_augment_refuses_bad_labels(project: Path, capsys, columns, message) -> None:
    labels = _bad_labels(dict(columns))
    assert re.match(rf"{labels}: {message}", refused(capsys, project, "augment"))
    assert not CACHE.exists()


def test_same_file_under_two_names_is_refused_at_augment(project: Path, capsys) -> None:
    (project / RAW / "again.png").symlink_to("1.png")
    write_labels(["0.png", "1.png", "again.png"])
    assert re.search(r"rows 2 and 3: '1\.png' and 'again\.png' are the same image",
                                   refused(capsys, project, "augment"))


def test_an_image_named_like_a_missing_value_is_a_name(project: Path, capsys) -> None:
    write_labels(["NA", "null", "nan", "x"], group=["NA", "n/a", "None", "x"])
    write_params(project, split={"n_splits": 1, "test_fraction": 0.5})  # two groups: an SRCC
    assert cli(capsys, "split")[0] == 0
    assert json.loads(SPLITS.read_text())["n_rows"] == 4


def test_prepare_refuses_a_dataset_that_lists_an_image_twice(project: Path, capsys) -> None:
    write_published(["0.png", "1.png", "0.png"], mos=[10.0, 20.0, 30.0])
    assert "labels.csv (not written): column image, rows 1 and 3" in refused(capsys, project, "prepare")
    assert not LABELS.exists()


# -- 4. splits: never an empty part; splits JSONs are checked where read; split.seed is blamed --

@pytest.mark.parametrize("n_groups", range(2, 9), ids=lambda n: f"{n}-groups")
@pytest.mark.parametrize("test_fraction, val_fraction", [(0.01, 0.0), (0.99, 0.0), (0.5, 0.9), (0.01, 0.01),
                                                         (0.99, 0.99)],
                         ids=["test0.01", "test0.99", "test0.5-val0.9", "test0.01-val0.01", "test0.99-val0.99"])
def test_split_never_leaves_train_or_test_empty(project: Path, capsys, n_groups, test_fraction, val_fraction) -> None:
    if val_fraction and n_groups < 3:
        pytest.skip("too few groups for three parts: refused (test_splits.test_too_few_groups)")
    n_rows = 3 * n_groups
    write_labels([f"{i}.png" for i in range(n_rows)], group=[f"g{i % n_groups}" for i in range(n_rows)])
    write_params(project, split=dict(n_splits=5, test_fraction=test_fraction, val_fraction=val_fraction, seed=1))
    assert cli(capsys, "split")[0] == 0
    written = json.loads(SPLITS.read_text())
    assert written["n_rows"] == n_rows and len(written["splits"]) == 5
    for split in written["splits"]:
        assert split["train"] and split["test"] and (split["val"] or not val_fraction)


GOOD_SPLIT = {"train": [0, 1], "val": [], "test": [2]}
BAD_SPLITS = {
    "not-a-mapping": ([1, 2], r"not a splits file"),
    "no-splits": ({"splits": []}, r"not a splits file"),
    "other-n-rows": ({"splits": [GOOD_SPLIT], "n_rows": 4}, r"n_rows 4, but labels\.csv has 3 rows"),
    "part-missing": ({"splits": [{"train": [0], "test": [1]}], "n_rows": 3}, r"splits\[0\]: expected the parts"),
    "out-of-range": ({"splits": [GOOD_SPLIT, {**GOOD_SPLIT, "test": [3]}], "n_rows": 3},
                     r"splits\[1\]\.test: row id 3 outside 0\.\.2"),
    "negative": ({"splits": [{**GOOD_SPLIT, "train": [-1, 0]}], "n_rows": 3}, r"splits\[0\]\.train: row id -1"),
    "float": ({"splits": [{**GOOD_SPLIT, "train": [0.0, 1]}], "n_rows": 3},
              r"splits\[0\]\.train: 0\.0 is not a row id"),
    "text": ({"splits": [{**GOOD_SPLIT, "test": ["2"]}], "n_rows": 3}, r"splits\[0\]\.test: '2' is not a row id"),
    "bool": ({"splits": [{**GOOD_SPLIT, "test": [True]}], "n_rows": 3}, r"splits\[0\]\.test: True is not a row id"),
    "not-a-list": ({"splits": [{**GOOD_SPLIT, "val": 1}], "n_rows": 3}, r"splits\[0\]\.val: not a list: 1"),
    "empty-test": ({"splits": [{**GOOD_SPLIT, "test": []}], "n_rows": 3}, r"splits\[0\]\.test: empty"),
    "empty-train": ({"splits": [{**GOOD_SPLIT, "train": []}], "n_rows": 3}, r"splits\[0\]\.train: empty"),
    "row-on-two-sides": ({"splits": [{**GOOD_SPLIT, "test": [1]}], "n_rows": 3},
                         r"splits\[0\]\.test: row 1 is also in train"),
}


@pytest.mark.parametrize("raw, message", BAD_SPLITS.values(), ids=BAD_SPLITS.keys())
def test_bad_splits_are_refused_where_read(project: Path, capsys, raw, message) -> None:
    """`pmtiqa train` reads data/splits/<ds>.json (beside a cache of 3 images) and refuses it."""
    built_cache(capsys)
    SPLITS.parent.mkdir(parents=True)
    SPLITS.write_text(json.dumps(raw))
    message_seen = refused(capsys, project, "train", "--variant", "ms_pmt", "--split", "0")
    assert re.match(rf"{SPLITS}: {message}", message_seen), message_seen
    assert not Path("runs").exists()


def test_read_splits_accepts_what_write_splits_writes(tmp_path: Path) -> None:
    """Unit test of the splits.py pair: what write_splits writes, read_splits returns unchanged
    (through the command line the reader is `pmtiqa train`, which would go on to train)."""
    labels = write_labels([f"{i}.png" for i in range(10)], path=tmp_path / "labels.csv")
    written = write_splits(labels, tmp_path / "s.json", n_splits=3, test_fraction=0.2, val_fraction=0.2, seed=0)
    assert read_splits(tmp_path / "s.json", 10, "rerun") == written["splits"]


BAD_SPLIT_PARAMS = {  # refused as params.yaml is read, before labels.csv is opened
    "negative-seed": (dict(seed=-1), r"split\.seed: must be in \[0, 4294967295\], got -1"),
    "no-test-part": (dict(test_fraction=0.0), r"split\.test_fraction: must be in \(0, 1\), got 0\.0"),
    "all-test": (dict(test_fraction=1.0), r"split\.test_fraction: must be in \(0, 1\), got 1\.0"),
    "no-splits": (dict(n_splits=0), r"split\.n_splits: must be in \[1, 1000\], got 0"),
    "too-many-splits": (dict(n_splits=1001), r"split\.n_splits: must be in \[1, 1000\], got 1001"),
    "subset-0": (dict(subset=0.0), r"split\.subset: must be in \(0, 1\], got 0\.0"),
}


@pytest.mark.parametrize("params, message", BAD_SPLIT_PARAMS.values(), ids=BAD_SPLIT_PARAMS.keys())
def test_split_params_are_blamed_not_labels(project: Path, capsys, params, message) -> None:
    write_labels([f"{i}.png" for i in range(10)])
    write_params(project, split=params)
    seen = refused(capsys, project, "split")
    assert re.fullmatch(rf"params\.yaml: {message}", seen), seen
    assert not SPLITS.exists()


def test_negative_seed_at_the_command_line_names_split_seed(project: Path, capsys) -> None:
    write_labels([f"{i}.png" for i in range(10)])
    (project / "params.yaml").write_text("datasets: [synthetic]\nvariants: [ms_pmt]\nsplit: {seed: -1}\n")
    seen = refused(capsys, project, "split")
    assert "split.seed" in seen and "labels.csv" not in seen


# -- 5. atomic folder swap: the destination is never missing; unwritable folders are named ------
# The two swap tests are unit tests of atomic.atomic_dir: the state a swap killed between its two
# renames leaves, and the fallback without renameat2, cannot be produced from the command line.

def _filled(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "f").write_text(text)
    return folder


def _killed_after_first_rename(dest: Path) -> None:
    """What the fallback swap leaves when killed between its renames: the old folder parked, none at dest."""
    os.replace(dest, dest.with_name(f".{dest.name}.old"))


def _killed_after_second_rename(dest: Path) -> None:
    _filled(dest.with_name(f".{dest.name}.old"), "older")


@pytest.mark.parametrize("kill", [_killed_after_first_rename, _killed_after_second_rename], ids=["first", "second"])
def test_a_swap_killed_midway_is_repaired_before_anything_else(tmp_path: Path, kill) -> None:
    dest = _filled(tmp_path / "cache", "old")
    kill(dest)
    with pytest.raises(RuntimeError):
        with atomic.atomic_dir(dest):
            raise RuntimeError("this build fails")
    assert (dest / "f").read_text() == "old" and sorted(os.listdir(tmp_path)) == ["cache"]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_swap_replaces_the_folder(tmp_path: Path, monkeypatch, exchange) -> None:
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    dest = _filled(tmp_path / "cache", "old")
    with atomic.atomic_dir(dest) as tmp:
        _filled(tmp, "new")
    assert (dest / "f").read_text() == "new" and sorted(os.listdir(tmp_path)) == ["cache"]


def _read_only(folder: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder.chmod(0o555)


def _a_file(folder: Path) -> None:
    folder.rmdir()
    folder.write_text("not a folder")


UNWRITABLE = {"read-only": _read_only, "a-file": _a_file}


@pytest.mark.parametrize("spoil", UNWRITABLE.values(), ids=UNWRITABLE.keys())
def test_unwritable_output_folder_of_split_is_named(project: Path, capsys, spoil) -> None:
    write_labels([f"{i}.png" for i in range(10)])
    write_params(project, split={"n_splits": 1})
    SPLITS.parent.mkdir(parents=True)
    spoil(SPLITS.parent)
    seen = refused(capsys, project, "split")
    assert re.match(rf"{SPLITS.parent}.*: cannot write", seen), seen


@pytest.mark.parametrize("spoil", UNWRITABLE.values(), ids=UNWRITABLE.keys())
def test_unwritable_output_folder_of_augment_is_named(project: Path, capsys, spoil) -> None:
    write_labels(["0.png", "1.png"])
    CACHE.parent.mkdir(parents=True)
    spoil(CACHE.parent)
    seen = refused(capsys, project, "augment")
    assert re.match(rf"{CACHE.parent}.*: cannot write", seen), seen


def test_a_read_only_file_system_is_named(project: Path, capsys, monkeypatch) -> None:
    """As root, chmod cannot make a folder read-only; stand in for a read-only mount."""
    def refuse(*args, dir=None, **kwargs):
        raise OSError(30, "Read-only file system", str(dir))

    write_labels([f"{i}.png" for i in range(10)])
    SPLITS.parent.mkdir(parents=True)  # a project that has been split before
    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    assert refused(capsys, project, "split") == f"{SPLITS.parent}: cannot write (Read-only file system)"


# -- 6. leftovers of killed writes: each write clears its own destination's temporaries --------

def test_each_write_removes_only_its_own_temporaries(project: Path, capsys) -> None:
    write_labels([f"{i}.png" for i in range(10)])
    out = project / SPLITS.parent
    out.mkdir(parents=True)
    own = [out / ".synthetic.json.k2j4h5g6.tmp", out / ".synthetic.json.zz_9.tmp"]
    others = [out / ".synthetic.json.old", out / ".other.json.k2j4h5g6.tmp", out / ".synthetic.json.x.y.tmp",
              out / ".synthetic.tmp"]
    for path in own + others:
        path.write_text("left by a killed write")
    assert cli(capsys, "split")[0] == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in [out / SPLITS.name, *others])


def _start_augment(project: Path) -> subprocess.Popen:
    """`python -m pmtiqa augment` in the project folder: writes data/cache/synthetic/."""
    return subprocess.Popen([sys.executable, "-m", "pmtiqa", "augment", "--dataset", DS, "--params", "params.yaml"],
                            cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found |= {int(p) for p in task.read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_at(proc: subprocess.Popen, delay: float, once_working: bool = False) -> set[int]:
    """SIGKILL ``proc`` after ``delay`` seconds, or with ``once_working`` as soon as its pool has
    workers (at the latest after ``delay``); return the pool workers it had started by then."""
    workers, deadline = set(), time.monotonic() + delay
    while time.monotonic() < deadline and proc.poll() is None and not (once_working and workers):
        workers |= _children(proc.pid)
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    return workers


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_during_augment_leaves_nothing_a_rerun_does_not_clean(project: Path) -> None:
    write_params(project, workers=2)
    noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    names = []
    for i in range(40):
        Image.fromarray(np.roll(noise, i, axis=0)).save(project / RAW / f"{i}.png", compress_level=1)
        names.append(f"{i}.png")
    write_labels(names)
    cache, ref = project / CACHE.parent, project / CACHE.parent / "ref"
    start = time.monotonic()
    assert _start_augment(project).wait() == 0
    full = time.monotonic() - start
    os.replace(project / CACHE, ref)  # a finished cache beside the one the killed runs write

    rng, seen_workers = random.Random(0), set()
    for attempt in range(5):  # at random moments, the last as soon as the pool works (on a loaded machine
        # the random ones may all land before or after it)
        once_working = attempt == 4
        seen_workers |= _kill_at(_start_augment(project), 10 * full if once_working else rng.uniform(0.05, full),
                                 once_working)
        time.sleep(0.2)  # PR_SET_PDEATHSIG is delivered at once; give the kernel a moment to reap
        assert not [pid for pid in seen_workers if _alive(pid)], "a pool worker outlived its killed parent"
        assert ref.is_dir()  # another destination's folder is never touched
    assert seen_workers, "no kill landed while the pool was working: make the fixture larger"
    assert _start_augment(project).wait() == 0
    assert sorted(os.listdir(cache)) == ["ref", DS]  # no .synthetic.*.tmp left
    for name in ("images.npy", "labels.csv"):
        assert (project / CACHE / name).read_bytes() == (ref / name).read_bytes()
    assert load_cache(project / CACHE).meta["images_sha256"] == load_cache(ref).meta["images_sha256"]


def test_metrics_that_are_not_numbers_are_written_as_json_null(tmp_path):
    """The SRCC of constant predictions is NaN: metrics.json stays strict JSON (null), and the
    summary over splits skips it. (A unit test of atomic.write_json and metrics.aggregate.)"""
    import json as strict

    from pmtiqa.core.atomic import write_json
    from pmtiqa.method.metrics import aggregate

    write_json(tmp_path / "metrics.json", {"final": {"srcc": float("nan"), "plcc": [float("inf"), 0.5]}})
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    read = strict.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in metrics.json"))
    assert read == {"final": {"srcc": None, "plcc": [None, 0.5]}}
    assert aggregate([read["final"]["srcc"], 0.4, 0.6])["median"] == pytest.approx(0.5)
