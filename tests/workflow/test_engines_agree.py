"""DVC and Snakemake describe the same graph: the same outputs and the same pmtiqa commands.

Both engines are asked for their plan in a temporary copy of the project files (nothing runs):
DVC through its Python API (dvc.yaml with its templating resolved), Snakemake through
`--summary` and a dry run. Snakemake's per-split files and DVC's per-pair folders are brought to
one form: a training run is its split folder, tuning is its folder.
"""
import os
import re
from pathlib import Path

import pytest
import yaml

from pmtiqa.config.load import load_params
from tests.builders import ROOT
from tests.builders.projects import committed_params, make_project, snakemake

# The GPU machine runs the package without the engines: these tests need both.
pytest.importorskip("dvc")
pytest.importorskip("snakemake")

PAPER_DATASETS = ["bid", "livec", "live", "csiq"]


def dvc_plan(project: Path) -> tuple[set[str], set[str]]:
    """(outputs, commands) of every stage of dvc.yaml but the code stage, templating resolved by DVC
    itself. The code stage writes the code identities that DVC's stages depend on, where Snakemake's
    rules compute them in their params."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        stages = [s for s in repo.index.stages if s.name != "code"]
        return {str(out.def_path) for s in stages for out in s.outs}, {s.cmd for s in stages}


def snakemake_plan(project: Path) -> tuple[set[str], set[str]]:
    """(output files, shell commands) of every job the default target needs."""
    summary = snakemake(project, "--summary")
    assert summary.returncode == 0, summary.stderr
    lines = summary.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("output_file\t"))
    outputs = {line.split("\t")[0] for line in lines[header + 1:] if line.strip()}
    dry = snakemake(project, "-n", "--printshellcmds")
    assert dry.returncode == 0, dry.stderr
    commands = set(re.findall(r"^\s*(?:Shell command: )?(python -m pmtiqa .+)$", dry.stdout + dry.stderr, re.M))
    return outputs, commands


def per_split_outputs(project: Path, dvc_outputs: set[str]) -> set[str]:
    """DVC's outputs with each runs/train/<ds>/<variant> folder expanded to its split folders."""
    params = load_params(project / "params.yaml")
    result = set()
    for out in dvc_outputs:
        parts = Path(out).parts
        if parts[:2] == ("runs", "train"):
            n = params.for_dataset(parts[2]).split.n_splits
            result |= {f"{out}/split{k}" for k in range(n)}
        else:
            result.add(out)
    return result


def to_folders(snakemake_outputs: set[str]) -> set[str]:
    """Snakemake's per-file outputs of train and report as the folders DVC tracks."""
    result = set()
    for out in snakemake_outputs:
        parts = Path(out).parts
        if parts[:2] == ("runs", "train"):
            out = str(Path(*parts[:5]))  # runs/train/<ds>/<variant>/split<k>
        elif parts[0] == "reports" or parts[:2] == ("metrics", "cross"):
            out = str(Path(*parts[:2])) if parts[0] == "metrics" else "reports"  # files in the folder DVC tracks
        result.add(out)
    return result


def same_command(command: str) -> str:
    """A Snakemake shell command as DVC spells it: no log redirection, no --split (DVC runs them all)."""
    command = command.split(" > ")[0]
    return re.sub(r" --split \d+", "", command).strip()


def test_dvc_and_snakemake_plan_the_same_outputs_and_commands_for_the_demo(tmp_path):
    project = make_project(tmp_path, datasets=["synthetic"])
    dvc_outputs, dvc_commands = dvc_plan(project)
    snake_outputs, snake_commands = snakemake_plan(project)

    dvc_side = per_split_outputs(project, dvc_outputs)
    assert dvc_side == to_folders(snake_outputs)
    assert {same_command(c) for c in snake_commands} == dvc_commands

    # and it is the demo: 6 variants x 5 splits of synthetic, nothing of the paper's datasets
    splits = {o for o in dvc_side if o.startswith("runs/train/")}
    assert len(splits) == 6 * 5 and all(o.startswith("runs/train/synthetic/") for o in splits)
    assert {"reports", "metrics.json", "data/cache/synthetic", "runs/tune/synthetic/best.json"} <= dvc_side
    # every file the training contract names is a Snakemake output of each split
    split0 = {o for o in snake_outputs if o.startswith("runs/train/synthetic/ms_pmt/split0/")}
    assert {Path(o).name for o in split0} == {"metrics.json", "history.csv", "predictions.csv", "model.pt", "run.json"}


