"""SIGKILL the stages at random moments, again and again: does every rerun end where an
uninterrupted run ends, with no temporary file left and no process outliving its stage?

For each of download, augment, train and tune on a small synthetic configuration (the CPU, one
thread: bit-equal reruns), it runs the stage once uninterrupted, then in another folder starts it,
kills it (SIGKILL, the stage's own process only) at a random moment inside the reference's wall
time, checks that no process of that run survived, and starts it again, until --kills kills have
landed inside a running stage; then it lets the stage finish and compares its result with the
reference's. A kill that comes after the stage has finished does not count: the stage's outputs are
removed and the next start begins afresh. It prints one row per stage.

With --full-disk (as root) it then runs each stage again with its outputs' folder on a file system
of half the size they take (a tmpfs mounted there): the stage must stop with exit status 2 and one
line naming a file and the full disk, leaving no temporary file; given room again, its rerun must end
with the uninterrupted result.

    python tests/faults/kill_loop.py                 # 20 kills per stage, a few minutes each
    python tests/faults/kill_loop.py --kills 5 --stages train tune
    python tests/faults/kill_loop.py --kills 0 --full-disk
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]  # the repository, whose params.yaml it starts from
STAGES = ("download", "prepare", "split", "augment", "train", "tune")
KILLED = ("download", "augment", "train", "tune")
OUTPUTS = {"download": "data/raw/synthetic", "augment": "data/cache/synthetic", "train": "runs/train",
           "tune": "runs/tune"}
MOUNTED = {"download": "data/raw", "augment": "data/cache", "train": "runs", "tune": "runs"}  # for --full-disk
FULL = re.compile(r"No space left on device|disk is full")
TIMINGS = ("seconds", "scoring_seconds")  # history.csv's columns of wall time
LEFTOVER = re.compile(r"\.tmp$|\.old$|\.run$|\.part$")
SMALL = {  # the synthetic set at its quickest: each stage runs for seconds
    "split": {"n_splits": 1, "subset": 0.25, "val_fraction": 0.0},
    "train": {"epochs": 3, "batch_size": 32, "crop_size": 32, "crops_per_image": 1, "test_crops": 1,
              "use_tuned": False},
    "tune": {"n_trials": 3, "epochs": 2, "batch_size": [24, 40]},
}


def write_params(folder: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(datasets=["synthetic"], variants=["ms_pmt"], runtime={**params["runtime"], "threads": 1,
                                                                       "device": "cpu", "precision": "fp32"})
    for section, values in SMALL.items():
        params["overrides"]["synthetic"][section] = {**params["overrides"]["synthetic"].get(section, {}), **values}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def start(folder: Path, stage: str, token: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KILL_LOOP_TOKEN": token}
    command = [sys.executable, "-m", "pmtiqa", stage, "--params", "params.yaml"]
    if stage != "train":
        command += ["--dataset", "synthetic"]
    else:
        command += ["--dataset", "synthetic", "--variant", "ms_pmt"]
    return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run_to_end(folder: Path, stage: str) -> float:
    started = time.perf_counter()
    proc = start(folder, stage, uuid.uuid4().hex)
    _, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"`pmtiqa {stage}` failed in {folder}:\n{err.decode()[-2000:]}")
    return time.perf_counter() - started


def survivors(token: str) -> list[int]:
    """Processes still running with this run's token in their environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"KILL_LOOP_TOKEN={token}".encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def result(folder: Path, stage: str):
    """What an interrupted and an uninterrupted run of the stage must agree on."""
    if stage == "download":
        raw = folder / OUTPUTS[stage]
        return {str(p.relative_to(raw)): digest(p) for p in sorted(raw.rglob("*"))
                if p.is_file() and p.name != ".download.json"}
    if stage == "augment":
        cache = folder / OUTPUTS[stage]
        return {p.name: digest(p) for p in sorted(cache.iterdir()) if p.suffix in (".npy", ".csv")}
    if stage == "train":
        split = folder / "runs/train/synthetic/ms_pmt/split0"
        return json.loads((split / "metrics.json").read_text()), history_without_timings(split / "history.csv")
    best = json.loads((folder / "runs/tune/synthetic/best.json").read_text())
    return best["params"], best["value"]


def history_without_timings(path: Path) -> list[dict]:
    """history.csv's rows less the columns that time an epoch, which no two runs share."""
    with open(path, newline="") as file:
        return [{k: v for k, v in row.items() if k not in TIMINGS} for row in csv.DictReader(file)]


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if LEFTOVER.search(p.name))


