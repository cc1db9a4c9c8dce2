"""pmtiqa.load: the Python API scores as `pmtiqa predict` does, takes every kind of image, and gives a
differentiable quality for use as a loss."""
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import pmtiqa
from pmtiqa.cli import main
from pmtiqa.core.errors import UserError
from pmtiqa.scoring.api import Unscorable


@pytest.fixture
def images(tmp_path) -> list:
    """PNG files of several sizes (resized as in training) and one at the model's own 40x40."""
    rng = np.random.default_rng(3)
    paths = []
    for i, (w, h) in enumerate([(40, 40), (80, 60), (50, 33), (120, 90)]):
        paths.append(tmp_path / f"im{i}.png")
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def test_the_readme_example(model_pt, images):
    scorer = pmtiqa.load(model_pt)
    one = scorer(images[0])
    several = scorer.unit(images)
    assert one.shape == (1,) and one.dtype == torch.float64
    assert several.shape == (4,) and ((several >= 0) & (several <= 1)).all()
    assert torch.equal(scorer(images), several * 100)  # the tiny model's scale: 0..100, higher is better


@pytest.mark.parametrize("model", ["model_pt", "own_size_model_pt"])
def test_api_and_command_line_give_identical_numbers(model, images, tmp_path, request):
    checkpoint = request.getfixturevalue(model)
    table = tmp_path / "scores.csv"
    assert main(["predict", "--checkpoint", str(checkpoint), *map(str, images), "--output", str(table)]) == 0
    scores = pd.read_csv(table)
    scorer = pmtiqa.load(checkpoint)
    assert np.array_equal(scorer.unit(images).numpy(), scores["score"].to_numpy())
    assert np.array_equal(scorer(images).numpy(), scores["prediction"].to_numpy())


def test_every_kind_of_image_scores_alike(model_pt, images):
    scorer = pmtiqa.load(model_pt, device="cpu")
    by_file = scorer.unit(images[0])
    pil = Image.open(images[0])
    array = np.array(pil)
    tensor = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
    assert torch.equal(scorer.unit(pil), by_file) and torch.equal(scorer.unit(array), by_file)
    assert torch.allclose(scorer.unit(tensor), by_file, atol=1e-5)  # float crops: rounding apart
    assert torch.equal(scorer.unit(images), scorer.unit(images))  # deterministic
    assert torch.equal(scorer.unit([pil, images[1]]), scorer.unit(images[:2]))


def test_a_16_bit_image_scores_as_its_8_bit_rendering(model_pt, tmp_path):
    """A 16-bit grey PNG is the picture a viewer shows, not white: a file, and a Pillow image of it,
    score as the 8-bit rendering does, in the API and in `pmtiqa predict`."""
    ramp = np.linspace(0, 255, 60 * 80).reshape(60, 80).round().astype(np.uint16)
    Image.fromarray(ramp * 257).save(tmp_path / "deep.png")
    Image.fromarray(ramp.astype(np.uint8)).save(tmp_path / "shallow.png")
    scorer = pmtiqa.load(model_pt, device="cpu")
    shallow = scorer.unit(tmp_path / "shallow.png")
    assert torch.equal(scorer.unit(tmp_path / "deep.png"), shallow)
    assert torch.equal(scorer.unit(Image.open(tmp_path / "deep.png")), shallow)
    table = tmp_path / "scores.csv"
    assert main(["predict", "--checkpoint", str(model_pt), str(tmp_path / "deep.png"), "--output", str(table)]) == 0
    assert pd.read_csv(table)["score"].to_numpy()[0] == shallow.item()


def test_a_tensor_of_another_size_is_resized_as_the_training_images(model_pt):
    scorer = pmtiqa.load(model_pt)
    big = torch.rand(3, 3, 90, 120, generator=torch.Generator().manual_seed(0))
    assert scorer.resized(big).shape == (3, 3, 40, 40)
    assert scorer.unit(big).shape == (3,)


def test_as_loss_is_differentiable_and_leaves_the_model_alone(model_pt):
    scorer = pmtiqa.load(model_pt)
    quality = scorer.as_loss()
    x = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(1), requires_grad=True)
    q = quality(x)
    (1 - q).sum().backward()  # higher quality is better: its complement is a loss
    assert q.shape == (2,) and x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()
    assert all(p.grad is None and not p.requires_grad for p in scorer.model.parameters())
    assert torch.allclose(q.detach().double().clamp(0, 1), scorer.unit(x.detach()), atol=1e-6)  # unclipped


