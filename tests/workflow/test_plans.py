"""After the same edit of params.yaml, DVC and Snakemake plan the same work.

The project (synthetic and livec selected) is brought to a finished state without computing: every
output the graph names is made, `dvc commit` records DVC's lock and `snakemake --touch` Snakemake's
metadata of each job (the params it ran with). Then params.yaml is edited, and each
engine is asked what it would run: DVC for the stages whose own params or deps changed (`dvc status`;
a stage after them runs where their outputs change), Snakemake for its whole dry run (it counts
every job after a rerun job as rerun). Jobs are compared as (stage, dataset, variant).
"""
import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.builders.projects import environment, make_project, snakemake

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
    # DVC's stages depend on the code identities, which the code stage writes (Snakemake computes them)
    made = subprocess.run([sys.executable, "-m", "pmtiqa", "code"], cwd=project, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    dvc(project, "commit", "-f", "-q")  # first: it links outputs from its cache anew, newer than their inputs
    touched = snakemake(project, "--touch", "--cores", "1")
    assert touched.returncode == 0, touched.stderr
    assert "up to date" in dvc(project, "status") and snakemake_jobs(project) == set()
    return project


def dvc(project: Path, *args: str) -> str:
    """DVC's command in the project, with `pmtiqa` (its own copy of the package) for the stages it runs."""
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=environment(project.parent),
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


@contextlib.contextmanager
def edited(project: Path, edit=None, module: str | None = None, change=None):
    """params.yaml edited by ``edit``, or the project's copy of the package's ``module`` (a path under
    pmtiqa/) by ``change`` (its text -> the new text), and DVC's code stage run on it, as `dvc repro`
    runs it before the stages that depend on its files. What the edit and the code stage changed is
    put back after."""
    kept = [project / "params.yaml", project / "dvc.lock", *sorted((project / "runs" / "code").iterdir())]
    if module:
        kept.append(project / module)
    before = {path: path.read_bytes() for path in kept}
    if edit:
        params = yaml.safe_load(before[project / "params.yaml"])
        edit(params)
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if module:
        (project / module).write_text(change(before[project / module].decode()))
    try:
        dvc(project, "repro", "--quiet", "code")
        yield
    finally:
        for path in set((project / "runs" / "code").iterdir()) - set(before):
            path.unlink()  # the files of a dataset the edit added
        for path, content in before.items():
            path.write_bytes(content)


def plans_after(project: Path, edit=None, module: str | None = None, change=None) -> tuple[set, set]:
    """(DVC's jobs, Snakemake's jobs) after an edit (``edited``)."""
    with edited(project, edit, module, change):
        return dvc_jobs(project), snakemake_jobs(project)


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


def test_an_edit_of_comments_docstrings_and_layout_plans_nothing_in_either_engine(project):
    def reword(text: str) -> str:
        text = text.replace('"""The training engine:', '"""The training engine, reworded:', 1)
        return text.replace("\nclass TrainingDiverged", "\n# a comment\n\n\nclass  TrainingDiverged", 1)

    by_dvc, by_snakemake = plans_after(project, module="pmtiqa/training/trainer.py", change=reword)
    assert by_dvc == by_snakemake == set()


def test_a_constant_of_the_loss_plans_every_dataset_s_tuning_and_training_in_both(project):
    by_dvc, by_snakemake = plans_after(project, module="pmtiqa/method/losses.py",
                                       change=lambda text: text.replace("+ 1e-6)", "+ 1e-7)", 1))
    trained = {job("tune", ds) for ds in ("synthetic", "livec")} | {
        job("train", ds, v) for ds in ("synthetic", "livec") for v in VARIANTS}
    assert by_dvc == trained
    assert by_snakemake == trained | downstream_of_training("synthetic") | downstream_of_training("livec")


def test_an_edit_accepted_as_changing_no_result_plans_nothing_in_either_engine(project):
    """The engines' own way to say "this edit changes no result" (docs/engines.md): DVC records the
    new code identities as the outputs', Snakemake the params each job would now run with."""
    loss = "pmtiqa/method/losses.py"
    with edited(project, module=loss, change=lambda text: text.replace("+ 1e-6)", "+ 1e-7)", 1)):
        dvc(project, "commit", "-f", "-q")
        touched = snakemake(project, "--touch", "--cores", "1")
        assert touched.returncode == 0, touched.stderr
        assert dvc_jobs(project) == snakemake_jobs(project) == set()
    again = snakemake(project, "--touch", "--cores", "1")  # Snakemake's records of the code as it was
    assert again.returncode == 0, again.stderr
    assert dvc_jobs(project) == snakemake_jobs(project) == set()


def test_an_edit_of_the_report_s_tables_plans_the_report_alone_in_both(project):
    by_dvc, by_snakemake = plans_after(project, module="pmtiqa/reporting/tables.py",
                                       change=lambda text: text.replace('"n/a"', '"-"', 1))
    assert by_dvc == by_snakemake == {job("report")}


def test_a_dataset_of_one_s_own_added_plans_its_stages_alone_then_cross_and_report(project):
    def add_mylab(params: dict) -> None:
        params["datasets"].append("mylab")
        params["custom_datasets"] = {"mylab": {"images": "/lab/images", "labels": "/lab/scores.csv", "range": [1, 5]}}
        params["overrides"]["mylab"] = {section: {} for section in ("split", "augment", "model", "loss", "train",
                                                                     "tune")}

    by_dvc, by_snakemake = plans_after(project, add_mylab)
    mine = {job(stage, "mylab") for stage in ("download", "prepare", "split", "augment", "tune")} | {
        job(stage, "mylab", v) for stage in ("train", "evaluate") for v in VARIANTS}
    assert by_dvc == mine | {job("cross"), job("report")}
    assert by_snakemake == mine | {job("cross"), job("report")}