def test_every_stage_depends_on_its_code_identity_in_both_engines(tmp_path):
    """DVC's stages on the file the code stage writes for them, Snakemake's rules (but download's,
    whose rerun would delete what a user placed in data/raw/<ds>) on a `code` param: each the
    identity pmtiqa/stages.py computes (tests/workflow/test_plans.py edits code and compares plans)."""
    from dvc.repo import Repo

    from pmtiqa.stages import STAGES, identity_file

    project = make_project(tmp_path, datasets=["synthetic", "livec"])
    with Repo(str(project)) as repo:
        deps = {s.name: {str(d.def_path) for d in s.deps} for s in repo.index.stages}
    for name, stage_deps in deps.items():
        stage, _, item = name.partition("@")
        if stage != "code":
            assert str(identity_file(stage, item.split("-")[0] or None)) in stage_deps, name
    assert "pmtiqa" in deps["code"]  # the whole package
    rules = {path.stem: path.read_text() for path in (ROOT / "workflow" / "rules").glob("*.smk")}
    text = "\n".join(rules.values())
    coded = set(re.findall(r'code=code\("(\w+)"\)', text))
    assert coded == set(STAGES) - {"download"}
    for stage in coded:  # each in its own rule
        assert re.search(rf'^rule {stage}:\n(?:    .*\n|\n)*?        code=code\("{stage}"\)', text, re.M), stage


def test_paper_configuration_plans_240_training_jobs_without_data(tmp_path):
    project = make_project(tmp_path, datasets=PAPER_DATASETS)
    dry = snakemake(project, "-n", "--quiet", "rules")
    assert dry.returncode == 0, dry.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.stdout, re.M))
    assert counts["train"] == "240" and counts["evaluate"] == "24" and counts["tune"] == "4"
    dvc_outputs, _ = dvc_plan(project)
    assert len([o for o in per_split_outputs(project, dvc_outputs) if o.startswith("runs/train/")]) == 240


