"""Where a report's numbers came from: the code (git commit, and whether tracked files differed from
it), the versions of pmtiqa, Python, torch and torchvision, what the runs computed on (as their
run.json files record it), and for each dataset the source its download recorded and the checksums
of the labels and pixels the runs trained on. `pmtiqa report` writes it as a section of report.md.
"""
from __future__ import annotations

import json
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from pmtiqa.core.paths import DatasetFiles


def code_state(root: Path = Path(".")) -> str:
    """The commit checked out, and the tracked files that differ from it ("not a git checkout"
    where there is no git or no repository)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        changed = sorted(git("diff", "--name-only", "HEAD").splitlines(), key=pipeline_record_last)  # staged or not
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    if not changed:
        return f"commit {commit}, no tracked file changed"
    shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
    return f"commit {commit}, with changes to tracked files: {shown}"


def pipeline_record_last(path: str) -> tuple[bool, str]:
    """params.yaml and code before what the engines record of a run (dvc.lock, metrics), which an
    experiment changes anyway."""
    return path == "dvc.lock" or path == "metrics.json" or path.startswith("metrics/"), path


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> str:
    """Read from the installed packages' metadata: importing torchvision here would cost seconds."""
    return ", ".join(f"{name} {package_version(name)}" for name in ("pmtiqa", "torch", "torchvision")) \
        + f", Python {platform.python_version()}"


def ran_on(run_jsons: list[dict]) -> str:
    """What the runs computed on, each distinct (device, precision, torch.compile mode) once."""
    seen = sorted({(str(r["device"]), str(r["precision"]), str(r.get("compile", "none"))) for r in
                   (run.get("ran_on") for run in run_jsons) if isinstance(r, dict)
                   and {"device", "precision"} <= set(r)})
    if not seen:
        return "not recorded"
    return "; ".join(f"{device} {precision}" + (f" compiled ({mode})" if mode not in ("none", "False") else "")
                     for device, precision, mode in seen)


def data_source(files: DatasetFiles, run_json: dict) -> str:
    """The download's recorded source and files (with their sha256), then the checksums of the
    labels and pixels the runs trained on."""
    try:
        record = json.loads(files.download_record.read_text())
    except (OSError, ValueError):
        record = {}
    source = str(record.get("source", "not recorded")) if isinstance(record, dict) else "not recorded"
    listed = [f for f in record.get("files", []) if isinstance(f, dict)] if isinstance(record, dict) else []
    parts = [source] + [f"{f.get('file')} sha256 {str(f.get('sha256'))[:16]}" for f in listed]
    inputs = run_json.get("inputs")
    cache = inputs.get("cache") if isinstance(inputs, dict) else None
    cache = cache if isinstance(cache, dict) else {}
    parts += [f"{what} sha256 {str(cache[key])[:16]}" if cache.get(key) else f"{what} sha256 not recorded"
              for what, key in (("labels", "labels_sha256"), ("pixels", "images_sha256"))]
    return "; ".join(parts)


def provenance_section(files: dict[str, DatasetFiles], runs: dict[str, list[dict]]) -> list[str]:
    """report.md's lines: ``runs`` holds each dataset's run.json contents (every variant and split)."""
    made = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out = ["## Provenance", "", f"- Report made {made} from {code_state()}.", f"- Versions: {versions()}.",
           "- Computed on: " + "; ".join(f"{ds}: {ran_on(r)}" for ds, r in runs.items()) + "."]
    out += [f"- {ds} data: {data_source(files[ds], r[0] if r else {})}." for ds, r in runs.items()]
    return out + [""]
