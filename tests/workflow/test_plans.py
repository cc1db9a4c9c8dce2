"""After the same edit of params.yaml, DVC and Snakemake plan the same work.

The project (synthetic and livec selected) is brought to a finished state without computing: every
output the graph names is made, `dvc commit` records DVC's lock and `snakemake --touch` Snakemake's
metadata of each job (the params it ran with). Then params.yaml is edited, and each
engine is asked what it would run: DVC for the stages whose own params or deps changed (`dvc status`;
a stage after them runs where their outputs change), Snakemake for its whole dry run (it counts
every job after a rerun job as rerun). Jobs are compared as (stage, dataset, variant).
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.builders.projects import engine_env, make_project, snakemake

pytestmark = pytest.mark.slow

VARIANTS = ["ms", "ms_pmt"]
RUNTIME = {"device": "cpu", "precision": "bf16", "compile": "default", "threads": 1, "workers": 1}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("plans"), datasets=["synthetic", "livec"], variants=VARIANTS)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["overrides"]["livec"]["split"] = {"n_splits": 2}  # fewer outputs to make: the plans are the same
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    summary = snakemake(project, "--summary")
    assert summary.returncode == 0, summary.stderr
    for line in summary.stdout.splitlines()[1:]:
        out = project / line.split("\t")[0]
        if line.startswith(("data/raw/", "data/cache/")):  # folder outputs
            out.mkdir(parents=True, exist_ok=True)
            out = out / "made"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("made\n")
    dvc(project, "commit", "-f", "-q")  # first: it links outputs from its cache anew, newer than their inputs
    touched = snakemake(project, "--touch", "--cores", "1")
    assert touched.returncode == 0, touched.stderr
    assert "up to date" in dvc(project, "status") and snakemake_jobs(project) == set()
    return project


def dvc(project: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=engine_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def job(stage: str, dataset: str | None = None, variant: str | None = None) -> tuple:
    return stage, dataset, variant


def dvc_jobs(project: Path) -> set[tuple]:
    """DVC's changed stages: train@livec-ms is ("train", "livec", "ms")."""
    jobs = set()
    for name in json.loads(dvc(project, "status", "--json")):
        stage, _, item = name.partition("@")
        dataset, _, variant = item.partition("-")
        jobs.add(job(stage, dataset or None, variant or None))
    return jobs


def snakemake_jobs(project: Path) -> set[tuple]:
    """Snakemake's dry run: every job but `all`, its splits folded into one (as DVC's train stage)."""
    dry = snakemake(project, "-n")
    assert dry.returncode == 0, dry.stderr
    jobs = set()
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)*)", dry.stdout, re.M):
        wildcards = dict(re.findall(r"(\w+)=([\w.]+)", (re.findall(r"^    wildcards: (.*)$", body, re.M) or [""])[0]))
        if rule != "all":
            jobs.add(job(rule, wildcards.get("dataset"), wildcards.get("variant")))
    return jobs


def plans_after(project: Path, edit) -> tuple[set, set]:
    """(DVC's jobs, Snakemake's jobs) with params.yaml edited by ``edit``; the file is restored after."""
    path = project / "params.yaml"
    original = path.read_text()
    params = yaml.safe_load(original)
    edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        return dvc_jobs(project), snakemake_jobs(project)
    finally:
        path.write_text(original)


def downstream_of_training(dataset: str) -> set[tuple]:
    return {job("evaluate", dataset, v) for v in VARIANTS} | {job("cross"), job("report")}


def test_runtime_plans_nothing_in_either_engine(project):
    by_dvc, by_snakemake = plans_after(project, lambda p: p["runtime"].update(RUNTIME))
    assert by_dvc == set() and by_snakemake == set()


def test_one_dataset_s_epochs_plan_that_dataset_s_tune_train_evaluate_report_in_both(project):
    by_dvc, by_snakemake = plans_after(project, lambda p: p["overrides"]["livec"]["train"].update(epochs=20))
    trained = {job("tune", "livec")} | {job("train", "livec", v) for v in VARIANTS}
    assert by_dvc == trained
    assert by_snakemake == trained | downstream_of_training("livec")


def test_a_shared_setting_plans_every_dataset_s_training_in_both(project):
    by_dvc, by_snakemake = plans_after(project, lambda p: p["train"].update(weight_decay=1e-4))
    trained = {job("tune", ds) for ds in ("synthetic", "livec")} | {
        job("train", ds, v) for ds in ("synthetic", "livec") for v in VARIANTS}
    assert by_dvc == trained
    assert by_snakemake == trained | downstream_of_training("synthetic") | downstream_of_training("livec")


def test_a_report_setting_plans_the_report_alone_in_both(project):
    by_dvc, by_snakemake = plans_after(project, lambda p: p["report"].update(selections=["final"]))
    assert by_dvc == by_snakemake == {job("report")}


def test_a_dataset_that_is_not_selected_plans_nothing(project):
    by_dvc, by_snakemake = plans_after(project, lambda p: p["overrides"]["koniq"]["train"].update(epochs=3))
    assert by_dvc == by_snakemake == set()
