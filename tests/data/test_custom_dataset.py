"""A dataset of one's own from a folder and a CSV (params.yaml's custom_datasets): every stage takes it
as it takes a built-in one, and a bad declaration or table stops with one line naming the file and key.

The dataset is made as a user would: a folder of images outside the project and a CSV with their own
column names, declared in the project's params.yaml.
"""
import errno
import json
import os
import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from pmtiqa.cli import main
from pmtiqa.config.load import params_from_dict
from tests.builders.lab import N_IMAGES, lab_params, lab_project


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    return lab_project(tmp_path, monkeypatch)


def run(*argv: str) -> int:
    return main([*argv, "--params", "params.yaml"])


def test_a_custom_dataset_goes_through_every_stage(project):
    for stage in ("download", "prepare", "split", "augment", "tune"):
        assert run(stage, "--dataset", "mylab") == 0, stage
    assert run("train", "--dataset", "mylab", "--variant", "ms_pmt") == 0
    assert run("evaluate", "--dataset", "mylab", "--variant", "ms_pmt") == 0
    raw = Path("data/raw/mylab")
    assert (raw / "labels.csv").is_file() and (raw / "images/set_a/p01.png").is_file()  # copied in
    labels = pd.read_csv("data/prepared/mylab/labels.csv")
    assert len(labels) == N_IMAGES and labels["group"].nunique() == N_IMAGES // 2
    assert labels["score"].min() == 0 and labels["score"].max() == 1  # 1..5 onto 0..1
    assert np.load("data/cache/mylab/images.npy").shape == (N_IMAGES, 40, 40, 3)
    summary = json.loads(Path("metrics/mylab/ms_pmt.json").read_text())
    assert summary["n_splits"] == 2 and "srcc" in summary["summary"]["final"]
    saved = torch.load("runs/train/mylab/ms_pmt/split0/model.pt", weights_only=True)
    assert saved["score_bounds"] == [1.0, 5.0, True] and saved["dataset"] == "mylab"


def refused(capsys, *argv) -> str:
    assert run(*argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.drop(columns="rating"), r"ratings.csv\): no column 'rating' \(custom_datasets.mylab.score_column"),
    (lambda t: t.assign(rating=t["rating"].where(t.index != 3, 7.5)),
     r"ratings.csv\): row 5: score '7.5' is not a number in custom_datasets.mylab.range \[1.0, 5.0\]"),
    (lambda t: t.assign(rating=t["rating"].astype(str).where(t.index != 0, "good")), r"row 2: score 'good'"),
    (lambda t: t.assign(file=t["file"].where(t.index != 2, "../../secret.png")),
     r"ratings.csv\) custom_datasets.mylab.image_column: entry 3: .*leaves"),
    (lambda t: t.assign(file=t["file"].where(t.index != 2, "gone.png")), r"custom_datasets.mylab.image_column.*gone.png"),
])
def test_a_bad_table_is_named_by_file_and_key(project, capsys, edit, message):
    table = project.parent / "lab" / "ratings.csv"
    edit(pd.read_csv(table)).to_csv(table, index=False)
    (project.parent / "secret.png").write_bytes(b"not for the project")
    assert run("download", "--dataset", "mylab") == 0
    line = refused(capsys, "prepare", "--dataset", "mylab")
    assert re.search(message, line), line
    assert not Path("data/prepared/mylab/labels.csv").exists()


@pytest.mark.parametrize("change, key", [
    ({"range": [5, 1]}, "custom_datasets.mylab.range"),
    ({"range": []}, "custom_datasets.mylab.range"),
    ({"range": [-1e308, 1e308]}, "custom_datasets.mylab.range"),  # its width overflows: every score 0
    ({"range": [0, float("inf")]}, r"custom_datasets.mylab.range\[1\]"),
    ({"images": ""}, "custom_datasets.mylab.images"),
    ({"size": "protocol"}, "custom_datasets.mylab.size"),
    ({"size": [16, 16]}, "custom_datasets.mylab.size"),
    ({"colour": "red"}, "custom_datasets.mylab.colour"),
])
def test_a_bad_declaration_names_its_key(tmp_path, change, key):
    from pmtiqa.config.fields import ParamsError

    with pytest.raises(ParamsError, match=f"^p.yaml: {key}: "):
        params_from_dict(lab_params(tmp_path, tmp_path / "t.csv", **change), source="p.yaml")


