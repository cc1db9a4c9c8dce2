"""The graph path on the CPU: the buffers, in-place state and padded test batches that a CUDA graph
replays, run eagerly, give what the plain eager path gives. (tests/compute/test_gpu.py captures them.)"""
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from pmtiqa.compute.crop_means import CropMeans
from pmtiqa.compute.cuda_graphs import StaticCall
from pmtiqa.compute.runtime import Runtime, resolve_runtime, uses_graphs
from pmtiqa.core.errors import UserError
from pmtiqa.method.model import build_model
from pmtiqa.training.split_run import train_split
from pmtiqa.training.trainer import Trainer
from tests.builders.host_traffic import HostTraffic, refuse
from tests.builders.training import tiny_data, tiny_own_size_data, tiny_settings

EAGER = Runtime(torch.device("cpu"), "fp32")
STATIC = dataclasses.replace(EAGER, graphs=True)  # the graph path's buffers and state, without capture


def test_a_static_call_keeps_one_set_of_buffers_per_shape():
    seen = []

    def double(x):
        seen.append(x)
        return x * 2

    call = StaticCall(double, capture=False)
    a, b = torch.arange(3.0), torch.arange(4.0)
    assert call(a).tolist() == [0, 2, 4] and call(a + 1).tolist() == [2, 4, 6] and call(b).tolist() == [0, 2, 4, 6]
    assert seen[0] is seen[1] and seen[0] is not seen[2]  # the same buffer for the same shape
    assert seen[0] is not a and a.tolist() == [0, 1, 2]  # the caller's tensor is copied, not used
    assert call.captured == 0


