import io

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pmtiqa.cli import main
from pmtiqa.train import train_split
from train_fixtures import tiny_data, tiny_native_data, tiny_settings


def trained(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("run")
    settings, runtime = tiny_settings(epochs=1)
    train_split(settings, data, runtime, out, progress=False)
    return out / "model.pt"


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory):
    return trained(tmp_path_factory, tiny_data())


@pytest.fixture(scope="module")
def native_model_pt(tmp_path_factory):
    """A model of a dataset whose images kept their own sizes (augment.native)."""
    return trained(tmp_path_factory, tiny_native_data())


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


def test_a_native_size_model_scores_each_image_at_its_own_size(native_model_pt, folder, capsys):
    """Not resized: crops come from inside each image, and one smaller than the crops is named."""
    saved = torch.load(native_model_pt, weights_only=True)
    assert saved["image_size"] is None
    Image.new("RGB", (20, 40)).save(folder / "narrow.png")
    out = folder / "scores.csv"
    assert main(["predict", "--checkpoint", str(native_model_pt), str(folder), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "narrow.png: 20x40 is smaller than the model's 32x32 crops" in err and "notes.txt" in err
    scored = pd.read_csv(out)
    assert [p.rsplit("/", 1)[-1] for p in scored["image"]] == ["im0.png", "im1.png", "im2.png"]
    # an image scores the same alone as beside larger ones (its crops do not depend on the batch)
    alone = folder / "alone.csv"
    main(["predict", "--checkpoint", str(native_model_pt), str(folder / "im2.png"), "--output", str(alone)])
    assert pd.read_csv(alone)["score"][0] == pytest.approx(scored["score"][2], abs=1e-5)


def test_a_native_size_model_shrinks_an_image_larger_than_its_training_images(native_model_pt, tmp_path, capsys):
    """Larger than every training image (48x48 here): shrunk to fit, aspect kept, as a resize would."""
    rng = np.random.default_rng(3)
    big = Image.fromarray(rng.integers(0, 255, (120, 96, 3), dtype=np.uint8))  # 96x120
    big.save(tmp_path / "big.png")
    big.resize((38, 48), Image.Resampling.BILINEAR).save(tmp_path / "fitted.png")
    assert main(["predict", "--checkpoint", str(native_model_pt), str(tmp_path / "big.png"),
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
    from pmtiqa.scores import clip_unit

    with caplog.at_level("WARNING"):
        assert np.isnan(clip_unit(np.array([0.5, np.nan]), "m.pt")[1])
    assert "m.pt: 1 of 2 scores are not numbers" in caplog.text
