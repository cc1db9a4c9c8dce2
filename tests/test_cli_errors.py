"""The command line's error boundary: an expected failure (bad input, a file that cannot be read or
written) is one line naming the file and status 2, whatever the command; a bug keeps its traceback."""
import os

import pytest

from pmtiqa import cli
from pmtiqa.cli import main
from tests.builders import ROOT

PARAMS = ROOT / "params.yaml"  # the project's own: valid


def only_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def not_utf8(path):
    path.write_bytes(PARAMS.read_bytes() + b"# caf\xe9\n")
    return "not UTF-8 text"


def a_folder(path):
    path.mkdir()
    return "is a folder"


def unreadable(path):
    path.write_text("seed: 1\n")
    path.chmod(0)
    return "Permission denied"


def not_yaml(path):
    path.write_text("a: [1, 2\nb: 3\n")  # YAML's message runs over several lines
    return "not valid YAML"


def missing(path):
    return "params file not found"


@pytest.mark.parametrize("make", [
    not_utf8, a_folder, not_yaml, missing,
    pytest.param(unreadable, marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")),
])
@pytest.mark.parametrize("command", [["report"], ["split", "--dataset", "livec"]])
def test_a_params_file_that_cannot_be_read_is_one_line_naming_it(tmp_path, make, command, capsys):
    params = tmp_path / "params.yaml"
    why = make(params)
    assert main([*command, "--params", str(params)]) == 2
    line = only_line(capsys.readouterr().err)
    assert line.startswith(f"pmtiqa {command[0]}: error: {params}: ") and why in line


def raises(err: BaseException):
    def command(args, params, files):
        raise err
    return command


@pytest.mark.parametrize("err, line", [
    (PermissionError(13, "Permission denied", "/data/x.csv"), "pmtiqa report: error: /data/x.csv: Permission denied"),
    (IsADirectoryError(21, "Is a directory", "out.csv"), "pmtiqa report: error: out.csv: Is a directory"),
    (OSError(18, "Invalid cross-device link", "a", None, "b"), "pmtiqa report: error: a -> b: Invalid cross-device link"),
])
def test_an_os_error_on_a_named_file_is_one_line_in_any_command(tmp_path, monkeypatch, err, line, capsys):
    params = tmp_path / "params.yaml"
    params.write_bytes(PARAMS.read_bytes())
    monkeypatch.setattr(cli, "cmd_report", raises(err))
    assert main(["report", "--params", str(params)]) == 2
    assert only_line(capsys.readouterr().err) == line


@pytest.mark.parametrize("bug", [ValueError("a bug"), OSError("no file named"), KeyError("k")])
def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch, bug):
    params = tmp_path / "params.yaml"
    params.write_bytes(PARAMS.read_bytes())
    monkeypatch.setattr(cli, "cmd_report", raises(bug))
    with pytest.raises(type(bug)):
        main(["report", "--params", str(params)])


@pytest.mark.parametrize("old, new, key", [
    ("  levels: equal\n", "  levels: floor\n", "loss.levels"),
    ("  livec: {split: {}, augment: {}, model: {}, loss: {}",
     "  livec: {split: {}, augment: {}, model: {}, loss: {levels: round}", "overrides.livec.loss.levels"),
    ("  decode: protocol\n", "  decode: exif\n", "augment.decode"),
    ("  precision: auto\n", "  precision: fp16\n", "runtime.precision"),
])
def test_a_bad_value_is_one_line_naming_its_key(tmp_path, old, new, key, capsys):
    params = tmp_path / "params.yaml"
    text = PARAMS.read_text()
    assert old in text
    params.write_text(text.replace(old, new, 1))
    assert main(["report", "--params", str(params)]) == 2
    line = only_line(capsys.readouterr().err)
    assert line.startswith(f"pmtiqa report: error: {params}: {key}: ")
