"""Hostile and broken input to the data stages (prepare, split, augment) and to the atomic writes.

The promise: bad input stops with ONE line (a UserError; exit 2 at the command line) naming the
file, key or value; nothing already written is lost; nothing outside data/raw/<ds>/ is read for an
image that labels.csv names; a killed stage leaves nothing that a rerun does not clean up.
"""
from __future__ import annotations

import json
import os
import random
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

from pmtiqa import atomic
from pmtiqa.cache import build_cache, load_cache
from pmtiqa.cli import main
from pmtiqa.config import SplitParams
from pmtiqa.datasets.base import check_images
from pmtiqa.errors import UserError
from pmtiqa.splits import check_splits, make_splits, read_splits, write_splits

ROOT = Path(__file__).resolve().parent.parent


# -- fixtures: a tiny dataset under <tmp>/data/raw/ds/ and a file outside it -----------------

def make_raw(tmp_path: Path, n: int = 4) -> Path:
    raw = tmp_path / "data" / "raw" / "ds"
    raw.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (40, 30), (40 * i, 100, 200)).save(raw / f"{i}.png")
    Image.new("RGB", (40, 30), (255, 0, 0)).save(tmp_path / "secret.png")  # outside the data folder
    return raw


def write_labels(path: Path, images: list[str] | None, n: int = 3, **columns) -> Path:
    """A labels.csv of ``images`` (of ``n`` rows, without an image column, where None); a column
    given as None is left out."""
    n = n if images is None else len(images)
    table = {"image": images, "mos": np.linspace(1, 5, n), "score": np.linspace(0, 1, n),
             "group": [f"g{i}" for i in range(n)]}
    table.update(columns)
    pd.DataFrame({k: v for k, v in table.items() if v is not None}).to_csv(path, index=False)
    return path


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


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
def test_augment_refuses_an_image_outside_the_data_folder(tmp_path: Path, make_name) -> None:
    raw = make_raw(tmp_path)
    name = make_name(raw)
    labels = write_labels(tmp_path / "labels.csv", ["0.png", "1.png", name])
    with pytest.raises(UserError) as err:
        build_cache(labels, raw, tmp_path / "cache", size=(32, 32), workers=1)
    assert f"labels.csv: column image, row 3: {name!r}" in one_line(err)
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("make_name", LEAVING.values(), ids=LEAVING.keys())
def test_prepare_refuses_a_published_label_that_leaves_the_data_folder(tmp_path: Path, make_name) -> None:
    raw = make_raw(tmp_path)
    with pytest.raises(UserError, match=r"scores\.csv: entry 2: image .* must lie under") as err:
        check_images(raw, ["0.png", make_name(raw)], raw / "scores.csv")
    one_line(err)


def test_a_symlink_that_stays_inside_is_read(tmp_path: Path) -> None:
    raw = make_raw(tmp_path)
    (raw / "sub").mkdir()
    (raw / "sub" / "alias.png").symlink_to(raw / "3.png")
    labels = write_labels(tmp_path / "labels.csv", ["0.png", "1.png", "sub/alias.png"])
    build_cache(labels, raw, tmp_path / "cache", size=(32, 32), workers=1)
    assert load_cache(tmp_path / "cache").images.shape == (3, 32, 32, 3)


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


@pytest.mark.parametrize("workers, native", [(1, False), (2, False), (1, True)], ids=["serial", "pool", "native"])
@pytest.mark.parametrize("make, kind", NOT_FILES.values(), ids=NOT_FILES.keys())
def test_augment_opens_regular_files_only(tmp_path: Path, no_hang, make, kind, workers, native) -> None:
    raw = make_raw(tmp_path)
    make(raw / "odd.png")
    labels = write_labels(tmp_path / "labels.csv", ["0.png", "odd.png", "1.png"])
    with pytest.raises(UserError) as err:
        build_cache(labels, raw, tmp_path / "cache", size=None if native else (32, 32), workers=workers)
    assert one_line(err) == f"{labels}: column image, row 2: {raw / 'odd.png'} is {kind}, not a regular file"


@pytest.mark.parametrize("make, kind", NOT_FILES.values(), ids=NOT_FILES.keys())
def test_prepare_refuses_special_files(tmp_path: Path, no_hang, make, kind) -> None:
    raw = make_raw(tmp_path)
    make(raw / "odd.png")
    with pytest.raises(UserError, match=rf"scores\.csv: entry 2: .*odd\.png is {kind}, not a regular file"):
        check_images(raw, ["0.png", "odd.png"], raw / "scores.csv")