@pytest.mark.parametrize("name, message", [
    ("livec", "livec is a built-in dataset: choose another name"),
    ("My-Lab", "a name of lower-case letters, digits and _"),
])
def test_a_name_that_clashes_or_cannot_name_a_folder_is_refused(tmp_path, name, message):
    from pmtiqa.config.fields import ParamsError

    raw = lab_params(tmp_path, tmp_path / "t.csv")
    raw["custom_datasets"] = {name: raw["custom_datasets"]["mylab"]}
    raw["datasets"] = ["synthetic"]
    with pytest.raises(ParamsError, match=f"p.yaml: custom_datasets.{name}: {message}"):
        params_from_dict(raw, source="p.yaml")


def test_download_names_a_declared_folder_that_is_not_there(project, capsys):
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["custom_datasets"]["mylab"]["images"] = str(project.parent / "nowhere")
    Path("params.yaml").write_text(yaml.safe_dump(params))
    line = refused(capsys, "download", "--dataset", "mylab")
    assert line.endswith("nowhere: not a folder (custom_datasets.mylab.images)")


def a_fifo(folder: Path, monkeypatch) -> str:
    os.mkfifo(folder / "set_a" / "pipe.png")
    return "set_a/pipe.png: a named pipe, not a regular file, in the source folder"


def a_socket(folder: Path, monkeypatch) -> str:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(folder / "listening.png"))  # the socket's file stays after it closes
    return "listening.png: a socket, not a regular file, in the source folder"


def failing_copy(errno_code: int, strerror: str):
    """A copy that fails on one file as the system would (an unreadable file, a full disk)."""
    def make(folder: Path, monkeypatch) -> str:
        real = shutil.copyfile

        def copyfile(source, dest, **kwargs):
            if Path(source).name == "p05.png":
                raise OSError(errno_code, strerror, str(source))
            return real(source, dest, **kwargs)

        monkeypatch.setattr(shutil, "copyfile", copyfile)
        return f"set_a/p05.png: cannot be copied into the project: [Errno {errno_code}] {strerror}"
    return make


@pytest.mark.parametrize("make", [a_fifo, a_socket, failing_copy(errno.EACCES, "Permission denied"),
                                  failing_copy(errno.ENOSPC, "No space left on device")],
                         ids=["fifo", "socket", "unreadable file", "full disk"])
def test_a_file_the_images_folder_cannot_give_is_one_line_and_nothing_is_copied(project, capsys, monkeypatch, make):
    folder = project.parent / "lab" / "pictures"
    says = make(folder, monkeypatch)
    line = refused(capsys, "download", "--dataset", "mylab")
    assert says in line, line
    assert not Path("data/raw/mylab").exists()
    assert [p.name for p in Path("data/raw").iterdir() if not p.name.startswith(".")] == []  # no half copy


def score_named_twice(lines: list[str]) -> list[str]:
    return [lines[0] + ",rating"] + [line + ",1" for line in lines[1:]]


def image_named_twice_behind_a_bom(lines: list[str]) -> list[str]:
    return ["\ufeff" + lines[0] + ",file"] + [line + ",x.png" for line in lines[1:]]


def blank_line_then_a_bad_score(lines: list[str]) -> list[str]:
    """A blank line as line 4; the data line that was line 6 is line 7 in the file, its score 9."""
    file, _, scene = lines[5].split(",")
    return lines[:3] + [""] + lines[3:5] + [f"{file},9,{scene}"] + lines[6:]


def a_field_over_two_lines_then_a_bad_score(lines: list[str]) -> list[str]:
    """Line 4's group cell quoted over two lines; the data line that was line 6 is line 7, its score 9."""
    file, score, scene = lines[3].split(",")
    bad_file, _, bad_scene = lines[5].split(",")
    return lines[:3] + [f'{file},{score},"{scene}', 'seen twice"', lines[4], f"{bad_file},9,{bad_scene}"] + lines[6:]


