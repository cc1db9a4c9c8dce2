import io
import os
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pmtiqa.cli import main


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for i, size in enumerate([(40, 40), (80, 60), (33, 50)]):  # any size: resized as in training
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(tmp_path / f"im{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_predict_scores_images_and_names_the_text_file(model_pt, folder, capsys):
    out = folder / "scores.csv"
    status = main(["predict", "--checkpoint", str(model_pt), str(folder), "--output", str(out)])
    assert status == 1  # some inputs could not be scored
    assert "notes.txt: not a readable image" in capsys.readouterr().err
    table = pd.read_csv(out)
    assert [p.rsplit("/", 1)[-1] for p in table["image"]] == ["im0.png", "im1.png", "im2.png"]
    assert table["score"].between(0, 1).all()
    assert np.allclose(table["prediction"], table["score"] * 100)  # bounds (0, 100), higher better


def test_predict_all_good_exits_zero_and_is_deterministic(model_pt, folder, capsys):
    images = [str(folder / f"im{i}.png") for i in range(3)]
    assert main(["predict", "--checkpoint", str(model_pt), *images]) == 0
    first = capsys.readouterr().out
    assert main(["predict", "--checkpoint", str(model_pt), *images]) == 0
    assert capsys.readouterr().out == first
    assert len(first.strip().splitlines()) == 4  # header + 3 images


def test_predict_bad_arguments_exit_two(model_pt, tmp_path, capsys):
    assert main(["predict", "--checkpoint", str(tmp_path / "missing.pt"), str(tmp_path)]) == 2
    assert "missing.pt" in capsys.readouterr().err
    assert main(["predict", "--checkpoint", str(model_pt), str(tmp_path / "nothing")]) == 2
    assert "nothing: no such file or folder" in capsys.readouterr().err


def test_a_native_size_model_scores_each_image_at_its_own_size(own_size_model_pt, folder, capsys):
    """Not resized: crops come from inside each image, and one smaller than the crops is named."""
    saved = torch.load(own_size_model_pt, weights_only=True)
    assert saved["image_size"] is None
    Image.new("RGB", (20, 40)).save(folder / "narrow.png")
    out = folder / "scores.csv"
    assert main(["predict", "--checkpoint", str(own_size_model_pt), str(folder), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "narrow.png: 20x40 is smaller than the model's 32x32 crops" in err and "notes.txt" in err
    scored = pd.read_csv(out)
    assert [p.rsplit("/", 1)[-1] for p in scored["image"]] == ["im0.png", "im1.png", "im2.png"]
    # an image scores the same alone as beside larger ones (its crops do not depend on the batch)
    alone = folder / "alone.csv"
    main(["predict", "--checkpoint", str(own_size_model_pt), str(folder / "im2.png"), "--output", str(alone)])
    assert pd.read_csv(alone)["score"][0] == pytest.approx(scored["score"][2], abs=1e-5)


def test_a_native_size_model_shrinks_an_image_larger_than_its_training_images(own_size_model_pt, tmp_path, capsys):
    """Larger than every training image (48x48 here): shrunk to fit, aspect kept, as a resize would."""
    rng = np.random.default_rng(3)
    big = Image.fromarray(rng.integers(0, 255, (120, 96, 3), dtype=np.uint8))  # 96x120
    big.save(tmp_path / "big.png")
    big.resize((38, 48), Image.Resampling.BILINEAR).save(tmp_path / "fitted.png")
    assert main(["predict", "--checkpoint", str(own_size_model_pt), str(tmp_path / "big.png"),
                 str(tmp_path / "fitted.png")]) == 0
    scores = pd.read_csv(io.StringIO(capsys.readouterr().out))["score"]
    assert scores[0] == pytest.approx(scores[1], abs=1e-6)


def test_a_score_off_the_scale_is_clipped_with_a_warning_naming_the_model(model_pt, folder, tmp_path, caplog):
    """A head whose output lies past the top of the scale: scores 1.0 (and the scale's top), said so."""
    saved = torch.load(model_pt, weights_only=True)
    saved["state_dict"]["regress.weight"].zero_()
    saved["state_dict"]["regress.bias"].fill_(1.5 * saved["target_scale"])
    off = tmp_path / "off.pt"
    torch.save(saved, off)
    out = tmp_path / "scores.csv"
    with caplog.at_level("WARNING"):
        assert main(["predict", "--checkpoint", str(off), str(folder / "im0.png"), "--output", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table["score"]) == [1.0] and list(table["prediction"]) == [100.0]
    assert f"{off}: 1 of 1 scores lay outside 0..1 (1.500 to 1.500) and were clipped" in caplog.text


def test_a_model_of_an_older_pmtiqa_is_named_with_what_to_do(model_pt, folder, tmp_path, capsys):
    """Before the MS taps lost their bias (as the authors'), model.pt held one per tap."""
    saved = torch.load(model_pt, weights_only=True)
    saved["state_dict"]["features.reduce.0.bias"] = torch.zeros(16)
    old = tmp_path / "old.pt"
    torch.save(saved, old)
    assert main(["predict", "--checkpoint", str(old), str(folder / "im0.png")]) == 2
    assert f"{old}: written by an older pmtiqa, whose MS taps had a bias" in capsys.readouterr().err


def test_scores_that_are_not_numbers_are_said(caplog):
    from pmtiqa.method.score_scales import clip_unit

    with caplog.at_level("WARNING"):
        assert np.isnan(clip_unit(np.array([0.5, np.nan]), "m.pt")[1])
    assert "m.pt: 1 of 2 scores are not numbers" in caplog.text


# -- hostile input: each bad argument is one line naming it; nothing written is lost -------------

def predict(model_pt, *args):
    return main(["predict", "--checkpoint", str(model_pt), *map(str, args)])


def only_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("size", ["-1", "0", "two"])
def test_a_batch_size_that_is_not_positive_is_refused_naming_the_option(model_pt, folder, size, capsys):
    with pytest.raises(SystemExit) as stop:
        predict(model_pt, folder, "--batch-size", size)
    assert stop.value.code == 2
    assert "pmtiqa predict: error: argument --batch-size: " in capsys.readouterr().err


def empty_folder(tmp_path):
    (tmp_path / "in").mkdir()
    return tmp_path / "in"


def only_hidden_and_folders(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / ".DS_Store").write_text("x")
    (tmp_path / "in" / ".git").mkdir()
    Image.new("RGB", (40, 40)).save(tmp_path / "in" / ".git" / "hidden.png")
    return tmp_path / "in"


@pytest.mark.parametrize("make", [empty_folder, only_hidden_and_folders])
def test_a_folder_with_no_files_is_a_bad_argument(model_pt, tmp_path, make, capsys):
    folder = make(tmp_path)
    out = tmp_path / "scores.csv"
    assert predict(model_pt, folder, "--output", out) == 2
    assert only_line(capsys.readouterr().err) == f"pmtiqa predict: error: {folder}: a folder with no files to score"
    assert not out.exists()


def test_when_nothing_could_be_scored_nothing_is_written_and_an_earlier_table_is_kept(model_pt, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    out = tmp_path / "scores.csv"
    out.write_text("image,prediction,score\nearlier.png,50,0.5\n")
    assert predict(model_pt, tmp_path / "in", "--output", out) == 1
    err = capsys.readouterr().err
    assert "notes.txt: not a readable image" in err and "none of the 1 inputs could be scored; nothing written" in err
    assert "earlier.png" in out.read_text()


@pytest.mark.parametrize("width, height", [(1, 1), (31, 200), (200, 31)])
def test_an_image_smaller_than_the_crops_is_skipped_not_upscaled(model_pt, folder, width, height, capsys):
    """The model resizes to 40x40 and crops 32x32: the image's own size decides, before any resize."""
    small = folder / "small.png"
    Image.new("RGB", (width, height), (90, 120, 30)).save(small)
    assert predict(model_pt, small, folder / "im0.png") == 1
    captured = capsys.readouterr()
    assert f"skipped {small}: {width}x{height} is smaller than the model's 32x32 crops" in captured.err
    assert [p.rsplit("/", 1)[-1] for p in pd.read_csv(io.StringIO(captured.out))["image"]] == ["im0.png"]


def output_folder(tmp_path):
    (tmp_path / "out").mkdir()
    return tmp_path / "out", "a folder; name a CSV file"


def output_under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" / "scores.csv", "is a file, not a folder"


def output_in_a_read_only_folder(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    return tmp_path / "ro" / "scores.csv", "is not writable"


def output_an_input_image(tmp_path):
    return tmp_path / "in" / "im0.png", "an image; writing scores there would destroy it"


def output_another_image(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.jpg")
    return tmp_path / "photo.jpg", "an image; writing scores there would destroy it"


def output_the_model(tmp_path):
    return tmp_path / "model.pt", "the model file; writing scores there would destroy it"


def output_another_model(tmp_path):
    shutil.copy(tmp_path / "model.pt", tmp_path / "other.pt")
    return tmp_path / "other.pt", "a file that is not an earlier table of scores"


def output_the_params(tmp_path):
    (tmp_path / "params.yaml").write_text("datasets: [livec]\n")
    return tmp_path / "params.yaml", "a file that is not an earlier table of scores"


@pytest.mark.parametrize("make", [
    output_folder, output_under_a_file, output_an_input_image, output_another_image, output_the_model,
    output_another_model, output_the_params,
    pytest.param(output_in_a_read_only_folder, marks=pytest.mark.skipif(
        os.geteuid() == 0, reason="root writes into a read-only folder")),
])
def test_an_output_that_cannot_be_written_is_refused_before_scoring(model_pt, tmp_path, make, capsys):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 40)).save(tmp_path / "in" / "im0.png")
    shutil.copy(model_pt, tmp_path / "model.pt")
    output, why = make(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert predict(tmp_path / "model.pt", tmp_path / "in", "--output", output) == 2
    line = only_line(capsys.readouterr().err)
    assert line.startswith(f"pmtiqa predict: error: --output {output}: ") and why in line
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_table_of_an_earlier_run_in_the_scored_folder_is_replaced_not_scored(model_pt, folder, capsys):
    out = folder / "scores.csv"
    out.write_text("image,prediction,score\n")
    (folder / "notes.txt").unlink()
    assert predict(model_pt, folder, "--output", out) == 0
    assert len(pd.read_csv(out)) == 3


@pytest.mark.parametrize("device, why", [
    ("tpu", "--device 'tpu': not a device (auto, cpu, cuda or cuda:N)"),
    ("cuda:x", "--device 'cuda:x': not a device"),
    pytest.param("cuda", "--device 'cuda': this torch sees no CUDA device", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="CUDA is present")),
    pytest.param("cuda:99", "--device 'cuda:99': torch sees", marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA: refused as 'cuda' is")),
])
def test_a_device_that_is_not_here_is_named_as_the_option(model_pt, folder, device, why, capsys):
    assert predict(model_pt, folder, "--device", device) == 2
    line = only_line(capsys.readouterr().err)
    assert why in line and "runtime.device" not in line


# -- model.pt files that are not one ---------------------------------------------------------------

class RunsAShellCommand:
    marker = None

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def crafted_pickle(tmp_path, model_pt):
    RunsAShellCommand.marker = tmp_path / "ran"
    torch.save({"state_dict": RunsAShellCommand()}, tmp_path / "model.pt")
    return "damaged, or holds objects other than tensors and plain values (refused unread"


def raw_pickle(tmp_path, model_pt):
    RunsAShellCommand.marker = tmp_path / "ran"
    (tmp_path / "model.pt").write_bytes(pickle.dumps(RunsAShellCommand()))
    return "damaged, or holds objects other than tensors and plain values (refused unread"


def a_list(tmp_path, model_pt):
    torch.save([1, 2, 3], tmp_path / "model.pt")
    return "holds a list, not a model.pt written by `pmtiqa train`"


def without(key):
    def make(tmp_path, model_pt):
        saved = torch.load(model_pt, weights_only=True)
        del saved[key]
        torch.save(saved, tmp_path / "model.pt")
        return f"lacks {key}; not a model.pt written by `pmtiqa train`"
    make.__name__ = f"without_{key}"
    return make


def changed(key, value, why):
    def make(tmp_path, model_pt):
        saved = torch.load(model_pt, weights_only=True)
        saved[key] = value
        torch.save(saved, tmp_path / "model.pt")
        return why
    make.__name__ = f"{key}_{value}"
    return make


def truncated(tmp_path, model_pt):
    data = model_pt.read_bytes()
    (tmp_path / "model.pt").write_bytes(data[:len(data) // 2])
    return "not a model.pt written by `pmtiqa train`: truncated or damaged"


def empty(tmp_path, model_pt):
    (tmp_path / "model.pt").write_bytes(b"")
    return "an empty file, not a model.pt written by `pmtiqa train`"


def text(tmp_path, model_pt):
    (tmp_path / "model.pt").write_text("hello")
    return "not a model.pt written by `pmtiqa train`"


def other_weights(tmp_path, model_pt):
    saved = torch.load(model_pt, weights_only=True)
    saved["state_dict"]["regress.weight"] = torch.zeros(3, 3)
    torch.save(saved, tmp_path / "model.pt")
    return "its weights do not fit a ms_pmt network on cnn4 (size mismatch for regress.weight"


def nan_weights(tmp_path, model_pt):
    saved = torch.load(model_pt, weights_only=True)
    saved["state_dict"]["regress.weight"][0, 0] = float("nan")
    torch.save(saved, tmp_path / "model.pt")
    return "weight regress.weight holds NaN or infinite values; train this split again"


@pytest.mark.parametrize("make", [
    crafted_pickle, raw_pickle, a_list, without("crop_size"), without("variant"), truncated, empty, text,
    other_weights, nan_weights,
    changed("variant", "vit", "variant 'vit' is unknown (known: "),
    changed("backbone", "resnet1000", "backbone 'resnet1000' is unknown"),
    changed("crop_size", 0, "crop_size is 0, not a positive whole number"),
    changed("image_size", [40], "image_size is [40], not a (width, height) in pixels"),
    changed("state_dict", [1], "state_dict is a list, not a dict of weights"),
    changed("target_scale", 0.0, "target_scale is 0.0, not a positive number"),
    changed("target_scale", -5.0, "target_scale is -5.0, not a positive number"),
    changed("target_scale", float("nan"), "target_scale is nan, not a positive number"),
    changed("target_scale", "100", "target_scale is '100', not a positive number"),
])
def test_a_model_file_that_is_not_a_model_pt_is_one_line_naming_it(model_pt, folder, tmp_path, make, capsys):
    why = make(tmp_path, model_pt)
    assert predict(tmp_path / "model.pt", folder / "im0.png") == 2
    line = only_line(capsys.readouterr().err)
    assert line.startswith(f"pmtiqa predict: error: {tmp_path / 'model.pt'}: ") and why in line
    assert "weights_only" not in line
    assert not (tmp_path / "ran").exists()  # the crafted pickle ran no code


# -- entries that are not regular files -------------------------------------------------------------

def dangling_symlink(folder):
    (folder / "gone.png").symlink_to(folder / "nowhere.png")
    return folder / "gone.png", "a broken symbolic link"


def fifo(folder):
    os.mkfifo(folder / "pipe.png")
    return folder / "pipe.png", "a FIFO, not a regular file"


def symlink_to_fifo(folder):
    os.mkfifo(folder / ".pipe")
    (folder / "link.png").symlink_to(folder / ".pipe")
    return folder / "link.png", "a FIFO, not a regular file"


@pytest.mark.timeout(60)  # opening a FIFO would wait for a writer forever
@pytest.mark.parametrize("make", [dangling_symlink, fifo, symlink_to_fifo])
@pytest.mark.parametrize("given", ["folder", "file"])
def test_an_entry_that_is_not_a_regular_file_is_named_and_skipped(model_pt, folder, make, given, capsys):
    (folder / "notes.txt").unlink()
    entry, why = make(folder)
    inputs = [folder] if given == "folder" else [entry, *sorted(folder.glob("im*.png"))]
    assert predict(model_pt, *inputs) == 1
    captured = capsys.readouterr()
    assert f"pmtiqa predict: skipped {entry}: {why}" in captured.err
    assert len(pd.read_csv(io.StringIO(captured.out))) == 3
