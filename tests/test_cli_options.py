"""The command line's options: --version, -v on either side of the command name, and help text for
every option of every subcommand, --dataset's naming the known datasets."""
from __future__ import annotations

import argparse
from importlib import metadata

import pytest

from pmtiqa.cli import build_parser, main
from pmtiqa.data.datasets import MODULES
from pmtiqa.method.variants import VARIANTS


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


COMMANDS = sorted(subcommands())


def test_version_is_the_installed_packages(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"pmtiqa {metadata.version('pmtiqa')}"


@pytest.mark.parametrize("argv, verbose", [
    (["train", "--dataset", "bid", "--variant", "ms"], False),
    (["-v", "train", "--dataset", "bid", "--variant", "ms"], True),
    (["train", "-v", "--dataset", "bid", "--variant", "ms"], True),
    (["train", "--dataset", "bid", "--variant", "ms", "--verbose"], True),
    (["--verbose", "report"], True),
    (["report", "-v"], True),
    (["predict", "--checkpoint", "model.pt", "a.png", "-v"], True),
    (["predict", "--checkpoint", "model.pt", "a.png"], False),
])
def test_verbose_is_accepted_before_and_after_the_command(argv, verbose):
    assert build_parser().parse_args(argv).verbose is verbose


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_every_subcommand_has_help(command):
    parser = subcommands()[command]
    unexplained = [action.dest for action in parser._actions if not (action.help or "").strip()]
    assert unexplained == []


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_subcommand_prints(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0 and f"usage: pmtiqa {command}" in capsys.readouterr().out


@pytest.mark.parametrize("command", [c for c in COMMANDS if "--dataset" in subcommands()[c]._option_string_actions])
def test_dataset_help_names_every_known_dataset(command):
    help = subcommands()[command]._option_string_actions["--dataset"].help
    assert [name for name in MODULES if name not in help] == []
    assert "custom_datasets" in help


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_variant_help_names_every_variant(command):
    help = subcommands()[command]._option_string_actions["--variant"].help
    assert [name for name in VARIANTS if name not in help] == []