def test_label_and_splits_files_that_are_fifos_are_refused(tmp_path: Path, no_hang) -> None:
    os.mkfifo(tmp_path / "labels.csv")
    os.mkfifo(tmp_path / "ds.json")
    with pytest.raises(UserError, match=r"labels\.csv: a FIFO, not a regular file; run `pmtiqa prepare`"):
        write_splits(tmp_path / "labels.csv", tmp_path / "s.json", SplitParams())
    with pytest.raises(UserError, match=r"ds\.json: a FIFO, not a regular file; rerun"):
        read_splits(tmp_path / "ds.json", 3, "rerun")


def test_a_fifo_swapped_in_after_the_check_is_not_waited_on(tmp_path: Path, no_hang) -> None:
    from pmtiqa.readers import open_regular

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


def _bad_labels(tmp_path: Path, columns: dict) -> Path:
    return write_labels(tmp_path / "labels.csv", columns.pop("image", ["0.png", "1.png", "2.png"]), **columns)


@pytest.mark.parametrize("columns, message", BAD_LABELS.values(), ids=BAD_LABELS.keys())
def test_split_refuses_bad_labels(tmp_path: Path, columns, message) -> None:
    labels = _bad_labels(tmp_path, dict(columns))
    with pytest.raises(UserError, match=rf"^{labels}: {message}") as err:
        write_splits(labels, tmp_path / "splits.json", SplitParams(n_splits=2))
    one_line(err)
    assert not (tmp_path / "splits.json").exists()


@pytest.mark.parametrize("columns, message", BAD_LABELS.values(), ids=BAD_LABELS.keys())
def test_augment_refuses_bad_labels(tmp_path: Path, columns, message) -> None:
    raw = make_raw(tmp_path)
    labels = _bad_labels(tmp_path, dict(columns))
    with pytest.raises(UserError, match=rf"^{labels}: {message}"):
        build_cache(labels, raw, tmp_path / "cache", size=(32, 32), workers=1)


def test_same_file_under_two_names_is_refused_at_augment(tmp_path: Path) -> None:
    raw = make_raw(tmp_path)
    (raw / "again.png").symlink_to("1.png")
    labels = write_labels(tmp_path / "labels.csv", ["0.png", "1.png", "again.png"])
    with pytest.raises(UserError, match=r"rows 2 and 3: '1\.png' and 'again\.png' are the same image"):
        build_cache(labels, raw, tmp_path / "cache", size=(32, 32), workers=1)


def test_an_image_named_like_a_missing_value_is_a_name(tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "labels.csv", ["NA", "null", "nan", "x"], group=["NA", "n/a", "None", "x"])
    assert write_splits(labels, tmp_path / "s.json", SplitParams(n_splits=1))["n_rows"] == 4


def test_prepare_refuses_a_dataset_that_lists_an_image_twice(tmp_path: Path, monkeypatch, capsys) -> None:
    from pmtiqa.datasets import synthetic

    monkeypatch.chdir(tmp_path)
    raw = make_raw(tmp_path)
    table = pd.DataFrame({"image": ["0.png", "1.png", "0.png"], "mos": [10.0, 20.0, 30.0], "group": ["a", "b", "c"]})
    monkeypatch.setattr(synthetic, "parse", lambda raw_dir: table)
    (tmp_path / "params.yaml").write_text("datasets: [synthetic]\nvariants: [ms_pmt]\n")
    (raw.parent / "synthetic").symlink_to(raw)
    assert main(["prepare", "--dataset", "synthetic"]) == 2
    assert "labels.csv (not written): column image, rows 1 and 3" in capsys.readouterr().err
    assert not (tmp_path / "data" / "prepared" / "synthetic" / "labels.csv").exists()


# -- 4. splits: never an empty part; splits JSONs are checked where read; split.seed is blamed --

@pytest.mark.parametrize("n_groups", range(2, 9))
@pytest.mark.parametrize("test_fraction, val_fraction", [(0.01, 0.0), (0.99, 0.0), (0.5, 0.9), (0.01, 0.01),
                                                         (0.99, 0.99)])
def test_split_never_leaves_train_or_test_empty(n_groups, test_fraction, val_fraction) -> None:
    if val_fraction and n_groups < 3:
        pytest.skip("too few groups for three parts: refused (test_splits.test_too_few_groups)")
    result = make_splits([f"g{i % n_groups}" for i in range(3 * n_groups)], 5, test_fraction, val_fraction, seed=1)
    result["n_rows"] = 3 * n_groups
    for split in check_splits(result, 3 * n_groups, Path("x.json")):
        assert split["train"] and split["test"] and (split["val"] or not val_fraction)


