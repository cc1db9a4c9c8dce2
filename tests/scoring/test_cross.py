"""`pmtiqa cross`: two labs of one's own, trained on each, each scored with the other's models; and
models that do not belong where they lie refused by name before any work."""
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from pmtiqa.cli import main
from tests.builders.lab import lab_params, make_lab

VARIANTS = ["baseline", "ms_pmt"]


def run(*argv: str) -> int:
    return main([*argv, "--params", "params.yaml"])


@pytest.fixture(scope="module")
def crossed(tmp_path_factory) -> Path:
    """The project after every stage but the report, and cross, for mylab and other."""
    tmp = tmp_path_factory.mktemp("cross")
    folder, table = make_lab(tmp)
    root = tmp / "project"
    root.mkdir()
    params = lab_params(folder, table)
    params["custom_datasets"]["other"] = {**params["custom_datasets"]["mylab"], "range": [0, 10], "size": [48, 44]}
    params.update(datasets=["mylab", "other"], variants=VARIANTS)
    params["train"]["epochs"] = 1
    params["tune"] = {"n_trials": 1, "epochs": 1, "variant": "baseline", "batch_size": [8, 8], "lr": [1e-3, 1e-3],
                      "gamma": [1.0, 1.0]}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    here = Path.cwd()
    os.chdir(root)
    try:
        for ds in ("mylab", "other"):
            for stage in ("download", "prepare", "split", "augment"):
                assert run(stage, "--dataset", ds) == 0
            for variant in VARIANTS:
                assert run("train", "--dataset", ds, "--variant", variant) == 0
                assert run("evaluate", "--dataset", ds, "--variant", variant) == 0
        assert run("cross") == 0
    finally:
        os.chdir(here)
    return root


@pytest.fixture
def project(crossed, tmp_path, monkeypatch) -> Path:
    """A copy of the crossed project, the working directory."""
    shutil.copytree(crossed, tmp_path / "project", symlinks=True)
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path / "project"


def test_cross_dataset_scores_each_dataset_with_the_other_s_models(project):
    """The pairs' files, their summary, the report's matrix and metrics.json's medians."""
    assert run("report") == 0
    pair = json.loads(Path("metrics/cross/mylab-to-other/ms_pmt.json").read_text())
    assert (pair["train"], pair["test"], pair["n_splits"]) == ("mylab", "other", 2)
    assert set(pair["summary"]["kept"]) >= {"srcc", "plcc", "plcc_logistic", "krcc"}
    summary = json.loads(Path("metrics/cross/summary.json").read_text())["pairs"]
    assert set(summary) == {"mylab-to-other", "other-to-mylab"} and set(summary["other-to-mylab"]) == set(VARIANTS)
    held = summary["mylab-to-other"]["ms_pmt"]  # what the matrix shows: the spread over splits, the images
    assert len(held["srcc_splits"]) == len(held["plcc_splits"]) == 2 and held["n_images"] > 0
    assert held["srcc_splits"] == [s["kept"]["srcc"] for s in pair["splits"]]
    report = Path("reports/report.md").read_text()
    assert "## Cross-dataset" in report and "| `ms_pmt` | mylab |" in report and "| `ms_pmt` | mylab | within (" in report
    crossed = json.loads(Path("metrics.json").read_text())["cross"]  # the same medians, to four decimals
    assert crossed == {pair: {v: {m: round(medians[f"{m}_median"], 4) for m in ("srcc", "plcc")}
                              for v, medians in by_variant.items()} for pair, by_variant in summary.items()}


def test_cross_reads_each_run_json_once(project, monkeypatch):
    from pmtiqa.core import readers

    reads, read_json = [], readers.read_json

    def counted(path, missing):
        reads.append(str(path))
        return read_json(path, missing)

    monkeypatch.setattr("pmtiqa.training.finished.read_json", counted)
    assert run("cross") == 0
    runs = sorted(r for r in reads if r.endswith("run.json"))
    assert runs == sorted(f"runs/train/{ds}/{v}/split{k}/run.json" for ds in ("mylab", "other") for v in VARIANTS
                          for k in (0, 1))


def edit_run(path: str, change) -> None:
    run_json = Path(path)
    recorded = json.loads(run_json.read_text())
    change(recorded["settings"])
    run_json.write_text(json.dumps(recorded))


def copy(source: str, dest: str) -> None:
    shutil.copyfile(source, dest)


MINE = "runs/train/mylab/{}/split{}"
# (case, the damage, what the one line says)
DAMAGED = [
    ("a split retrained with other settings",
     lambda: edit_run(MINE.format("ms_pmt", 1) + "/run.json", lambda s: s["train"].update(epochs=3)),
     "mylab/ms_pmt/split1/run.json: trained with train.epochs 3 where runs/train/mylab/ms_pmt/split0/run.json has 1"),
    ("another split's run in a split's folder",
     lambda: copy(MINE.format("ms_pmt", 0) + "/run.json", MINE.format("ms_pmt", 1) + "/run.json"),
     "mylab/ms_pmt/split1/run.json: a run of split 0, where 1 is expected"),
    ("another dataset's model placed in the folder",
     lambda: copy("runs/train/other/ms_pmt/split0/model.pt", MINE.format("ms_pmt", 0) + "/model.pt"),
     "mylab/ms_pmt/split0/model.pt: a model of dataset 'other', where its run.json has dataset 'mylab'"),
    ("another variant's model placed in the folder",
     lambda: copy(MINE.format("ms_pmt", 1) + "/model.pt", MINE.format("baseline", 1) + "/model.pt"),
     "mylab/baseline/split1/model.pt: a model of variant 'ms_pmt', where its run.json has variant 'baseline'"),
    ("models of other crops than their runs",
     lambda: [edit_run(MINE.format("baseline", k) + "/run.json", lambda s: s["train"].update(test_crops=7))
              for k in (0, 1)],
     "mylab/baseline/split0/model.pt: a model of test_crops 2, where its run.json has train.test_crops 7"),
    ("a tested dataset's size edited, its cache not made again",
     lambda: edit_yaml(lambda p: p["custom_datasets"]["other"].update(size=[40, 40])),
     "data/cache/other/meta.json: made at size [48, 44]; params ask size [40, 40] (augment.size, or the dataset's"),
]


def edit_yaml(change) -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    change(params)
    Path("params.yaml").write_text(yaml.safe_dump(params))


@pytest.mark.parametrize("case, damage, says", DAMAGED, ids=[case[0] for case in DAMAGED])
def test_models_that_do_not_belong_where_they_lie_are_refused_by_name(project, capsys, case, damage, says):
    before = {p: p.read_bytes() for p in Path("metrics/cross").rglob("*.json")}
    damage()
    capsys.readouterr()
    assert run("cross") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], lines
    assert {p: p.read_bytes() for p in Path("metrics/cross").rglob("*.json")} == before  # nothing lost
