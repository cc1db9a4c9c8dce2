"""The CUDA path: the same code on the device (skipped without one)."""
import pytest
import torch

from pmtiqa.crops import eval_crops, random_crops
from pmtiqa.runtime import resolve_runtime
from pmtiqa.train import train_split
from train_fixtures import tiny_data, tiny_settings

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def to_cuda(data):
    data.images, data.score, data.level = data.images.cuda(), data.score.cuda(), data.level.cuda()
    data.sizes = None if data.sizes is None else data.sizes.cuda()
    data.splits = [{k: v.cuda() for k, v in s.items()} for s in data.splits]
    return data


def test_crops_on_cuda_equal_crops_on_cpu():
    images = torch.randint(0, 256, (5, 50, 60, 3), dtype=torch.uint8)
    index = torch.tensor([4, 0, 2])
    assert torch.allclose(eval_crops(images, index, 32, 3), eval_crops(images.cuda(), index.cuda(), 32, 3).cpu())
    gen = torch.Generator("cuda").manual_seed(0)
    crops = random_crops(images.cuda(), index.cuda(), 32, gen)
    assert crops.shape == (3, 3, 32, 32) and crops.is_contiguous(memory_format=torch.channels_last)
    sizes = torch.tensor([[40, 50], [60, 33], [32, 32], [60, 50], [45, 45]])  # images kept at their own size
    assert torch.allclose(eval_crops(images, index, 32, 3, sizes),
                          eval_crops(images.cuda(), index.cuda(), 32, 3, sizes.cuda()).cpu())
    assert random_crops(images.cuda(), index.cuda(), 32, gen, sizes.cuda()).shape == (3, 3, 32, 32)


def test_training_on_cuda_in_bf16(tmp_path):
    settings, _ = tiny_settings()
    runtime = resolve_runtime("cuda", "auto", 0)
    assert runtime.precision == "bf16"
    metrics = train_split(settings, to_cuda(tiny_data()), runtime, tmp_path, progress=False)
    assert all(torch.isfinite(torch.tensor(m["srcc"])) for m in metrics.values())
    assert torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]["regress.weight"].device.type == "cpu"


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_training_on_cuda(tmp_path, mode):
    settings, _ = tiny_settings(compile=mode)
    runtime = resolve_runtime("cuda", "auto", 0, mode)
    metrics = train_split(settings, to_cuda(tiny_data()), runtime, tmp_path, progress=False)
    assert all(torch.isfinite(torch.tensor(m["srcc"])) for m in metrics.values())


def test_a_bf16_run_on_cuda_predicts_distinct_scores(tmp_path):
    """Native bf16 for the backbone, fp32 for the feature module and heads: the test predictions are
    (nearly) all distinct, not rounded to bf16's 8-bit mantissa."""
    import pandas as pd

    settings, _ = tiny_settings(epochs=1, crops_per_image=1, test_crops=1)
    data = tiny_data(n=120)
    ids = torch.arange(120)
    data.splits = [{"train": ids[:40], "val": ids[40:60], "test": ids[60:]}]
    runtime = resolve_runtime("cuda", "bf16", 0)
    train_split(settings, to_cuda(data), runtime, tmp_path, progress=False)
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert predictions["score"].nunique() / len(predictions) >= 0.95
