"""What `pmtiqa report` reads: for each dataset and variant params.yaml selects, the summary evaluate
wrote (metrics/<ds>/<variant>.json), every split's history.csv (and predictions.csv of the variant
the figures focus on), the settings its runs recorded (run.json), and runs/tune/<ds>/best.json where
the runs trained with its values. The report describes the runs as they ran, not as params.yaml
says they should have: what it reads is what the engines made, and it stops where the files do not
belong together (a split of another variant or settings, a summary older than its runs).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from pmtiqa.config.params import Params
from pmtiqa.config.sections import TUNABLE_SETTINGS
from pmtiqa.core.atomic import null_as_nan
from pmtiqa.core.errors import UserError
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.core.readers import read_csv, read_json
from pmtiqa.method.metrics import STATISTICS, correlation_in_range
from pmtiqa.method.model import STAGE_CHANNELS
from pmtiqa.method.variants import VARIANTS
from pmtiqa.reporting.evaluate import checked_selections, summary_of
from pmtiqa.training.finished import check_runs, check_variants_alike
from pmtiqa.training.selections import REQUIRED_SELECTIONS, held_selections, same_selections

RUN_STAGES = "run the stages before the report (`dvc repro` or `snakemake`)"
# The columns the report reads as numbers (history.csv's `target` is the loss's target, a word), and
# those it cannot go without (the figures draw them)
HISTORY_NUMBERS = ("epoch", "lambda1", "lambda2", "lr", "loss", "l1", "ce", "val_srcc", "val_plcc", "test_srcc",
                   "test_plcc", "seconds", "scoring_seconds")
HISTORY_NEEDS = ("epoch", "lambda1", "l1", "ce", "test_srcc")
# What a run writes in history.csv's columns, where present: (may the cell be empty, does a value
# lie in the range, the range in words); a hand-edited or damaged file would otherwise be drawn as written
HISTORY_VALUES = {
    **{c: (True, correlation_in_range, "a correlation (-1 to 1, or empty)")
       for c in ("val_srcc", "val_plcc", "test_srcc", "test_plcc")},
    **{c: (False, lambda v: 0 <= v < math.inf, "a loss (0 or more)") for c in ("loss", "l1", "ce")},
    **{c: (False, lambda v: 0 <= v <= 1, "a task weight (0 to 1)") for c in ("lambda1", "lambda2")},
    "lr": (False, lambda v: 0 < v < math.inf, "a learning rate (above 0)"),
    **{c: (False, lambda v: 0 <= v < math.inf, "a duration (0 or more)") for c in ("seconds", "scoring_seconds")},
}
PREDICTION_NUMBERS = ("mos", "prediction", "score")
PREDICTION_NEEDS = ("mos", "prediction")


def focus_variant(params: Params) -> str:
    """The variant the scatter and loss curves show: the reference one when it ran."""
    ref = params.report.reference_variant
    return ref if ref in params.variants else params.variants[0]


def load_results(params: Params, files: dict[str, DatasetFiles]) -> dict:
    """{ds: {"settings" (of the header, from the runs), "selections" (those every variant holds),
    "tuned" (best.json, where the runs used it), "variants": {v: {"metrics", "histories", "runs" (each
    split's run.json)[, "predictions" of the focus variant]}}}}."""
    return {ds: load_dataset(params, files[ds]) for ds in params.datasets}


def load_dataset(params: Params, files: DatasetFiles) -> dict:
    ds, focus, variants, n = files.dataset, focus_variant(params), {}, None
    for v in params.variants:
        path = files.metrics(v)
        metrics = read_json(path, RUN_STAGES)
        if not isinstance(metrics, dict):
            raise UserError(f"{path}: not a summary written by `pmtiqa evaluate`; {RUN_STAGES}")
        n = n if n is not None else metrics.get("n_splits")  # paired tests: every variant over the same splits
        check_metrics(metrics, path, n, f"run `pmtiqa evaluate --dataset {ds} --variant {v}` again")
        metrics["summary"] = null_as_nan(metrics["summary"])  # an undefined median (constant predictions): NaN
        runs = [files.run(v, k) for k in range(n)]
        recorded = check_runs(ds, v, [r / "run.json" for r in runs], RUN_STAGES)
        check_fresh(metrics, path, runs, f"run `pmtiqa evaluate --dataset {ds} --variant {v}` again")
        variants[v] = {"metrics": metrics, "runs": recorded,
                       "histories": [read_history(r / "history.csv") for r in runs]}
        if v == focus:  # only the scatter reads predictions, and only the focus variant's
            variants[v]["predictions"] = [read_rows(r / "predictions.csv", PREDICTION_NUMBERS, PREDICTION_NEEDS)
                                          for r in runs]
    check_variants_alike({v: files.run(v, 0) / "run.json" for v in variants},
                         {v: d["runs"][0] for v, d in variants.items()}, RUN_STAGES)
    first = params.variants[0]
    ran = run_settings(files.run(first, 0) / "run.json", variants[first]["runs"][0])
    return {
        "settings": {"model.backbone": ran["model"]["backbone"],
                     "model.weights": ran["model"]["weights"], "train.epochs": ran["train"]["epochs"]},
        "selections": common_selections(files, variants),
        "tuned": tuned_for(files.best, ran),
        "variants": variants,
    }


def read_rows(path: Path, numbers: tuple[str, ...], needs: tuple[str, ...]):
    """A split's history.csv or predictions.csv, which a finished run never leaves without rows or the
    columns ``needs``: an empty one would drop the split from every median the report draws, without a word."""
    table = read_csv(path, RUN_STAGES, columns=needs, numbers=numbers)
    if table.empty:
        raise UserError(f"{path}: holds no rows; {RUN_STAGES}")
    return table


def read_history(path: Path):
    """A split's history.csv, each value one a run writes, its rows epochs 1, 2, ... in order."""
    table = read_rows(path, HISTORY_NUMBERS, HISTORY_NEEDS)
    values = {column: [float(v) for v in table[column]] for column in HISTORY_NUMBERS if column in table}
    for row, epoch in enumerate(values["epoch"]):
        if epoch != row + 1:
            raise UserError(f"{path}: row {row + 2}: epoch {epoch!r} where the rows count epochs 1, 2, ...; "
                            f"{RUN_STAGES}")
    for column, (may_be_empty, admits, what) in HISTORY_VALUES.items():
        for row, value in enumerate(values.get(column, ())):
            if not (admits(value) or may_be_empty and math.isnan(value)):
                raise UserError(f"{path}: row {row + 2}: {column} {value!r} is not {what}; {RUN_STAGES}")
    return table


def run_settings(path: Path, run: dict) -> dict:
    """The settings a split's run.json (``path``, as read: ``run``) records, with the keys the report shows."""
    settings = run["settings"]
    try:
        shown = {"model.backbone": settings["model"]["backbone"], "model.weights": settings["model"]["weights"],
                 "train.epochs": settings["train"]["epochs"]}
    except (KeyError, TypeError):
        raise UserError(f"{path}: not a run.json written by `pmtiqa train`; {RUN_STAGES}") from None
    for key, value in shown.items():
        wanted, what = (int, "a whole number of epochs") if key == "train.epochs" else (str, "a name")
        if type(value) is not wanted or (wanted is int and value < 1):
            raise UserError(f"{path}: settings.{key} is {value!r}, not {what}; {RUN_STAGES}")
    if shown["model.backbone"] not in STAGE_CHANNELS:
        raise UserError(f"{path}: settings.model.backbone is {shown['model.backbone']!r}, not a backbone pmtiqa "
                        f"trains (known: {', '.join(STAGE_CHANNELS)}); {RUN_STAGES}")
    return settings


def tuned_for(best_json: Path, ran: dict) -> dict | None:
    """best.json where the runs trained with every value it holds; None where they did not (not
    tuned, or train.use_tuned false)."""
    if not best_json.is_file():
        return None
    best = read_json(best_json, RUN_STAGES)
    values = best.get("params", {}) if isinstance(best, dict) else {}
    used = all(ran.get(TUNABLE_SETTINGS[k].split(".")[0], {}).get(TUNABLE_SETTINGS[k].split(".")[1]) == v
               for k, v in values.items() if k in TUNABLE_SETTINGS)
    return best if used and values else None


def check_metrics(metrics: dict, path: Path, n: int | None, fix: str) -> None:
    """Paired tests need every variant over the same splits, in order; the figures need every statistic
    of each selection it holds (a file that an older pmtiqa wrote may lack some)."""
    summary = metrics.get("summary") if isinstance(metrics, dict) else None
    held = held_selections(summary) if isinstance(summary, dict) else ()
    if type(n) is not int or n < 1 or metrics.get("n_splits") != n or not set(REQUIRED_SELECTIONS) <= set(held) \
            or not isinstance(metrics.get("splits"), list) or len(metrics["splits"]) != n \
            or any(not isinstance(summary[sel], dict) or not isinstance(summary[sel].get("srcc"), dict)
                   or not set(STATISTICS) <= set(summary[sel]["srcc"]) for sel in held):
        raise UserError(f"{path}: not a summary of the same {n} splits as the dataset's other variants; {fix}")


def check_fresh(metrics: dict, path: Path, runs: list[Path], fix: str) -> None:
    """The summary holds each split's metrics.json as it is now: one older than a retrain, or made of
    other runs, would describe numbers the runs no longer hold."""
    for k, (held, run) in enumerate(zip(metrics["splits"], runs)):
        if held != read_json(run / "metrics.json", RUN_STAGES):
            raise UserError(f"{path}: its split {k} is not {run / 'metrics.json'} as it is now (the summary is older "
                            f"than the runs, or of others); {fix}")
    check_summary_of_splits(metrics, path, [run / "metrics.json" for run in runs], fix)


def check_summary_of_splits(metrics: dict, path: Path, split_files: list[Path], fix: str) -> None:
    """The summary is what evaluate computes of the splits it holds (read from ``split_files``): the
    same selections and metrics, each statistic of the same value. The report draws the summary, and
    a hand-edited one would be drawn as written."""
    splits, summary = metrics["splits"], metrics["summary"]
    expected = summary_of(splits, checked_selections(splits, split_files, RUN_STAGES))
    if set(summary) != set(expected):
        raise UserError(f"{path}: its summary holds the selections {', '.join(map(str, summary))}, its splits "
                        f"{', '.join(expected)}; {fix}")
    for sel, by_metric in expected.items():
        if set(summary[sel]) != set(by_metric):
            raise UserError(f"{path}: its {sel} summary holds {', '.join(map(str, summary[sel]))}, its splits "
                            f"{', '.join(by_metric)}; {fix}")
        for name, computed in by_metric.items():
            held = summary[sel][name]
            if not isinstance(held, dict):
                raise UserError(f"{path}: its {sel} {name} is {held!r}, not statistics over its splits; {fix}")
            for stat in STATISTICS:
                value = held.get(stat)
                if not same_number(value, computed[stat]):
                    raise UserError(f"{path}: its {sel} {name} {stat} is {json_shown(value)}, not that of its "
                                    f"splits ({json_shown(computed[stat])}); {fix}")


def json_shown(value) -> str:
    """A value as JSON writes it (NaN as the null it was), an integer of hundreds of digits by its length."""
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > 20:
        return f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, float) and math.isnan(value):
        return "null"
    return json.dumps(value)


def same_number(held, computed: float) -> bool:
    """Is ``held`` (as JSON gave it) the number ``computed``, NaN for NaN, up to float rounding?"""
    if isinstance(held, bool) or not isinstance(held, (int, float)):
        return False
    try:
        held = float(held)
    except OverflowError:  # an integer of hundreds of digits
        return False
    return math.isnan(held) and math.isnan(computed) or math.isclose(held, computed, rel_tol=1e-9, abs_tol=1e-12)


def common_selections(files: DatasetFiles, variants: dict) -> tuple[str, ...]:
    """The selections every variant of a dataset holds (comparing variants of different data budgets
    would be unfair)."""
    return same_selections([v["metrics"]["summary"] for v in variants.values()],
                           [files.metrics(v) for v in variants], "the variants", RUN_STAGES)


def shown_selections(params: Params, result: dict) -> list[str]:
    """The selections params ask the report for that a dataset's metrics hold."""
    return [sel for sel in params.report.selections if sel in result["selections"]]


def load_cross(path: Path) -> dict | None:
    """pmtiqa cross's summary ({"pairs": {"A-to-B": {variant: medians}}}), None where it has not run."""
    if not path.is_file():
        return None
    cross = read_json(path, "run `pmtiqa cross` again")
    if not isinstance(cross, dict) or not isinstance(cross.get("pairs"), dict):
        raise UserError(f"{path}: not a summary written by `pmtiqa cross`; run it again")
    for pair, by_variant in cross["pairs"].items():
        if len([ds for ds in pair.split("-to-") if ds]) != 2 or not isinstance(by_variant, dict) or not by_variant:
            raise UserError(f"{path}: pairs.{pair}: not an A-to-B pair of variants' medians; run `pmtiqa cross` again")
        for variant, medians in by_variant.items():
            if variant not in VARIANTS:
                raise UserError(f"{path}: pairs.{pair}.{variant}: not a variant (known: {', '.join(VARIANTS)}); "
                                f"run `pmtiqa cross` again")
            check_pair(medians, f"{path}: pairs.{pair}.{variant}")
            by_variant[variant] = null_as_nan(medians)  # an undefined correlation: NaN, as evaluate's
    return cross


def check_pair(medians: object, where: str) -> None:
    """A pair's medians and (from newer summaries) each split's values are correlations or null, its
    image count a positive whole number or null: anything else would be drawn as a result."""
    fix = "run `pmtiqa cross` again"
    if not isinstance(medians, dict) or not {"srcc_median", "plcc_median"} <= set(medians):
        raise UserError(f"{where}: not a pair's medians; {fix}")
    values = {key: [medians[key]] for key in ("srcc_median", "plcc_median")}
    values |= {key: medians[key] for key in ("srcc_splits", "plcc_splits") if medians.get(key) is not None}
    for key, held in values.items():
        if not isinstance(held, list):
            raise UserError(f"{where}.{key}: {held!r} is not a list of each split's values; {fix}")
        bad = [v for v in held if not is_correlation(v)]
        if bad:
            raise UserError(f"{where}.{key}: {bad[0]!r} is not a correlation (-1 to 1, or null); {fix}")
    n = medians.get("n_images")
    if n is not None and (type(n) is not int or n < 1):
        raise UserError(f"{where}.n_images: {n!r} is not a number of images; {fix}")


def is_correlation(value: object) -> bool:
    return value is None or (type(value) in (int, float) and correlation_in_range(value))