def kill_loop(base: Path, reference: Path, stage: str, kills: int, seconds: float, rng: random.Random) -> dict:
    folder = base / stage
    shutil.copytree(reference, folder, ignore=shutil.ignore_patterns(".snakemake"))
    output = folder / OUTPUTS[stage]
    shutil.rmtree(output)
    landed, surviving, restarts = 0, 0, 0
    while landed < kills:
        token = uuid.uuid4().hex
        proc = start(folder, stage, token)
        time.sleep(rng.uniform(0.5, seconds))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            landed += 1
            time.sleep(0.5)  # time for a process that outlives its parent to be seen doing so
            alive = survivors(token)
            surviving += len(alive)
            for pid in alive:  # the check is done: do not let them disturb the next run
                os.kill(pid, signal.SIGKILL)
        else:  # finished before the kill: begin afresh, so that kills keep landing inside a run
            proc.communicate()
            shutil.rmtree(output, ignore_errors=True)
            restarts += 1
    run_to_end(folder, stage)
    same = result(folder, stage) == result(reference, stage)
    return {"kills": landed, "restarts": restarts, "same": same, "survivors": surviving, "left": leftovers(folder)}


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def full_disk(base: Path, reference: Path, stage: str) -> dict:
    """The stage on a file system half the size of its outputs, then again with room."""
    folder = base / f"{stage}-full"
    shutil.copytree(reference, folder, ignore=shutil.ignore_patterns(".snakemake"))
    shutil.rmtree(folder / OUTPUTS[stage])
    mount = folder / MOUNTED[stage]  # what else it holds is hidden while mounted: no stage here reads it
    mount.mkdir(parents=True, exist_ok=True)
    needed = size_of(reference / OUTPUTS[stage])
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={needed // 2}", "tmpfs", str(mount)], check=True)
    try:
        proc = start(folder, stage, uuid.uuid4().hex)
        _, err = proc.communicate()
        lines = err.decode().strip().splitlines()
        said = lines[-1] if lines else ""
        one_line = proc.returncode == 2 and len([line for line in lines if "error" in line.lower()]) == 1 \
            and bool(FULL.search(said))
        # a temporary file left now would be half-written; train's .split<k>.run folder is the
        # checkpoint a rerun resumes from, and must be gone once the rerun has finished
        left = [p for p in leftovers(folder) if p.endswith(".tmp")]
        subprocess.run(["mount", "-o", f"remount,size={4 * needed + (64 << 20)}", str(mount)], check=True)
        run_to_end(folder, stage)
        same = result(folder, stage) == result(reference, stage)
        left += leftovers(folder)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    return {"needed": needed, "status": proc.returncode, "one_line": one_line, "said": said[-110:], "left": left,
            "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="kills that must land inside a running stage")
    parser.add_argument("--stages", nargs="+", choices=KILLED, default=list(KILLED))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full-disk", action="store_true", help="also run each stage out of disk space (root)")
    args = parser.parse_args()
    if args.full_disk and os.geteuid() != 0:
        raise SystemExit("--full-disk mounts a small tmpfs for each stage: run it as root")
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kill-loop-") as tmp:
        base = Path(tmp)
        reference = base / "reference"
        reference.mkdir()
        write_params(reference)
        seconds = {stage: run_to_end(reference, stage) for stage in STAGES}
        print(f"{'stage':<9} {'alone (s)':>9} {'kills':>5} {'restarts':>8} {'same result':>11} {'survivors':>9}  leftovers")
        failed = False
        for stage in args.stages:
            row = kill_loop(base, reference, stage, args.kills, seconds[stage], rng)
            failed |= not row["same"] or bool(row["survivors"]) or bool(row["left"])
            print(f"{stage:<9} {seconds[stage]:>9.1f} {row['kills']:>5} {row['restarts']:>8} "
                  f"{'yes' if row['same'] else 'NO':>11} {row['survivors']:>9}  {', '.join(row['left']) or 'none'}",
                  flush=True)
        if args.full_disk:
            print(f"\n{'stage':<9} {'needs (KiB)':>11} {'status':>6} {'one line':>8} {'same after':>10}  leftovers; "
                  f"what it said")
            for stage in args.stages:
                row = full_disk(base, reference, stage)
                failed |= not (row["one_line"] and row["same"]) or bool(row["left"])
                print(f"{stage:<9} {row['needed'] // 1024:>11} {row['status']:>6} {'yes' if row['one_line'] else 'NO':>8} "
                      f"{'yes' if row['same'] else 'NO':>10}  {', '.join(row['left']) or 'none'}; {row['said']}",
                      flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
