"""Projects for the workflow engines: a temporary copy of the graph's files (a git repository), the
environment the engines run `pmtiqa` in, and the tiny settings that take every stage through the
graph in little time."""
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from tests.builders import ROOT

# pmtiqa/ too: its files are code deps of stages in both engines
PROJECT_FILES = ("Snakefile", "workflow", "profiles", "dvc.yaml", "params.yaml", ".dvc/config", ".dvcignore",
                 ".gitignore", "pmtiqa")


def committed_params() -> str:
    """params.yaml as committed: `make demo` (dvc exp run -S) edits the workspace's copy."""
    shown = subprocess.run(["git", "show", "HEAD:params.yaml"], cwd=ROOT, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else (ROOT / "params.yaml").read_text()


def make_project(dest: Path, **changes) -> Path:
    """A copy of the graph's files in dest, a git and DVC repository, params.yaml changed at top level."""
    for name in PROJECT_FILES:
        src, dst = ROOT / name, dest / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dst)
    (dest / "params.yaml").write_text(committed_params())
    if changes:
        params = yaml.safe_load((dest / "params.yaml").read_text())
        params.update(changes)
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def engine_env() -> dict:
    """Snakemake imports pmtiqa in the Snakefile: make this checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def snakemake(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=project, env=engine_env(),
                          capture_output=True, text=True, timeout=300)


VARIANTS = ["baseline", "ms_pmt"]


TINY = {  # every section present: DVC tracks each (params.yaml, overrides)
    "model": {"backbone": "cnn4", "weights": "none"},
    "augment": {},
    "loss": {},
    # a quarter of the references, half of them tested: the test is about the graph, not learning; no
    # validation part, as the paper configuration (the demo's has one)
    "split": {"n_splits": 2, "test_fraction": 0.5, "val_fraction": 0.0, "subset": 0.25},
    "train": {"epochs": 1, "batch_size": 32, "lr": 1.0e-3, "crop_size": 32, "crops_per_image": 1,
              "test_crops": 1},
    "tune": {"n_trials": 2, "epochs": 1, "lr": [5.0e-4, 2.0e-3], "batch_size": [24, 40]},
}


def environment(tmp: Path) -> dict:
    """`python` on PATH for the engines' shell commands (`python -m pmtiqa`): this Python, which finds
    the project's copy of the package first (the one DVC hashes as the stages' code deps)."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "python"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ)
    # the engines' own commands beside this Python too: DVC's queue starts `dvc` by name
    env.update(PATH=os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env["PATH"]]), DVC_NO_ANALYTICS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
               GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.com",
               GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.com")
    return env


def run(args: list[str], cwd: Path, env: dict, timeout: int = 900) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


def run_together(*jobs: tuple[list[str], Path], env: dict, timeout: int = 900) -> list[str]:
    """Commands that do not depend on each other (each in its own folder) run at once; their outputs."""
    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(lambda job: run(*job, env, timeout), jobs))


def metrics_of(project: Path) -> dict:
    return {v: json.loads((project / "metrics" / "synthetic" / f"{v}.json").read_text()) for v in VARIANTS}
