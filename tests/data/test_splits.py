"""Seeded, group-aware splits: disjoint, covering, no group on two sides, stable across runs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmtiqa.core.errors import UserError
from pmtiqa.data.splits import hold_out, make_splits, write_splits

REFERENCES = [f"ref{i:02d}" for i in range(29)]
LIVE_LIKE = [REFERENCES[(i * 7) % 29] for i in range(779)]  # 29 groups, interleaved rows
IMAGE_LEVEL = [f"img{i:04d}.bmp" for i in range(1162)]  # one group per image


def parts(split: dict) -> tuple[set, set, set]:
    return set(split["train"]), set(split["val"]), set(split["test"])


@pytest.mark.parametrize("groups", [LIVE_LIKE, IMAGE_LEVEL], ids=["by-reference", "by-image"])
def test_parts_are_disjoint_and_cover_every_row(groups: list[str]) -> None:
    result = make_splits(groups, 10, 0.2, 0.2, seed=3)
    assert len(result["splits"]) == 10
    for split in result["splits"]:
        train, val, test = parts(split)
        assert not (train & val or train & test or val & test)
        assert train | val | test == set(range(len(groups)))
        assert all(split[k] == sorted(split[k]) for k in ("train", "val", "test"))


@pytest.mark.parametrize("groups", [LIVE_LIKE, IMAGE_LEVEL], ids=["by-reference", "by-image"])
def test_no_group_on_two_sides(groups: list[str]) -> None:
    for split in make_splits(groups, 5, 0.2, 0.2, seed=11)["splits"]:
        sides = [{groups[i] for i in split[k]} for k in ("train", "val", "test")]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])


def test_ratios_follow_the_fractions() -> None:
    for split in make_splits(IMAGE_LEVEL, 3, 0.2, 0.2, seed=0)["splits"]:
        n = len(IMAGE_LEVEL)
        assert len(split["test"]) == round(0.2 * n)
        assert len(split["val"]) == round(0.2 * (n - len(split["test"])))
    for split in make_splits(LIVE_LIKE, 3, 0.2, 0.2, seed=0)["splits"]:
        test_groups = {LIVE_LIKE[i] for i in split["test"]}
        val_groups = {LIVE_LIKE[i] for i in split["val"]}
        assert (len(test_groups), len(val_groups)) == (6, 5)  # 29 references: 6 test, 5 of 23 val


def test_deterministic_and_pinned() -> None:
    groups = ["b", "a", "c", "a", "d", "e", "b", "f", "g", "h"]
    first = make_splits(groups, 2, 0.25, 0.25, seed=7)
    assert first == make_splits(list(groups), 2, 0.25, 0.25, seed=7)
    # Pinned so that a change of numpy's generator or of our recipe is noticed.
    assert first["splits"] == PINNED


PINNED = [
    {"train": [0, 4, 5, 6, 7], "val": [2, 9], "test": [1, 3, 8]},
    {"train": [2, 5, 7, 9], "val": [0, 1, 3, 6], "test": [4, 8]},
]


def test_seeds_and_splits_differ() -> None:
    a = make_splits(IMAGE_LEVEL, 3, 0.2, 0.2, seed=1)["splits"]
    b = make_splits(IMAGE_LEVEL, 3, 0.2, 0.2, seed=2)["splits"]
    assert a[0]["test"] != b[0]["test"]
    assert a[0]["test"] != a[1]["test"]


def test_split_k_does_not_change_when_more_splits_are_asked() -> None:
    few = make_splits(LIVE_LIKE, 3, 0.2, 0.2, seed=5)["splits"]
    many = make_splits(LIVE_LIKE, 10, 0.2, 0.2, seed=5)["splits"]
    assert many[:3] == few


def test_group_type_does_not_matter() -> None:
    as_numbers = make_splits([1600, 1600, 7, 8, 9], 2, 0.2, 0.2, seed=0)
    as_text = make_splits(["1600", "1600", "7", "8", "9"], 2, 0.2, 0.2, seed=0)
    assert as_numbers == as_text


@pytest.mark.parametrize("groups", [LIVE_LIKE, IMAGE_LEVEL], ids=["by-reference", "by-image"])
def test_no_validation_part_trains_on_the_whole_80_percent(groups: list[str]) -> None:
    """val_fraction 0, the authors' data budget: val is empty, and the test parts are those of a
    split with a validation part (only train grows)."""
    with_val = make_splits(groups, 4, 0.2, 0.2, seed=3)["splits"]
    for split, other in zip(make_splits(groups, 4, 0.2, 0.0, seed=3)["splits"], with_val):
        assert split["val"] == [] and split["test"] == other["test"]
        assert sorted(split["train"] + split["test"]) == list(range(len(groups)))
    assert len(split["train"]) == len(groups) - len(split["test"])


@pytest.mark.parametrize("groups, val_fraction, message", [
    (["a", "a", "b"], 0.2, "at least 3 groups to split into train, val and test"),
    (["a", "a"], 0.0, "at least 2 groups to split into train and test"),
])
def test_too_few_groups(groups, val_fraction, message) -> None:
    with pytest.raises(ValueError, match=message):
        make_splits(groups, 1, 0.2, val_fraction, seed=0)


@pytest.mark.parametrize("groups", [LIVE_LIKE, IMAGE_LEVEL], ids=["by-reference", "by-image"])
def test_hold_out_parts_a_train_part_by_group(groups: list[str]) -> None:
    train = np.array(make_splits(groups, 1, 0.2, 0.0, seed=3)["splits"][0]["train"])
    kept, held = hold_out(train, np.array(groups), 0.2, seed=0)
    assert sorted([*kept, *held]) == sorted(train) and len(held) > 0 and len(kept) > 0
    assert not {groups[i] for i in kept} & {groups[i] for i in held}
    n_groups = len({groups[i] for i in train})
    assert len({groups[i] for i in held}) == round(0.2 * n_groups)
    again = hold_out(train, np.array(groups), 0.2, seed=0)
    assert all((a == b).all() for a, b in zip(again, (kept, held)))
    assert not np.array_equal(hold_out(train, np.array(groups), 0.2, seed=1)[1], held)


def test_write_splits_reads_labels_and_writes_json(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"image": [f"i{k}.png" for k in range(40)], "mos": range(40), "score": [k / 40 for k in range(40)],
                  "group": [("1600" if k < 4 else f"ref{k // 4}") for k in range(40)]}).to_csv(labels, index=False)
    out = tmp_path / "splits" / "x.json"
    result = write_splits(labels, out, n_splits=4, test_fraction=0.2, val_fraction=0.2, seed=9)
    on_disk = json.loads(out.read_text())
    assert on_disk == result
    assert on_disk["seed"] == 9 and len(on_disk["splits"]) == 4 and on_disk["n_rows"] == 40
    assert [p.name for p in out.parent.iterdir()] == ["x.json"]  # no temporary file left


def test_write_splits_without_labels(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"labels\.csv: missing; run `pmtiqa prepare`"):
        write_splits(tmp_path / "labels.csv", tmp_path / "x.json", n_splits=2, test_fraction=0.2, val_fraction=0.0, seed=0)


def test_subset_keeps_the_same_share_of_groups_in_every_split() -> None:
    groups = [f"ref{i // 3}" for i in range(300)]  # 100 groups of 3 rows
    full = make_splits(groups, 4, 0.2, 0.5, seed=7)
    half = make_splits(groups, 4, 0.2, 0.5, seed=7, subset=0.5)
    used = [set(s["train"]) | set(s["val"]) | set(s["test"]) for s in half["splits"]]
    assert all(u == used[0] for u in used) and len(used[0]) == 150  # one subset for every split
    assert len({groups[i] for i in used[0]}) == 50  # whole groups: 150 rows of 3 each
    for s in half["splits"]:
        train, val, test = parts(s)
        assert not (train & val or train & test or val & test)
        assert len({groups[i] for i in s["test"]}) == 10  # 20 % of the 50 groups kept
        assert not {groups[i] for i in s["test"]} & {groups[i] for i in s["train"] + s["val"]}
    assert half["subset"] == 0.5 and full["subset"] == 1.0
    assert make_splits(groups, 4, 0.2, 0.5, seed=7, subset=1.0) == full


def test_subset_too_small_names_it() -> None:
    with pytest.raises(ValueError, match=r"got 2 \(subset 0.02 of 100\)"):
        make_splits([f"g{i}" for i in range(100)], 1, 0.2, 0.2, seed=0, subset=0.02)


def labels_of(tmp_path: Path, scores: list[float], per_group: int = 1) -> Path:
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"image": [f"i{k}.png" for k in range(len(scores))], "mos": scores, "score": scores,
                  "group": [f"g{k // per_group}" for k in range(len(scores))]}).to_csv(labels, index=False)
    return labels


# (case, the scores, images per group, test and val fractions, what the one line says, or None: written)
RANKED = [
    ("5 images, a test part of one", [0.1, 0.2, 0.3, 0.4, 0.5], 1, 0.2, 0.0,
     ("split 0's test part holds 1 image(s) of one score, and an SRCC needs two different scores: "
      "split.test_fraction 0.2 of 5 groups takes 1; split.test_fraction 0.3 takes two, as would 8 groups at 0.2")),
    ("a val part of one", [k / 10 for k in range(10)], 1, 0.2, 0.1,
     ("split 0's val part holds 1 image(s) of one score, and an SRCC needs two different scores: "
      "split.val_fraction 0.1 of 10 groups takes 1; split.val_fraction 0.19 takes two, as would 19 groups at 0.1")),
    ("tied scores in two groups", [0.5] * 10, 1, 0.2, 0.0,
     ("split 0's test part holds 2 image(s) of one score, and an SRCC needs two different scores: "
      "its 2 groups all score 0.5; check the scores")),
    ("one group of several scores", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], 2, 0.2, 0.0, None),
    ("a val fraction so small that only thousands of groups give it two", [k / 10 for k in range(10)], 1, 0.2,
     0.001, ("split 0's val part holds 1 image(s) of one score, and an SRCC needs two different scores: "
             "split.val_fraction 0.001 of 10 groups takes 1; split.val_fraction 0.19 takes two, as would 1875 "
             "groups at 0.001")),
    ("8 images at 0.2: two in test", [k / 8 for k in range(8)], 1, 0.2, 0.0, None),
]


@pytest.mark.parametrize("case, scores, per_group, test_fraction, val_fraction, says", RANKED,
                         ids=[case[0] for case in RANKED])
def test_a_part_that_cannot_give_an_srcc_is_refused_with_the_smallest_fraction_that_can(
        tmp_path, case, scores, per_group, test_fraction, val_fraction, says):
    labels = labels_of(tmp_path, scores, per_group)
    out = tmp_path / "splits.json"
    if says is None:
        write_splits(labels, out, n_splits=3, test_fraction=test_fraction, val_fraction=val_fraction, seed=0)
        return
    with pytest.raises(UserError) as err:
        write_splits(labels, out, n_splits=3, test_fraction=test_fraction, val_fraction=val_fraction, seed=0)
    assert str(err.value) == f"{labels}: {says}"
    assert not out.exists()