@pytest.mark.parametrize("bad, message", [
    (torch.rand(3, 40, 40), r"expected a float tensor \(N, 3, H, W\) in 0..1"),
    (torch.zeros(1, 3, 40, 40, dtype=torch.uint8), "expected a float tensor"),
    (np.zeros((40, 40), dtype=np.uint8), "expected an HxWx3 uint8 array"),
    (3.5, "cannot score a float"),
    (b"\x89PNG\r\n", r"cannot score 6 bytes: give the file's path, or decode them first"),
    ([bytearray(b"GIF89a")], r"cannot score 6 bytes"),
])
def test_what_cannot_be_an_image_is_named(model_pt, bad, message):
    with pytest.raises(UserError, match=message):
        pmtiqa.load(model_pt).unit(bad)


def test_an_image_smaller_than_the_crops_is_named(model_pt, tmp_path):
    small = tmp_path / "small.png"
    Image.new("RGB", (20, 50)).save(small)
    scorer = pmtiqa.load(model_pt)
    with pytest.raises(Unscorable, match=r"small.png: 20x50 is smaller than the model's 32x32 crops"):
        scorer(small)
    with pytest.raises(Unscorable, match=r"20x20 is smaller"):
        scorer.unit(torch.rand(1, 3, 20, 20))
    with pytest.raises(Unscorable, match=r"40x0 is smaller"):  # no pixels at all: the same words
        scorer.unit(torch.rand(2, 3, 0, 40))


def test_odd_but_fair_inputs(model_pt, own_size_model_pt):
    scorer = pmtiqa.load(model_pt, device=torch.device("cpu"), batch_size=2)
    x = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(scorer.unit(x.double()), scorer.unit(x), atol=1e-6)  # float64 in: float32 inside
    assert scorer.unit([]).shape == (0,) and scorer.unit(torch.rand(0, 3, 40, 40)).shape == (0,)  # no image, no score
    assert scorer.as_loss()(torch.rand(0, 3, 20, 20)).shape == (0,)
    rgba = Image.new("RGBA", (40, 40), (10, 200, 30, 128))
    assert scorer.unit([rgba, rgba.convert("L"), rgba.convert("RGB")]).shape == (3,)  # batches of 2
    long_strip = Image.new("RGB", (40, 400))  # kept at its own size by the own-size model: shrunk below the crop
    with pytest.raises(Unscorable, match=r"40x400, shrunk to \d+x\d+ to fit the training images, is smaller"):
        pmtiqa.load(own_size_model_pt).unit(long_strip)
    with pytest.raises(UserError, match="--batch-size '2': must be a whole number"):
        pmtiqa.load(model_pt, batch_size="2")


@pytest.mark.parametrize("values, message", [(float("nan"), "not numbers"), (7.0, "values from 7 to 7"),
                                             (-0.5, "values from -0.5 to -0.5")])
def test_a_tensor_off_0_1_is_refused(model_pt, values, message):
    with pytest.raises(UserError, match=f"expected a float tensor in 0..1, got .*{message}"):
        pmtiqa.load(model_pt).unit(torch.full((1, 3, 40, 40), values))


@pytest.mark.parametrize(("decode", "shape"), [("upright", (48, 40)), ("stored", (40, 48)), (None, (48, 40))])
def test_a_file_is_decoded_as_the_models_training_images_were(own_size_model_pt, tmp_path, decode, shape):
    """model.pt records augment's decoding (None: a model.pt from before it did, decoded upright): a
    photo whose EXIF says "turn it a quarter" is scored turned only where training turned its images."""
    from pmtiqa.compute.model_file import read_model
    from pmtiqa.scoring.api import prepared

    photo = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to view
    Image.new("RGB", (48, 40), (120, 60, 30)).save(photo, exif=exif)  # stored 48 wide, 40 high
    saved = read_model(own_size_model_pt)
    if decode is None:  # as read from a model.pt that does not say
        older = tmp_path / "older.pt"
        torch.save({k: v for k, v in saved.items() if k != "decode"}, older)
        saved = read_model(older)
    else:
        saved = {**saved, "decode": decode}
    pixels, _ = prepared(photo, {**saved, "max_image_size": [64, 64]})
    assert pixels.shape[:2] == shape  # (height, width)


def test_a_model_file_with_an_unknown_decoding_is_named(own_size_model_pt, tmp_path):
    from pmtiqa.compute.model_file import check_model, read_model

    saved = {**read_model(own_size_model_pt), "decode": "sideways"}
    with pytest.raises(UserError, match="decode is 'sideways', not one of upright, stored"):
        check_model(tmp_path / "model.pt", saved)
    assert read_model(own_size_model_pt)["decode"] == "upright"  # the training cache's, recorded