def test_snakemake_lint_passes(tmp_path):
    result = snakemake(make_project(tmp_path), "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_refuses_config_that_pmtiqa_would_not_see(tmp_path):
    result = snakemake(make_project(tmp_path), "-n", "--config", "datasets=[synthetic]")
    assert result.returncode != 0
    assert "read params.yaml" in result.stdout + result.stderr


def test_dvc_tracks_each_stage_s_own_params(tmp_path):
    """Per-stage params resolve (a missing key would make DVC fail here) and name the dataset's overrides."""
    from dvc.repo import Repo

    project = make_project(tmp_path, datasets=["synthetic", "livec"])
    with Repo(str(project)) as repo:
        params = {s.name: {p for dep in s.deps if hasattr(dep, "params") for p in dep.params}
                  for s in repo.index.stages}
        repo.status()  # resolves every params key against params.yaml
    assert {"model", "train", "loss", "split"} <= params["train@synthetic-baseline"]
    assert {f"overrides.livec.{s}" for s in ("model", "loss", "train", "split")} <= params["train@livec-ms_pmt"]
    assert not any(p.startswith("overrides.synthetic") for p in params["train@livec-ms_pmt"])
    # a change of a training setting reruns no split or augment stage
    assert params["split@synthetic"] == {"split", "overrides.synthetic.split"}
    assert params["augment@synthetic"] == {"augment", "overrides.synthetic.augment"}
    # a dataset's own declaration reaches its stages through its code identity file, not a shared section
    assert not {"custom_datasets", "download"} & {p for name, stage in params.items() if name != "code" for p in stage}
    assert params["report"] == {"datasets", "variants", "report"}  # the rest it reads from the runs
    assert not any(p.startswith("runtime") for stage in params.values() for p in stage)  # reruns nothing


def test_dvc_set_param_changes_only_the_lines_it_sets(tmp_path):
    """`dvc exp run -S` writes params.yaml back through its own YAML dumper; the file's layout
    (block lists, no comment right after a list) keeps that rewrite to the lines -S sets."""
    import difflib

    from dvc.utils.hydra import apply_overrides

    params = tmp_path / "params.yaml"
    params.write_text(committed_params())
    before = params.read_text().splitlines()
    epochs = yaml.safe_load(params.read_text())["overrides"]["synthetic"]["train"]["epochs"]
    apply_overrides(str(params), ["datasets=[synthetic]", f"overrides.synthetic.train.epochs={epochs + 1}"])
    changed = [line.split("#")[0].rstrip()  # inline comments stay
               for line in difflib.unified_diff(before, params.read_text().splitlines(), n=0, lineterm="")
               if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert sorted(changed) == sorted(["-- bid", "-- livec", "-- live", "-- csiq", "+- synthetic",
                                      f"-      epochs: {epochs}", f"+      epochs: {epochs + 1}"])


def test_a_custom_dataset_is_planned_like_a_built_in_one(tmp_path):
    """A dataset declared under custom_datasets (with its overrides entry, which DVC needs) gets every
    stage in both engines, with the same outputs and commands."""
    project = make_project(tmp_path, datasets=["synthetic", "mylab"])
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["custom_datasets"] = {"mylab": {"images": "/data/mylab/images", "labels": "/data/mylab/scores.csv",
                                           "range": [1, 5]}}
    params["overrides"]["mylab"] = {section: {} for section in ("split", "augment", "model", "loss", "train", "tune")}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc_outputs, dvc_commands = dvc_plan(project)
    snake_outputs, snake_commands = snakemake_plan(project)
    assert per_split_outputs(project, dvc_outputs) == to_folders(snake_outputs)
    assert {same_command(c) for c in snake_commands} == dvc_commands
    mine = {o for o in dvc_outputs if "mylab" in o}
    assert {"data/raw/mylab", "data/prepared/mylab/labels.csv", "data/cache/mylab", "runs/tune/mylab/best.json",
            "metrics/mylab/ms_pmt.json"} <= mine


def test_every_rule_says_what_it_does_in_list_rules(tmp_path):
    """`snakemake --list-rules` prints each rule with its docstring, one line: `name (what it does)`."""
    listed = snakemake(make_project(tmp_path), "--list-rules")
    assert listed.returncode == 0, listed.stderr
    rules = dict(re.findall(r"^(\w+)(?: \((.*)\))?$", listed.stdout, re.M))
    assert {"all", "download", "prepare", "split", "augment", "tune", "train", "evaluate", "cross", "report"} <= set(
        rules)
    assert not [rule for rule, doc in rules.items() if not doc]


@pytest.mark.parametrize("changes", [
    {"datasets": ["synthetic"]},
    {"datasets": ["synthetic", "livec"]},
    {"datasets": ["synthetic", "livec"], "cross": {"datasets": ["livec"], "variants": ["ms_pmt"]}},
    {"datasets": ["synthetic", "livec"], "cross": {"datasets": [], "variants": ["ms"]}, "variants": ["ms_pmt"]},
], ids=["one-dataset", "two-datasets", "tested-on-one", "no-cross-variant"])
def test_the_report_rule_declares_each_figure_pmtiqa_report_writes(tmp_path, changes):
    """The figures are report() outputs (`snakemake --report`), named from params.yaml alone: ablation,
    each dataset's curves and scatter, and cross.png where pmtiqa cross has a pair and a variant to
    compare (the report's cross-dataset section)."""
    from pmtiqa.scoring.cross import pairs

    project = make_project(tmp_path, **changes)
    params = load_params(project / "params.yaml")
    summary = snakemake(project, "--summary")
    assert summary.returncode == 0, summary.stderr
    figures = {line.split("\t")[0] for line in summary.stdout.splitlines() if line.startswith("reports/figures/")}
    crossed = bool(pairs(params)) and any(v in params.variants for v in params.cross.variants)
    named = ["ablation"] + ["cross"] * crossed + [f"{kind}_{ds}" for ds in params.datasets
                                                  for kind in ("curves", "scatter")]
    assert figures == {f"reports/figures/{name}.png" for name in named}


def job_threads(project: Path, target: str, rule: str) -> int:
    """The threads Snakemake's plan gives the job of ``rule`` (a job of one thread shows none)."""
    dry = snakemake(project, "-n", target)
    assert dry.returncode == 0, dry.stderr
    block = re.search(rf"^(?:local)?rule {rule}:\n((?:.+\n)+)", dry.stdout + dry.stderr, re.M).group(1)
    found = re.search(r"threads: (\d+)", block)
    return int(found.group(1)) if found else 1


def test_a_training_job_asks_for_every_core_on_a_cpu_and_one_on_a_gpu(tmp_path):
    """On a CPU two trainings would share its cores, so one takes them all; on a GPU the device's
    slots (the profile's gpu resource) decide how many run together, each with one core."""

    target = "runs/train/bid/ms_pmt/split0/metrics.json"
    cpu = make_project(tmp_path / "cpu", runtime={"device": "cpu"})
    assert job_threads(cpu, target, "train") == len(os.sched_getaffinity(0))
    gpu = make_project(tmp_path / "gpu", runtime={"device": "cuda"})
    assert job_threads(gpu, target, "train") == 1
    assert job_threads(gpu, "runs/tune/bid/best.json", "tune") == 1
