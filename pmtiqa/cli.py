"""The `pmtiqa` command line: one subcommand per stage of the graph, plus `predict`.

Every stage's subcommand takes ``--params FILE`` (default params.yaml) after its name. The handlers
only translate arguments into calls of the package's functions; heavy modules are imported
inside the handlers so that `pmtiqa --help` is quick and `train`/`predict` run where optuna,
dvc or snakemake are not installed.

Every line the package, Python's warnings and Optuna write to stderr has one format (setup_logging);
progress bars are drawn only on a terminal (core/progress.py).
"""
from __future__ import annotations

import argparse
import logging
import sys
from importlib import metadata
from pathlib import Path

import pmtiqa
from pmtiqa.config.load import load_params
from pmtiqa.config.params import DatasetParams, Params
from pmtiqa.config.sections import KNOWN_DATASETS
from pmtiqa.core import paths
from pmtiqa.core.errors import UserError, exit_status
from pmtiqa.core.logs import setup_logging
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.method.variants import VARIANTS
from pmtiqa.stages import code_identity, write_code_identities

log = logging.getLogger("pmtiqa")

# Each dataset's handler gets the params as that dataset's stages see them (made once, here) and the
# dataset's files, and hands the stage the paths it reads and writes: no stage decides where
# another's files are.


def cmd_download(args: argparse.Namespace, params: DatasetParams, files: DatasetFiles) -> int:
    from pmtiqa.data.download import download

    download(args.dataset, files.raw, source=args.source or params.download_source, custom=params.custom_datasets)
    return 0


def cmd_prepare(args: argparse.Namespace, params: DatasetParams, files: DatasetFiles) -> int:
    from pmtiqa.data.prepare import prepare

    prepare(args.dataset, files.raw, files.labels, params.custom_datasets)
    return 0


def cmd_split(args: argparse.Namespace, params: DatasetParams, files: DatasetFiles) -> int:
    from pmtiqa.data.splits import write_splits

    write_splits(files.labels, files.splits, **params.section("split"))
    return 0


def cmd_augment(args: argparse.Namespace, params: DatasetParams, files: DatasetFiles) -> int:
    from pmtiqa.data.augment import build_cache

    build_cache(files.labels, files.raw, files.cache, size=params.image_size, workers=params.runtime.workers,
                how=params.augment.decode)
    return 0


def cmd_tune(args: argparse.Namespace, params: DatasetParams, files: DatasetFiles) -> int:
    from pmtiqa.tuning.tune import tune

    tune(params, files, code_identity("tune", params))
    return 0


def cmd_train(args: argparse.Namespace, params: DatasetParams, files: DatasetFiles) -> int:
    from pmtiqa.training.train import train_splits

    splits = range(params.split.n_splits) if args.split is None else [args.split]
    train_splits(params, files, args.variant, list(splits), code_identity("train", params))
    return 0


def cmd_evaluate(args: argparse.Namespace, params: DatasetParams, files: DatasetFiles) -> int:
    from pmtiqa.reporting.evaluate import evaluate_variant

    evaluate_variant(params, files, args.variant)
    return 0


def cmd_cross(args: argparse.Namespace, params: Params, files: None) -> int:
    from pmtiqa.scoring.cross import cross_evaluate

    cross_evaluate(params, {ds: DatasetFiles(ds) for ds in params.datasets}, paths.CROSS_DIR)
    return 0


def cmd_report(args: argparse.Namespace, params: Params, files: None) -> int:
    from pmtiqa.reporting.report import write_report

    write_report(params, {ds: DatasetFiles(ds) for ds in params.datasets}, paths.CROSS_DIR / "summary.json",
                 paths.REPORTS_DIR, paths.SUMMARY_JSON)
    return 0


def cmd_code(args: argparse.Namespace, params: Params, files: None) -> int:
    write_code_identities(params)
    return 0


def cmd_predict(args: argparse.Namespace, params: None, files: None) -> int:
    from pmtiqa.scoring.predict import predict_paths

    failures = predict_paths(args.checkpoint, args.inputs, output=args.output, batch_size=args.batch_size,
                             device=args.device)
    return 1 if failures else 0


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse names the option beside the message)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not positive (must be at least 1)")
    return value


def version() -> str:
    """The installed package's version; the source tree's where it is run uninstalled."""
    try:
        return metadata.version("pmtiqa")
    except metadata.PackageNotFoundError:
        return pmtiqa.__version__