@pytest.mark.parametrize("train", [
    {},
    {"reset_optimizer": True},  # Adam reset in place each epoch: a fresh Adam's step
    {"batch_unit": "images", "crops_per_image": 2, "batch_size": 5},  # a smaller last batch, another shape
])
def test_training_on_the_graph_path_equals_eager(tmp_path, train):
    settings, _ = tiny_settings(**train)
    eager = train_split(settings, tiny_data(), EAGER, tmp_path / "eager", progress=False)
    static = train_split(settings, tiny_data(), STATIC, tmp_path / "static", progress=False)
    assert static == eager
    columns = ["loss", "l1", "ce", "test_srcc", "val_srcc"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "static/history.csv")[columns],
                                  pd.read_csv(tmp_path / "eager/history.csv")[columns])
    weights = [torch.load(tmp_path / run / "model.pt", weights_only=True)["state_dict"] for run in ("eager", "static")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize("first,then", [(STATIC, EAGER), (EAGER, STATIC)])
def test_a_run_resumes_across_the_eager_and_graph_paths(first, then):
    """The runtime is no part of a run's identity: a checkpoint of one path resumes on the other
    (its Adam keeps the resuming path's learning-rate tensor and flags) and goes on as it would have."""
    settings, _ = tiny_settings(epochs=3)
    train_ids = tiny_data().splits[0]["train"]
    whole = Trainer(settings, tiny_data(), then)
    uninterrupted = [whole.train_epoch(train_ids, progress=False) for _ in range(3)]
    before = Trainer(settings, tiny_data(), first)
    before.train_epoch(train_ids, progress=False)
    resumed = Trainer(settings, tiny_data(), then)
    resumed.load_state_dict(before.state_dict())
    assert isinstance(resumed.optimizer.param_groups[0]["lr"], torch.Tensor) == then.graphs
    assert [resumed.train_epoch(train_ids, progress=False) for _ in range(2)] == uninterrupted[1:]


def test_a_dropped_trainer_is_freed_at_once():
    """Its StaticCall holds the step weakly: no reference cycle keeps a model (and on a GPU its
    graphs' memory) alive until a garbage collection, trial after trial in one tuning process."""
    import gc
    import weakref

    settings, _ = tiny_settings()
    trainer = Trainer(settings, tiny_data(), STATIC)
    trainer.train_epoch(tiny_data().splits[0]["train"], progress=False)
    model = weakref.ref(trainer.model)
    gc.disable()
    try:
        del trainer
        assert model() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("data", [tiny_data, tiny_own_size_data])
@pytest.mark.parametrize("random_crops", [False, True])
def test_padded_test_batches_score_as_eager_ones(data, random_crops, monkeypatch):
    """Graphed, every batch of a part has the same size, the last one padded: the padding is never scored."""
    from pmtiqa.compute import crop_means

    monkeypatch.setattr(crop_means, "GRAPH_BATCH_CROPS", 24)  # batches of a few crops: the same layout, sooner
    data = data()
    model = build_model("ms_pmt", "cnn4", "none").eval()
    ids = torch.tensor([5, 1, 7, 3, 2, 11, 0])
    crops = crop_means.GRAPH_BATCH_CROPS // 3  # so that 7 images take three batches of 3, the last with 2 padded
    scorers = [CropMeans(model, data.images, 32, crops, runtime, 1.0, data.sizes, 8, graphed=runtime.graphs)
               for runtime in (EAGER, STATIC)]
    assert scorers[1].images_per_batch(len(ids)) == 3
    scores = [s(ids, torch.Generator().manual_seed(4) if random_crops else None) for s in scorers]
    np.testing.assert_allclose(scores[1], scores[0], rtol=1e-5, atol=1e-6)
    assert len(scores[1]) == len(ids) and scorers[1].score_batch.buffers  # it ran on buffers


@pytest.mark.parametrize("n,most,expected", [(232, 102, 78), (102, 102, 102), (103, 102, 52), (1, 102, 1)])
def test_graphed_batches_are_as_equal_as_can_be(n, most, expected):
    import math

    scorer = CropMeans(torch.nn.Identity(), torch.zeros(1, 1, 1, 3), 1, 1024 // most, STATIC, graphed=True)
    assert scorer.images_per_batch(n) == expected and math.ceil(n / expected) == math.ceil(n / most)


@pytest.mark.parametrize("crop,crops,expected", [(224, 10, 25), (224, 1, 256), (32, 10, 102), (500, 10, 5)])
def test_graphed_batches_hold_at_most_so_many_pixels(crop, crops, expected):
    """A graph keeps its batch's activations: 256 crops of 224 pixels at most, 1024 of smaller ones."""
    scorer = CropMeans(torch.nn.Identity(), torch.zeros(1, 1, 1, 3), crop, crops, STATIC, graphed=True)
    assert scorer.images_per_batch(1000) <= expected and scorer.images_per_batch(expected) == expected


def test_the_step_setting_picks_graphs_only_on_a_cuda_device():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not uses_graphs(cpu, "auto", "none") and not uses_graphs(cpu, "eager", "none")
    assert uses_graphs(cuda, "auto", "none") and not uses_graphs(cuda, "auto", "default")
    assert not uses_graphs(cuda, "eager", "none")
    with pytest.raises(UserError, match="runtime.step: 'graph' replays CUDA graphs"):
        resolve_runtime("cpu", "fp32", 1, step="graph")
    with pytest.raises(UserError, match="choose one"):
        uses_graphs(cuda, "graph", "reduce-overhead")


def test_a_captured_step_and_test_batch_neither_copy_from_nor_read_back_to_the_host(monkeypatch):
    """What tests/compute/test_gpu.py captures on a GPU, checked here on the CPU: after the warm-up call, the
    training step and the scoring of a batch make no tensor from Python data and read nothing back.
    Adam's step is left out: on a CPU it reads its step count back, on a GPU (capturable) it does not."""
    settings, _ = tiny_settings(batch_size=4)
    data = tiny_data()
    trainer = Trainer(settings, data, STATIC)
    trainer.task_weights.copy_(torch.tensor([0.5, 0.5]))
    trainer.full_batch = 4
    index = torch.tensor([0, 3, 5, 7])
    draws = (torch.tensor([1, 2, 0, 3]), torch.tensor([4, 0, 2, 1]), torch.tensor([True, False, True, False]))
    trainer.train_step(index, *draws)  # the warm-up: Adam's state and cached constants are made here
    image, top, left = index.repeat_interleave(2), torch.zeros(8, dtype=torch.long), torch.ones(8, dtype=torch.long)
    trainer.model.eval()
    trainer.scorer.scores(image, top, left)
    trainer.model.train()
    monkeypatch.setattr(trainer.optimizer, "step", lambda: None)
    for name in ("cpu", "numpy", "tolist", "item"):
        monkeypatch.setattr(torch.Tensor, name, refuse(name))
    with HostTraffic() as traffic:
        trainer.train_step(index, *draws)
        trainer.model.eval()
        with torch.no_grad():
            trainer.scorer.scores(image, top, left)
    assert traffic.seen == []


def test_the_host_traffic_check_sees_what_a_graph_cannot_hold():
    x = torch.arange(4.0)
    for forbidden in (lambda: torch.tensor([1.0]) + x, lambda: x[x > 1], lambda: x.nonzero(), lambda: float(x.sum())):
        with HostTraffic() as traffic:
            forbidden()
        assert traffic.seen, forbidden
    with HostTraffic() as traffic:
        x[torch.tensor([0, 2])].sum()  # integer indices: no count read back
    assert traffic.seen == ["aten.lift_fresh.default"]  # only the index list made from Python data


class FakeCuda:
    """torch.cuda's graph and stream calls as StaticCall makes them, recorded: capture runs the
    function (so the test sees what was recorded), replay counts."""

    def __init__(self, monkeypatch, fail_captures: int = 0):
        self.events, self.fail_captures, self.pools = [], fail_captures, 0
        fake = self

        class Graph:
            def __init__(self):
                self.replays, self.handle = 0, None

            def replay(self):
                self.replays += 1
                fake.events.append("replay")

            def pool(self):
                return self.handle

        class Capture:
            def __init__(self, graph, pool=None):
                self.graph = graph
                if pool is None:
                    fake.pools += 1
                    pool = f"pool{fake.pools}"
                graph.handle = pool
                fake.events.append(f"capture in {pool}")

            def __enter__(self):
                if fake.fail_captures:
                    fake.fail_captures -= 1
                    raise RuntimeError("out of memory while capturing")

            def __exit__(self, *exc):
                return False

        class Stream:
            def wait_stream(self, other):
                pass

        monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
        monkeypatch.setattr(torch.cuda, "graph", Capture)
        monkeypatch.setattr(torch.cuda, "Stream", Stream)
        monkeypatch.setattr(torch.cuda, "current_stream", lambda: Stream())
        monkeypatch.setattr(torch.cuda, "stream", lambda s: __import__("contextlib").nullcontext())


def test_a_call_warms_up_three_times_then_captures_once_and_replays(monkeypatch):
    cuda = FakeCuda(monkeypatch)
    calls = []

    def fn(x):
        calls.append(x.clone())
        cuda.events.append("run")
        return x + 1

    call = StaticCall(fn, capture=True)
    for i in range(6):
        call(torch.full((2,), float(i)))
    # warm-up runs each do the work; the capture records it and one replay does it; then replays only
    assert cuda.events == ["run"] * 3 + ["capture in pool1", "run", "replay", "replay", "replay"]
    assert [c.tolist() for c in calls] == [[0, 0], [1, 1], [2, 2], [3, 3]]  # each saw its own inputs
    assert call.buffers[next(iter(call.buffers))][0].tolist() == [5, 5]  # the last inputs, for the replay
    assert call.captured == 1


def test_each_shape_has_its_graph_and_test_batches_share_one_pool(monkeypatch):
    for share_pool, pools in ((False, ["pool1", "pool2"]), (True, ["pool1", "pool1"])):
        cuda = FakeCuda(monkeypatch)
        call = StaticCall(lambda x: x * 2, capture=True, warmup=1, share_pool=share_pool)
        for _ in range(2):
            call(torch.zeros(3))
            call(torch.zeros(4))
        assert call.captured == 2
        assert [e.split()[-1] for e in cuda.events if e.startswith("capture")] == pools


def test_a_capture_that_fails_is_not_kept(monkeypatch):
    cuda = FakeCuda(monkeypatch, fail_captures=1)
    call = StaticCall(lambda x: x, capture=True, warmup=0)
    with pytest.raises(RuntimeError, match="out of memory"):
        call(torch.zeros(2))
    assert call.captured == 0
    call(torch.zeros(2))  # captured now, and replayed
    assert call.captured == 1 and cuda.events[-1] == "replay"
