"""Each stage's code identity: the modules that decide its outputs, read from the source, each by a
digest that an edit of a comment, a docstring or the layout leaves alone."""
import ast
import dataclasses

import pytest

from pmtiqa import stages
from pmtiqa.config.load import params_from_dict
from pmtiqa.core.source_digest import syntax_digest
from tests.builders import ROOT

MODULE = '''"""A module."""
import math


def scale(x, factor=2.0):
    """Scaled."""
    return math.floor(x * factor)  # rounded down
'''


@pytest.mark.parametrize("edit, same", [
    (lambda text: text.replace("# rounded down", "# floor, as the authors"), True),
    (lambda text: text.replace('"""Scaled."""', '"""Scaled by a factor, which a caller may choose."""'), True),
    (lambda text: text.replace('"""A module."""', '"""A module,\n\nwith more to say."""'), True),
    (lambda text: text.replace("def scale(x, factor=2.0):", "def scale(x,\n          factor=2.0):"), True),
    (lambda text: text.replace("\n\n\ndef", "\n\n\n\n# spaced out\ndef"), True),
    (lambda text: text.replace("factor=2.0", "factor=3.0"), False),
    (lambda text: text.replace("math.floor", "math.ceil"), False),
    (lambda text: text.replace('    """Scaled."""\n', ""), True),
], ids=["comment", "docstring", "module-docstring", "line-break", "blank-lines", "constant", "call",
        "docstring-removed"])
def test_only_an_edit_of_the_computation_moves_a_module_s_digest(tmp_path, edit, same):
    original, edited = tmp_path / "original.py", tmp_path / "edited.py"
    original.write_text(MODULE)
    edited.write_text(edit(MODULE))
    assert edited.read_text() != MODULE
    assert (syntax_digest(edited) == syntax_digest(original)) is same


def params(**custom):
    return params_from_dict({"datasets": ["livec", *custom], "variants": ["ms_pmt"], "custom_datasets": custom})


MYLAB = {"images": "/lab/images", "labels": "/lab/scores.csv", "range": [1, 5]}


def test_a_dataset_s_declaration_changes_its_own_stages_identities_alone():
    before = params(mylab=MYLAB)
    after = params(mylab={**MYLAB, "range": [0, 10]})
    for stage in ("download", "prepare", "split", "augment", "tune", "train", "evaluate"):
        assert stages.code_identity(stage, before.for_dataset("mylab")) != \
            stages.code_identity(stage, after.for_dataset("mylab")), stage
        assert stages.code_identity(stage, before.for_dataset("livec")) == \
            stages.code_identity(stage, after.for_dataset("livec")), stage


def test_a_stage_runs_its_own_dataset_s_module_and_no_other_s():
    for stage in ("download", "prepare", "augment", "train"):
        bid = stages.code_modules(stage, "bid")
        assert "pmtiqa.data.datasets.bid" in bid and "pmtiqa.data.datasets.live" not in bid, stage
        assert "pmtiqa.data.datasets.custom" in stages.code_modules(stage, "mylab"), stage
    assert {"pmtiqa.data.datasets.bid", "pmtiqa.data.datasets.live"} <= set(stages.code_modules("cross"))


def test_no_stage_counts_the_floors_that_decide_no_output_of_their_own():
    for stage in stages.STAGES:
        assert not [m for m in stages.code_modules(stage, "bid") if m.startswith(("pmtiqa.core", "pmtiqa.config"))]
    assert "pmtiqa.reporting.tables" in stages.code_modules("report")
    assert "pmtiqa.reporting.tables" not in stages.code_modules("train", "bid")
    assert "pmtiqa.method.losses" in stages.code_modules("train", "bid")


def handler_imports(command: str) -> set[str]:
    """The package's modules that `pmtiqa <command>`'s handler in cli.py imports."""
    tree = ast.parse((ROOT / "pmtiqa" / "cli.py").read_text())
    handler = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == f"cmd_{command}")
    return {node.module for node in ast.walk(handler) if isinstance(node, ast.ImportFrom)}


@pytest.mark.parametrize("stage", list(stages.STAGES))
def test_what_a_stage_s_command_runs_is_part_of_its_code(stage):
    """A module the command's handler hands work to is in the stage's code: otherwise an edit of it
    would rerun nothing."""
    imported = handler_imports(stage)
    assert stages.STAGES[stage] in imported
    counted = set(stages.code_modules(stage, "bid"))
    assert not {m for m in imported if not m.startswith(("pmtiqa.core", "pmtiqa.config")) and m not in counted}


def test_the_identity_of_download_names_its_source():
    p = dataclasses.replace(params(), download=dataclasses.replace(params().download,
                                                                   sources={"livec": "/tmp/archive.zip"}))
    assert stages.code_identity("download", p.for_dataset("livec"))["source"] == "/tmp/archive.zip"
    assert "source" not in stages.code_identity("prepare", p.for_dataset("livec"))
