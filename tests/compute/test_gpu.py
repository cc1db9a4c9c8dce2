"""The CUDA path: the same code on the device (skipped without one). The quick tests come first,
the compiling ones last: bench/on_gpu.sh gives them all a time limit."""
import numpy as np
import pytest
import torch

from pmtiqa.compute.crop_means import CropMeans
from pmtiqa.compute.crops import eval_crops, random_crops
from pmtiqa.compute.runtime import resolve_runtime
from pmtiqa.method.model import build_model
from pmtiqa.training.split_run import train_split
from pmtiqa.training.trainer import Trainer
from tests.builders.training import tiny_data, tiny_settings

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def to_cuda(data, device: str = "cuda"):
    data.images, data.score, data.level = (t.to(device) for t in (data.images, data.score, data.level))
    data.sizes = None if data.sizes is None else data.sizes.to(device)
    data.splits = [{k: v.to(device) for k, v in s.items()} for s in data.splits]
    return data


def eager_and_graphed(device: str, graphed_step: str) -> dict:
    """The same 4 epochs on ``device``, eager and under ``graphed_step``, each epoch's test part scored
    after it (warm-up, capture, replays): {step: (trainer, losses, scores)}. The learning rate steps
    every epoch, and each epoch ends on a partial batch (a second shape, captured in epoch 4): a rate
    or a shape frozen at capture would show. fp32 at lr 1e-4 keeps the two runs' rounding (cuDNN's
    choices may differ) from growing into a difference."""
    settings, _ = tiny_settings(epochs=4, lr=1e-4, lr_step=1)
    runs = {}
    for step in ("eager", graphed_step):
        runtime = resolve_runtime(device, "fp32", 0, "none", step)
        data = to_cuda(tiny_data(n=100), device)  # 6 batches of 8 and one of 2 an epoch
        trainer = Trainer(settings, data, runtime)
        rows, scores = [], []
        for _ in range(4):
            rows.append(trainer.train_epoch(data.splits[0]["train"], progress=False))
            scores.append(trainer.predict(data.splits[0]["test"]))
        runs[step] = (trainer, [r["loss"] for r in rows], scores)
    return runs


def assert_graphs_follow_eager(runs: dict, graphed_step: str) -> None:
    graphed, losses, scores = runs[graphed_step]
    assert graphed.runtime.graphs and graphed.step.captured == 2 and graphed.scorer.score_batch.captured == 1
    np.testing.assert_allclose(losses, runs["eager"][1], rtol=2e-3)
    for epoch, (got, expected) in enumerate(zip(scores, runs["eager"][2])):
        np.testing.assert_allclose(got, expected, rtol=1e-2, atol=1e-3, err_msg=f"after epoch {epoch + 1}")


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


@pytest.mark.parametrize("step", ["eager", "auto"])  # auto: CUDA graphs, a real run's default
def test_training_on_cuda_in_bf16(tmp_path, step):
    settings, _ = tiny_settings()
    runtime = resolve_runtime("cuda", "auto", 0, "none", step)
    assert runtime.precision == "bf16" and runtime.graphs == (step == "auto")
    metrics = train_split(settings, to_cuda(tiny_data()), runtime, tmp_path, progress=False)
    assert all(torch.isfinite(torch.tensor(m["srcc"])) for m in metrics.values())
    assert torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]["regress.weight"].device.type == "cpu"


def test_cuda_graphs_are_the_default_and_train_as_eager_does():
    """Captured steps and test batches replay; the losses and scores follow the eager ones."""
    assert resolve_runtime("cuda", "fp32", 0).graphs is False  # resolve_runtime's own default: eager
    assert_graphs_follow_eager(eager_and_graphed("cuda", "auto"), "auto")


def test_graphed_test_batches_on_cuda_score_as_eager_ones(monkeypatch):
    """Each call other images (in two batches, the last padded) and other weights: a replay that
    scored stale inputs or ran nothing would show."""
    from pmtiqa.compute import crop_means

    monkeypatch.setattr(crop_means, "GRAPH_BATCH_CROPS", 60)  # 20 images of 3 crops at most a batch
    data = to_cuda(tiny_data(n=40))
    model = build_model("ms_pmt", "resnet18", "none").cuda().eval()
    runtime = resolve_runtime("cuda", "fp32", 0, "none", "graph")  # fp32: batch sizes differ from eager's
    graphed = CropMeans(model, data.images, 32, 3, runtime, 1.0, graphed=True)
    eager = CropMeans(model, data.images, 32, 3, runtime, 1.0)
    generator = torch.Generator().manual_seed(0)
    for _ in range(6):  # warm-up, capture, replays
        ids = torch.randperm(40, generator=generator)[:37].cuda()  # 37 images: two batches of 19, one padded
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(1.01)
        np.testing.assert_allclose(graphed(ids), eager(ids), rtol=1e-2, atol=1e-3)
    assert graphed.score_batch.captured == 1 and graphed.images_per_batch(37) == 19


def test_a_graphed_run_on_another_cuda_device_captures_its_kernels():
    """cuda:N is made the current device, where graphs are captured: a graph recorded on another
    device's stream would hold nothing, and its losses and scores would leave the eager run's."""
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices")
    assert_graphs_follow_eager(eager_and_graphed("cuda:1", "graph"), "graph")


def test_splits_train_at_once_on_one_gpu(tmp_path, monkeypatch):
    import yaml

    from pmtiqa.cli import main
    from tests.builders.lab import lab_project

    root = lab_project(tmp_path, monkeypatch, runtime={"device": "cuda", "parallel_splits": 2, "precision": "auto"})
    for stage in ("download", "prepare", "split", "augment"):
        assert main([stage, "--dataset", "mylab"]) == 0, stage
    assert main(["train", "--dataset", "mylab", "--variant", "ms_pmt"]) == 0
    for k in range(2):
        run = yaml.safe_load((root / f"runs/train/mylab/ms_pmt/split{k}/run.json").read_text())
        assert run["ran_on"]["device"] == "cuda" and run["ran_on"]["step"] == "graph"


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_training_on_cuda(tmp_path, mode):
    settings, _ = tiny_settings()  # the CUDA runtime below compiles; tiny_settings' own is a CPU one
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
