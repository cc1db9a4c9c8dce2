"""The whole graph, tiny, through both engines: DVC the way `make demo` runs it, and Snakemake.

Each engine gets its own temporary copy of the project (its graph files and a params.yaml whose
overrides shrink every dataset to the smallest run that still takes each stage: the small cnn4, 2
variants x 2 splits x 1 epoch and a 2-trial study) and runs every stage from the download on, for
the synthetic set (its recipe on 2 photos, which the download copies) and for a dataset of one's own
made from the same images, as a user would make it (a folder and a CSV), each dataset's models then
scoring the other's images (pmtiqa cross). Training on the CPU with the same seeds and the same number of
threads (runtime.threads 0: every core, whatever Snakemake's --cores) computes the same numbers, so
the two engines must report equal metrics. A second run of each does nothing. Snakemake's own report
(`snakemake --report`) holds the report's figures and tables with their captions, for the project
DVC ran too once Snakemake has adopted its outputs.
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pmtiqa.training.split_run import work_dir
from tests.builders.projects import (TINY, VARIANTS, environment, make_project, metrics_of, run,
                                     run_together)

pytestmark = pytest.mark.slow


def small_sets(dest: Path) -> tuple[Path, dict]:
    """The synthetic recipe on 2 photos, 4 tiles each (8 references, 248 images): as generated, the
    folder the projects take the synthetic set from (download.sources: the download copies it), and,
    copied into a folder with a CSV of the user's own column names, as someone would bring their own
    dataset, a custom_datasets entry."""
    from pmtiqa.data.datasets import synthetic

    generated = dest / "synthetic"
    table = synthetic.generate(generated, photos=["astronaut", "coffee"], tiles_per_photo=4, workers=1)
    images = dest / "lab" / "pictures"
    images.mkdir(parents=True)
    for name in table["image"]:
        shutil.copyfile(generated / name, images / Path(name).name)
    pd.DataFrame({"picture": [Path(n).name for n in table["image"]], "quality": table["mos"],
                  "source": table["reference"]}).to_csv(dest / "lab" / "ratings.csv", index=False)
    return generated, {"images": str(images), "labels": str(dest / "lab" / "ratings.csv"), "image_column": "picture",
                       "score_column": "quality", "group_column": "source", "range": [0, 100], "size": [64, 64]}


def tiny_project(dest: Path, datasets: list[str], sets: tuple[Path, dict]) -> Path:
    project = make_project(dest)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params.update(datasets=datasets, variants=VARIANTS)
    params["runtime"].update(device="cpu", precision="fp32", threads=0)
    params["download"]["sources"] = {"synthetic": str(sets[0])}
    params["custom_datasets"] = {"mylab": sets[1]}
    # copies: one object twice would be written as a YAML anchor and its alias, one node for both
    for dataset in ("synthetic", "mylab"):
        params["overrides"][dataset] = copy.deepcopy(TINY)
        params["overrides"][dataset]["split"]["subset"] = 1.0  # all of the 8 references
    params["overrides"]["mylab"]["split"]["n_splits"] = 1
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def edited_plan(project: Path, env: dict, runtime: dict, selections: list[str] | None) -> str:
    """The jobs `snakemake -n` would run after an edit of params.yaml; the file is restored after."""
    path = project / "params.yaml"
    original = path.read_text()
    params = yaml.safe_load(original)
    params["runtime"].update(runtime)
    if selections:
        params["report"]["selections"] = selections
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        return planned_jobs(project, env)
    finally:
        path.write_text(original)


def planned_jobs(project: Path, env: dict) -> str:
    """The job counts of `snakemake -n` (or its "Nothing to be done")."""
    out = run([sys.executable, "-m", "snakemake", "-n"], project, env)
    return out.split("Job stats:")[-1].split("Reasons:")[0] if "Job stats:" in out else out


FIGURES = {"ablation.png", "cross.png", "curves_synthetic.png", "curves_mylab.png", "scatter_synthetic.png",
           "scatter_mylab.png"}
# a phrase of each caption in workflow/report/, and of report.md, which the first page includes
CAPTIONS = ["Ablation: each variant", "Cross-dataset: the median SRCC", "Training curves of one dataset",
            "against the published scores of one dataset", "The report as", "The summary that", "pmtiqa report</h1>",
            "Every dataset, variant and selection"]


def snakemake_report(project: Path, env: dict, html: Path) -> None:
    """`snakemake --report`: the report rule's figures and tables, each with its caption, and no
    file without Snakemake's metadata."""
    out = run([sys.executable, "-m", "snakemake", "--report", str(html)], project, env)
    assert "Missing metadata" not in out
    page = html.read_text()
    for name in FIGURES | {"report.md", "results.html", "metrics.json"}:
        assert f'"name": "{name}"' in page
    assert not [caption for caption in CAPTIONS if caption not in page]
    assert "<th>variant</th>" in page and "data:image/png;base64," in page  # report.md rendered on the first page