def empty_group_cell(lines: list[str]) -> list[str]:
    return lines[:4] + [lines[4].rsplit(",", 1)[0] + ","] + lines[5:]


# (case, an edit of the CSV's lines (the header is line 1), what the one line says)
CSV_TEXTS = [
    ("the score column named twice", score_named_twice, "ratings.csv): the header names the column 'rating' twice"),
    ("the image column named twice, the file opening with a BOM", image_named_twice_behind_a_bom,
     "ratings.csv): the header names the column 'file' twice"),
    ("a blank line before a bad score", blank_line_then_a_bad_score,
     "ratings.csv): row 7: score '9' is not a number in custom_datasets.mylab.range"),
    ("a quoted field over two lines before a bad score", a_field_over_two_lines_then_a_bad_score,
     "ratings.csv): row 7: score '9' is not a number in custom_datasets.mylab.range"),
    ("an empty group cell", empty_group_cell,
     "ratings.csv): row 5: the 'scene' cell is empty (custom_datasets.mylab.group_column)"),
]


@pytest.mark.parametrize("case, edit, says", CSV_TEXTS, ids=[case[0] for case in CSV_TEXTS])
def test_a_csv_whose_text_misleads_is_named_by_line_and_key(project, capsys, case, edit, says):
    table = project.parent / "lab" / "ratings.csv"
    table.write_text("\n".join(edit(table.read_text().splitlines())) + "\n")
    assert run("download", "--dataset", "mylab") == 0
    line = refused(capsys, "prepare", "--dataset", "mylab")
    assert says in line, line


def test_an_undeclared_dataset_is_named_on_the_command_line(project, capsys):
    line = refused(capsys, "prepare", "--dataset", "theirlab")
    assert "--dataset theirlab: unknown (known: synthetic, bid, livec, live, csiq, koniq, mylab;" in line


def test_cross_datasets_must_be_selected(tmp_path):
    from pmtiqa.config.fields import ParamsError

    raw = lab_params(tmp_path, tmp_path / "t.csv")
    raw["cross"] = {"datasets": ["livec"], "variants": ["ms_pmt"]}
    with pytest.raises(ParamsError, match=r"p.yaml: cross.datasets\[0\]: livec is not among datasets"):
        params_from_dict(raw, source="p.yaml")
    raw["cross"] = {"datasets": [], "variants": ["fancy"]}
    with pytest.raises(ParamsError, match=r"p.yaml: cross.variants\[0\]: unknown variant 'fancy'"):
        params_from_dict(raw, source="p.yaml")


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.iloc[:0], r"ratings.csv\): no rows"),
    (lambda t: t.assign(file=t["file"].where(t.index != 5, t["file"][2])),
     r"ratings.csv\): rows 4 and 7 name the same image 'p02.png' \(custom_datasets.mylab.image_column\)"),
    (lambda t: t.assign(file=t["file"].where(t.index != 2, "../labels.csv")), r"entry 3: .*leaves"),
])
def test_an_empty_table_a_repeated_image_or_one_outside_the_images_is_named(project, capsys, edit, message):
    table = project.parent / "lab" / "ratings.csv"
    edit(pd.read_csv(table)).to_csv(table, index=False)
    assert run("download", "--dataset", "mylab") == 0
    assert re.search(message, refused(capsys, "prepare", "--dataset", "mylab"))


def test_cross_names_a_missing_model_before_any_work(project, capsys):
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["custom_datasets"]["other"] = params["custom_datasets"]["mylab"]
    params.update(datasets=["mylab", "other"])
    Path("params.yaml").write_text(yaml.safe_dump(params))
    for ds in ("mylab", "other"):
        for stage in ("download", "prepare", "augment"):
            assert run(stage, "--dataset", ds) == 0
    capsys.readouterr()
    line = refused(capsys, "cross")
    assert re.search(r"runs/train/mylab/ms_pmt/split0/model.pt: missing \(and 3 more\); train every split", line)
    assert not Path("metrics/cross").exists()