def verbose_option(default) -> argparse.ArgumentParser:
    """-v/--verbose, for the main parser (default False) and each subcommand's (default SUPPRESS: a
    subcommand that was not given it leaves the main parser's value alone), so that it is accepted
    before the command name and after it."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-v", "--verbose", action="store_true", default=default, help="debug logging")
    return parent


def dataset_help() -> str:
    return (f"the dataset: {', '.join(KNOWN_DATASETS)}, or one that the params file's custom_datasets "
            f"declares")


def variant_help() -> str:
    return f"the variant: {', '.join(VARIANTS)}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pmtiqa", description=__doc__.splitlines()[0],
                                     parents=[verbose_option(False)])
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verbose = verbose_option(argparse.SUPPRESS)

    def command(name: str, func, help: str, dataset: bool = True, params: bool = True,
                description: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description or help, parents=[verbose])
        p.set_defaults(func=func)
        if params:
            p.add_argument("--params", default="params.yaml", type=Path, help="params file (default: params.yaml)")
        else:
            p.set_defaults(params=None)
        if dataset:
            p.add_argument("--dataset", required=True, help=dataset_help())
        return p

    p = command("download", cmd_download, "fetch a dataset into data/raw/<dataset>/")
    p.add_argument("--source", help="URL, local archive or local folder to take the dataset from "
                                    "(default: download.sources in the params file, else the dataset's own)")
    command("prepare", cmd_prepare, "parse the score files into data/prepared/<dataset>/labels.csv")
    command("split", cmd_split, "write seeded train/test splits (and val, if asked) to data/splits/<dataset>.json")
    command("augment", cmd_augment, "decode every image once, resized (or at its own size: augment.size), "
                                    "into data/cache/<dataset>/")
    command("tune", cmd_tune, "tune hyperparameters with Optuna inside the train part of one split")
    p = command("train", cmd_train, "train one variant on one split (or on every split in turn)")
    p.add_argument("--variant", required=True, choices=list(VARIANTS), metavar="VARIANT", help=variant_help())
    p.add_argument("--split", type=int, help="split index (default: every split)")
    p = command("evaluate", cmd_evaluate, "aggregate a variant's metrics over its splits")
    p.add_argument("--variant", required=True, choices=list(VARIANTS), metavar="VARIANT", help=variant_help())
    command("cross", cmd_cross, "score every other dataset with each dataset's models (cross.variants): "
                                "metrics/cross/", dataset=False)
    command("report", cmd_report, "write reports/report.md, figures and the metrics.json summary", dataset=False)
    command("code", cmd_code, "write each stage's code identity to runs/code/ (what DVC's stages depend on: an "
                              "edit of a comment or a docstring changes none)", dataset=False)

    p = command("predict", cmd_predict, "score images with a trained model.pt", dataset=False, params=False,
                description="Score images with a trained model.pt. Exit status: 0 when every input "
                            "was scored, 1 when some could not be (each is named: not an image, one "
                            "smaller than the crops, or not a regular file; when none could be, nothing "
                            "is written), 2 for bad arguments (a missing or damaged model.pt, a missing "
                            "path, a folder with no files, an --output that cannot be written).")
    p.add_argument("--checkpoint", required=True, type=Path, help="a model.pt written by `pmtiqa train`")
    p.add_argument("inputs", nargs="+", type=Path, metavar="IMAGE_OR_DIR",
                   help="image files, or folders whose files (subfolders' too) are scored")
    p.add_argument("--output", type=Path, help="CSV file to write (default: print to stdout)")
    p.add_argument("--batch-size", type=positive_int, default=16, help="images decoded and scored at a time")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    return parser


def run_command(args: argparse.Namespace) -> int:
    """The command's handler, given the params (for a dataset's command, that dataset's view of them,
    made here once) and the dataset's files."""
    params = load_params(args.params) if args.params is not None else None
    files = None
    if getattr(args, "dataset", None):
        if args.dataset not in params.known_datasets:
            raise UserError(f"--dataset {args.dataset}: unknown (known: {', '.join(params.known_datasets)}; "
                            f"custom_datasets in {params.source} declares more)")
        params = params.for_dataset(args.dataset)
        files = DatasetFiles(args.dataset)
    if getattr(args, "split", None) is not None and not 0 <= args.split < params.split.n_splits:
        raise UserError(f"--split {args.split}: must lie in 0..{params.split.n_splits - 1} "
                        f"(split.n_splits in {params.source})")
    return args.func(args, params, files)


def main(argv: list[str] | None = None) -> int:
    """Run a command: its expected failures are one line and status 2 (core.errors.exit_status)."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def say(message: str) -> None:
        print(f"pmtiqa {args.command}: {message}", file=sys.stderr)

    return exit_status(lambda: run_command(args), lambda message: say(f"error: {message}"),
                       lambda: say("interrupted"))