def dvc_views(project: Path, env: dict) -> None:
    """`dvc plots show`: the report's figures as images, in a page that loads nothing from the network;
    `dvc exp show`: the final selection's medians under their short names."""
    shown = subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "--json"], cwd=project, env=env,
                           capture_output=True, text=True, check=True)
    charts = json.loads(shown.stdout)["data"]
    assert set(charts) == {f"reports/figures/{name}" for name in FIGURES}
    assert {chart["type"] for drawn in charts.values() for chart in drawn} == {"image"}
    run([sys.executable, "-m", "dvc", "plots", "show", "-o", "plots_page"], project, env)
    page = (project / "plots_page" / "index.html").read_text()
    assert page.count("<img") == len(FIGURES) and "://" not in page
    table = run([sys.executable, "-m", "dvc", "exp", "show", "--csv", "--drop", ".*", "--keep", ".*\\.srcc$"],
                project, env)
    assert "synthetic.ms_pmt.srcc" in table.splitlines()[0]


def queued(project: Path, env: dict, experiments: dict[str, str]) -> dict[str, list[str]]:
    """Queue each experiment (name: its `-S` setting), run them two at a time (`dvc queue start -j 2`)
    and return the stages each one ran, in order."""
    dvc = [sys.executable, "-m", "dvc"]
    for name, setting in experiments.items():
        run([*dvc, "exp", "run", "--queue", "-n", name, "-S", setting], project, env)
    # the workers outlive the command and would hold on to a captured output
    subprocess.run([*dvc, "queue", "start", "-j", "2"], cwd=project, env=env, check=True, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # until each is done: between the queue and a worker a task is listed neither queued nor running
    deadline, status = time.monotonic() + 600, ""
    while not all(re.search(rf"^\w+ +{name} .* (Success|Failed)$", status, re.M) for name in experiments):
        assert time.monotonic() < deadline, "the queued experiments did not finish:\n" + status
        time.sleep(2)
        status = run([*dvc, "queue", "status"], project, env)
    assert all(re.search(rf"^\w+ +{name} .* Success$", status, re.M) for name in experiments), status
    return {name: re.findall(r"^Running stage '(.+)':$", run([*dvc, "queue", "logs", name], project, env), re.M)
            for name in experiments}


def test_tiny_graph_through_dvc_and_snakemake_gives_equal_metrics(tmp_path):
    env = environment(tmp_path)
    dvc = [sys.executable, "-m", "dvc"]
    snakemake = [sys.executable, "-m", "snakemake"]

    # DVC as `make demo` runs it: the committed params select the paper; -S selects the demo. Snakemake
    # runs one job at a time, each computing on every core. The two projects share nothing (the lab's
    # files are only read): both engines run at once.
    sets = small_sets(tmp_path)
    by_dvc = tiny_project(tmp_path / "dvc", datasets=["bid", "livec", "live", "csiq"], sets=sets)
    run(["git", "add", "-A"], by_dvc, env)
    run(["git", "commit", "-q", "-m", "project"], by_dvc, env)
    by_snakemake = tiny_project(tmp_path / "snakemake", datasets=["synthetic", "mylab"], sets=sets)
    run_together(([*dvc, "exp", "run", "-S", "datasets=[synthetic,mylab]"], by_dvc),
                 ([*snakemake, "--cores", "1"], by_snakemake), env=env)
    assert yaml.safe_load((by_dvc / "params.yaml").read_text())["datasets"] == ["synthetic", "mylab"]
    assert "up to date" in run([*dvc, "status"], by_dvc, env)
    dvc_views(by_dvc, env)
    assert "Nothing to be done" in run([*snakemake, "-n"], by_snakemake, env)
    snakemake_report(by_snakemake, env, tmp_path / "report.html")
    # Settings of how fast a job runs rerun nothing; a report setting reruns the report alone.
    planned = edited_plan(by_snakemake, env, {"threads": 1, "compile": "default", "device": "auto"}, None)
    assert "Nothing to be done" in planned
    planned = edited_plan(by_snakemake, env, {}, ["final", "val"])
    assert "report" in planned and not any(rule in planned for rule in ("train", "evaluate", "tune"))
    # An edit of evaluate's code reruns evaluate and the report after it, and nothing upstream; a
    # comment reruns nothing.
    code = by_snakemake / "pmtiqa" / "reporting" / "evaluate.py"
    original = code.read_text()
    code.write_text(original + "# a comment\n")
    assert "Nothing to be done" in planned_jobs(by_snakemake, env)
    code.write_text(original.replace('SELECTION_NOTES[sel] for sel in selections}', 'SELECTION_NOTES[s] for s in selections}'))
    planned = planned_jobs(by_snakemake, env)
    assert "evaluate" in planned and "report" in planned and not any(r in planned for r in ("train", "tune"))
    code.write_text(original)

    for project in (by_dvc, by_snakemake):
        assert "No `val` selection for synthetic" in (project / "reports" / "report.md").read_text()
        assert {p.name for p in (project / "reports" / "figures").iterdir()} == FIGURES  # as the Snakefile declares
        assert set(json.loads((project / "metrics.json").read_text())) == {"synthetic", "mylab", "cross"}
        assert "## Cross-dataset" in (project / "reports" / "report.md").read_text()
        assert set(json.loads((project / "metrics/cross/summary.json").read_text())["pairs"]) == {
            "synthetic-to-mylab", "mylab-to-synthetic"}
        for v in VARIANTS:
            for k in range(2):
                split = project / "runs" / "train" / "synthetic" / v / f"split{k}"
                assert {"metrics.json", "history.csv", "predictions.csv", "model.pt", "run.json"} <= {
                    p.name for p in split.iterdir()}
                assert not (split / "checkpoint.pt").exists() and not work_dir(split).exists()
                assert set(json.loads((split / "metrics.json").read_text())) == {"final", "best_test"}
    assert json.loads((by_dvc / "runs/tune/synthetic/best.json").read_text())["params"] == json.loads(
        (by_snakemake / "runs/tune/synthetic/best.json").read_text())["params"]
    assert metrics_of(by_dvc) == metrics_of(by_snakemake)
    assert (by_dvc / "metrics.json").read_text() == (by_snakemake / "metrics.json").read_text()
    # both computed every run with every core (Snakemake's job had one), and say so in run.json
    ran_on = {json.loads((project / "runs/train/synthetic/ms_pmt/split0/run.json").read_text())["ran_on"]["threads"]
              for project in (by_dvc, by_snakemake)}
    assert ran_on == {len(os.sched_getaffinity(0))}

    # Experiments queued as users compare settings (README, "Comparing runs"): from the committed
    # results, each reruns what its setting affects and nothing else, tune's answer coming from DVC's
    # cache where the study's inputs are unchanged.
    run(["git", "add", "params.yaml", "dvc.lock", "metrics", "metrics.json"], by_dvc, env)
    run(["git", "commit", "-q", "-m", "results"], by_dvc, env)
    ran = queued(by_dvc, env, {"report-final": "report.selections=[final]",
                               "mylab-crops": "overrides.mylab.train.test_crops=2"})
    assert ran["report-final"] == ["report"]
    assert ran["mylab-crops"] == ["tune@mylab", *(f"{stage}@mylab-{v}" for stage in ("train", "evaluate")
                                                  for v in VARIANTS), "cross", "report"]

    # Snakemake on DVC's outputs has no record of the params and code they were made with, so it
    # cannot see a change of them and says so (once in a dry run, per file in a report). Adopting
    # them records it, touches nothing DVC compares, and makes Snakemake's params trigger work.
    run([*snakemake, "--touch", "--forceall", "--cores", "1"], by_dvc, env)
    assert "up to date" in run([*dvc, "status"], by_dvc, env)
    dvc_views(by_dvc, env)
    dry = run([*snakemake, "-n"], by_dvc, env)
    assert "Nothing to be done" in dry and "metadata" not in dry
    assert "report" in edited_plan(by_dvc, env, {}, ["final"])
    snakemake_report(by_dvc, env, tmp_path / "dvc-report.html")