GOOD_SPLIT = {"train": [0, 1], "val": [], "test": [2]}
BAD_SPLITS = {
    "not-a-mapping": ([1, 2], 3, r"not a splits file"),
    "no-splits": ({"splits": []}, 3, r"not a splits file"),
    "other-n-rows": ({"splits": [GOOD_SPLIT], "n_rows": 4}, 3, r"n_rows 4, but labels\.csv has 3 rows"),
    "part-missing": ({"splits": [{"train": [0], "test": [1]}], "n_rows": 3}, 3, r"splits\[0\]: expected the parts"),
    "out-of-range": ({"splits": [GOOD_SPLIT, {**GOOD_SPLIT, "test": [3]}], "n_rows": 3}, 3,
                     r"splits\[1\]\.test: row id 3 outside 0\.\.2"),
    "negative": ({"splits": [{**GOOD_SPLIT, "train": [-1, 0]}], "n_rows": 3}, 3, r"splits\[0\]\.train: row id -1"),
    "float": ({"splits": [{**GOOD_SPLIT, "train": [0.0, 1]}], "n_rows": 3}, 3,
              r"splits\[0\]\.train: 0\.0 is not a row id"),
    "text": ({"splits": [{**GOOD_SPLIT, "test": ["2"]}], "n_rows": 3}, 3, r"splits\[0\]\.test: '2' is not a row id"),
    "bool": ({"splits": [{**GOOD_SPLIT, "test": [True]}], "n_rows": 3}, 3, r"splits\[0\]\.test: True is not a row id"),
    "not-a-list": ({"splits": [{**GOOD_SPLIT, "val": 1}], "n_rows": 3}, 3, r"splits\[0\]\.val: not a list: 1"),
    "empty-test": ({"splits": [{**GOOD_SPLIT, "test": []}], "n_rows": 3}, 3, r"splits\[0\]\.test: empty"),
    "empty-train": ({"splits": [{**GOOD_SPLIT, "train": []}], "n_rows": 3}, 3, r"splits\[0\]\.train: empty"),
    "row-on-two-sides": ({"splits": [{**GOOD_SPLIT, "test": [1]}], "n_rows": 3}, 3,
                         r"splits\[0\]\.test: row 1 is also in train"),
}


@pytest.mark.parametrize("raw, n_rows, message", BAD_SPLITS.values(), ids=BAD_SPLITS.keys())
def test_bad_splits_are_refused_where_read(tmp_path: Path, raw, n_rows, message) -> None:
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(UserError, match=rf"^{path}: {message}") as err:
        read_splits(path, n_rows, "run `pmtiqa split`")
    one_line(err)


def test_read_splits_accepts_what_write_splits_writes(tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "labels.csv", [f"{i}.png" for i in range(10)])
    written = write_splits(labels, tmp_path / "s.json", SplitParams(n_splits=3, val_fraction=0.2))
    assert read_splits(tmp_path / "s.json", 10, "rerun") == written["splits"]


BAD_SPLIT_PARAMS = {
    "negative-seed": (dict(seed=-1), r"^split\.seed: -1 must be an integer >= 0"),
    "no-test-part": (dict(test_fraction=0.0), r"^split\.test_fraction: 0\.0 must lie strictly between"),
    "all-test": (dict(test_fraction=1.0), r"^split\.test_fraction: 1\.0"),
    "no-splits": (dict(n_splits=0), r"^split\.n_splits: 0"),
    "subset-0": (dict(subset=0.0), r"^split\.subset: 0\.0"),
}


@pytest.mark.parametrize("params, message", BAD_SPLIT_PARAMS.values(), ids=BAD_SPLIT_PARAMS.keys())
def test_split_params_are_blamed_not_labels(tmp_path: Path, params, message) -> None:
    labels = write_labels(tmp_path / "labels.csv", [f"{i}.png" for i in range(10)])
    with pytest.raises(UserError, match=message):
        write_splits(labels, tmp_path / "s.json", SplitParams(**params))


def test_negative_seed_at_the_command_line_names_split_seed(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write_labels(Path(_mkdir(tmp_path / "data/prepared/synthetic")) / "labels.csv", [f"{i}.png" for i in range(10)])
    (tmp_path / "params.yaml").write_text("datasets: [synthetic]\nvariants: [ms_pmt]\nsplit: {seed: -1}\n")
    assert main(["split", "--dataset", "synthetic"]) == 2
    err = capsys.readouterr().err
    assert "split.seed" in err and "labels.csv" not in err and err.count("\n") == 1


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


# -- 5. atomic folder swap: the destination is never missing; unwritable folders are named ------

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
def test_unwritable_output_folder_of_split_is_named(tmp_path: Path, spoil) -> None:
    labels = write_labels(tmp_path / "labels.csv", [f"{i}.png" for i in range(10)])
    spoil(_mkdir(tmp_path / "splits"))
    with pytest.raises(UserError, match=rf"{tmp_path / 'splits'}.*: cannot write") as err:
        write_splits(labels, tmp_path / "splits" / "ds.json", SplitParams(n_splits=1))
    one_line(err)


@pytest.mark.parametrize("spoil", UNWRITABLE.values(), ids=UNWRITABLE.keys())
def test_unwritable_output_folder_of_augment_is_named(tmp_path: Path, spoil) -> None:
    raw = make_raw(tmp_path)
    labels = write_labels(tmp_path / "labels.csv", ["0.png", "1.png"])
    spoil(_mkdir(tmp_path / "cache"))
    with pytest.raises(UserError, match=rf"{tmp_path / 'cache'}.*: cannot write") as err:
        build_cache(labels, raw, tmp_path / "cache" / "ds", size=(32, 32), workers=1)
    one_line(err)


def test_a_read_only_file_system_is_named(tmp_path: Path, monkeypatch) -> None:
    """As root, chmod cannot make a folder read-only; stand in for a read-only mount."""
    def refuse(*args, dir=None, **kwargs):
        raise OSError(30, "Read-only file system", str(dir))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(UserError, match=rf"^{tmp_path}: cannot write \(Read-only file system\)$"):
        atomic.write_json(tmp_path / "x.json", {})


# -- 6. leftovers of killed writes: each write clears its own destination's temporaries --------

def test_each_write_removes_only_its_own_temporaries(tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "labels.csv", [f"{i}.png" for i in range(10)])
    out = _mkdir(tmp_path / "splits")
    own = [out / ".ds.json.k2j4h5g6.tmp", out / ".ds.json.zz_9.tmp"]
    others = [out / ".ds.json.old", out / ".other.json.k2j4h5g6.tmp", out / ".ds.json.x.y.tmp", out / ".ds.tmp"]
    for path in own + others:
        path.write_text("left by a killed write")
    write_splits(labels, out / "ds.json", SplitParams(n_splits=1))
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in [out / "ds.json", *others])


AUGMENT = """
import sys
from pmtiqa.cache import build_cache
build_cache(sys.argv[1], sys.argv[2], sys.argv[3], size=(48, 48), workers=2)
"""


def _start_augment(tmp_path: Path, out: Path) -> subprocess.Popen:
    raw = tmp_path / "data" / "raw" / "ds"
    return subprocess.Popen([sys.executable, "-c", AUGMENT, str(tmp_path / "labels.csv"), str(raw), str(out)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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


def _kill_at(proc: subprocess.Popen, delay: float) -> set[int]:
    """SIGKILL ``proc`` after ``delay`` seconds; return the pool workers it had started by then."""
    workers, deadline = set(), time.monotonic() + delay
    while time.monotonic() < deadline and proc.poll() is None:
        workers |= _children(proc.pid)
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    return workers


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_during_augment_leaves_nothing_a_rerun_does_not_clean(tmp_path: Path) -> None:
    raw = _mkdir(tmp_path / "data" / "raw" / "ds")
    noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    names = []
    for i in range(40):
        Image.fromarray(np.roll(noise, i, axis=0)).save(raw / f"{i}.png", compress_level=1)
        names.append(f"{i}.png")
    write_labels(tmp_path / "labels.csv", names)
    cache = _mkdir(tmp_path / "data" / "cache")
    start = time.monotonic()
    assert _start_augment(tmp_path, cache / "ref").wait() == 0
    full = time.monotonic() - start

    rng, seen_workers = random.Random(0), set()
    for _ in range(5):
        seen_workers |= _kill_at(_start_augment(tmp_path, cache / "ds"), rng.uniform(0.05, full))
        time.sleep(0.2)  # PR_SET_PDEATHSIG is delivered at once; give the kernel a moment to reap
        assert not [pid for pid in seen_workers if _alive(pid)], "a pool worker outlived its killed parent"
        assert (cache / "ref").is_dir()  # another destination's folder is never touched
    assert seen_workers, "no kill landed while the pool was working: make the fixture larger"
    assert _start_augment(tmp_path, cache / "ds").wait() == 0
    assert sorted(os.listdir(cache)) == ["ds", "ref"]  # no .ds.*.tmp left
    for name in ("images.npy", "labels.csv"):
        assert (cache / "ds" / name).read_bytes() == (cache / "ref" / name).read_bytes()
    assert load_cache(cache / "ds").meta["images_sha256"] == load_cache(cache / "ref").meta["images_sha256"]


def test_metrics_that_are_not_numbers_are_written_as_json_null(tmp_path):
    """The SRCC of constant predictions is NaN: metrics.json stays strict JSON (null), and the
    summary over splits skips it."""
    import json as strict

    from pmtiqa.atomic import write_json
    from pmtiqa.metrics import aggregate

    write_json(tmp_path / "metrics.json", {"final": {"srcc": float("nan"), "plcc": [float("inf"), 0.5]}})
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    read = strict.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in metrics.json"))
    assert read == {"final": {"srcc": None, "plcc": [None, 0.5]}}
    assert aggregate([read["final"]["srcc"], 0.4, 0.6])["median"] == pytest.approx(0.5)
