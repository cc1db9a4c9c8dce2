import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from pmtiqa.compute import device_data
from pmtiqa.core.errors import UserError
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.training import split_run as train_mod
from pmtiqa.training import trainer as trainer_mod
from pmtiqa.training.split_run import train_split
from pmtiqa.training.trainer import Trainer, TrainingDiverged
from tests.builders.training import tiny_data, tiny_own_size_data, tiny_settings


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "split0"
    settings, runtime = tiny_settings()
    data = tiny_data()
    return out, train_split(settings, data, runtime, out, progress=False), data


def test_split_files_follow_the_contract(finished):
    out, metrics, data = finished
    assert set(metrics) == {"final", "val", "best_test"}
    for sel in metrics.values():
        assert set(sel) == {"srcc", "plcc", "plcc_logistic", "krcc", "rmse", "epoch"}
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert not (out / "checkpoint.pt").exists() and not train_mod.work_dir(out).exists()  # only while unfinished
    history = pd.read_csv(out / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3]  # as people count them
    assert list(history["lambda1"]) == [0.0, 0.5, 1.0]  # ms_pmt: progressive
    assert set(history["target"]) == {"published"}  # which scale l1 is measured on
    for col in ("loss", "l1", "ce", "lambda2", "lr", "val_srcc", "val_plcc", "test_srcc", "test_plcc", "seconds"):
        assert col in history
    predictions = pd.read_csv(out / "predictions.csv")
    test_ids = data.splits[0]["test"].numpy()
    assert list(predictions["image"]) == [data.names[i] for i in test_ids]
    assert set(predictions.columns) == {"image", "mos", "prediction", "score"}


def test_selections_pick_the_right_epochs(finished):
    out, metrics, _ = finished
    history = pd.read_csv(out / "history.csv")
    assert metrics["final"]["epoch"] == 3
    trained = history[history["lambda1"] > 0]  # never the untrained head of a progressive first epoch
    assert metrics["val"]["epoch"] == int(trained.loc[trained["val_srcc"].idxmax(), "epoch"])
    assert metrics["best_test"]["epoch"] == int(history.loc[history["test_srcc"].idxmax(), "epoch"])
    assert metrics["best_test"]["srcc"] == pytest.approx(history["test_srcc"].max())


def test_model_pt_loads_with_weights_only(finished):
    out, metrics, _ = finished
    saved = torch.load(out / "model.pt", weights_only=True)
    assert saved["variant"] == "ms_pmt" and saved["backbone"] == "cnn4"
    assert saved["epoch"] == metrics["val"]["epoch"]
    assert saved["score_bounds"] == [0.0, 100.0, True]
    assert saved["image_size"] == [40, 40]


def test_finished_split_is_reused_only_with_the_same_params(finished, monkeypatch):
    out, metrics, data = finished
    settings, runtime = tiny_settings()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished split was trained again")

    monkeypatch.setattr(Trainer, "train_epoch", no_training)
    assert train_split(settings, data, runtime, out, progress=False) == metrics
    changed, _ = tiny_settings(lr=2e-3)
    with pytest.raises(AssertionError, match="trained again"):
        train_split(changed, data, runtime, out, progress=False)


def test_a_split_of_other_code_is_trained_again_naming_the_modules_that_changed(finished, monkeypatch, caplog):
    """run.json records the code identity the split was trained with (pmtiqa/stages.py): an equal one
    reuses the split, another one retrains it and the log says which modules changed."""
    out, metrics, data = finished
    settings, runtime = tiny_settings()
    recorded = json.loads((out / "run.json").read_text())["code"]
    assert recorded == settings.code and "pmtiqa.method.losses" in recorded["modules"]
    edited = {**recorded, "modules": {**recorded["modules"], "pmtiqa.method.losses": "0" * 16}}

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(Trainer, "train_epoch", no_training)
    assert train_split(dataclasses.replace(settings, code=dict(recorded)), data, runtime, out, progress=False) == metrics
    with caplog.at_level(logging.INFO), pytest.raises(AssertionError, match="trained again"):
        train_split(dataclasses.replace(settings, code=edited), data, runtime, out, progress=False)
    assert "finished with other code (pmtiqa.method.losses); training it again" in caplog.text


@pytest.mark.parametrize("damage, why", [
    (lambda model: model.write_bytes(b"garbage"), "not a model.pt written by `pmtiqa train`"),
    (lambda model: model.unlink(), "no such model file"),
])
def test_a_finished_split_whose_model_does_not_load_is_trained_again(finished, tmp_path, monkeypatch, caplog,
                                                                     damage, why):
    """metrics.json and run.json alone do not make a split finished: predict and cross read its model."""
    out, _, data = finished
    copy = tmp_path / "split0"
    shutil.copytree(out, copy)
    damage(copy / "model.pt")
    settings, runtime = tiny_settings()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(Trainer, "train_epoch", no_training)
    with caplog.at_level(logging.INFO), pytest.raises(AssertionError, match="trained again"):
        train_split(settings, data, runtime, copy, progress=False)
    assert "finished with a model.pt that does not load" in caplog.text and why in caplog.text


def test_resume_after_an_interruption_gives_the_same_result(tmp_path, finished, monkeypatch):
    _, uninterrupted, _ = finished
    settings, runtime = tiny_settings()
    real_epoch = Trainer.train_epoch
    calls = {"n": 0}

    def dies_in_epoch_two(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed in the middle of the second epoch
        return real_epoch(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_epoch", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train_split(settings, tiny_data(), runtime, tmp_path, progress=False)
    assert (train_mod.work_dir(tmp_path) / "checkpoint.pt").exists() and not (tmp_path / "metrics.json").exists()
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    assert train_split(settings, tiny_data(), runtime, tmp_path, progress=False) == uninterrupted


def killed_in_epoch_two(settings, runtime, out: Path, monkeypatch) -> Path:
    """Train until the second epoch starts, then stop as a kill would: the checkpoint of epoch 1."""
    real_epoch = Trainer.train_epoch
    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "train_epoch", lambda self, *a, **k: (_ for _ in ()).throw(KeyboardInterrupt)
                      if self.epoch == 1 else real_epoch(self, *a, **k))
        with pytest.raises(KeyboardInterrupt):
            train_split(settings, tiny_data(), runtime, out, progress=False)
    return train_mod.work_dir(out) / "checkpoint.pt"


def test_checkpoint_of_other_params_is_not_resumed(tmp_path, monkeypatch):
    settings, runtime = tiny_settings(epochs=2)
    killed_in_epoch_two(settings, runtime, tmp_path, monkeypatch)
    other, _ = tiny_settings(epochs=2, lr=5e-4)
    assert train_split(other, tiny_data(), runtime, tmp_path, progress=False)["final"]["epoch"] == 2
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["epoch"]) == [1, 2]


def test_nan_loss_stops_with_a_clear_error(tmp_path, monkeypatch):
    settings, runtime = tiny_settings()
    real_loss = trainer_mod.pmt_loss

    def nan_loss(*args, **kwargs):
        parts = real_loss(*args, **kwargs)
        parts.total = parts.total * float("nan")
        return parts

    monkeypatch.setattr(trainer_mod, "pmt_loss", nan_loss)
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1 "):
        train_split(settings, tiny_data(), runtime, tmp_path, progress=False)
    assert not (tmp_path / "metrics.json").exists()


NAN = float("nan")


@pytest.mark.parametrize(("l1", "ce", "target", "gamma", "precision", "named", "not_named"), [
    (NAN, 1.0, "published", 1.0, "fp32",
     ["L1 not finite", "train.lr 0.001", "loss.target published: L1 on a scale 100 wide; try unit"],
     ["gamma", "precision"]),
    (NAN, 1.0, "unit", 1.0, "fp32", ["L1 not finite", "train.lr"], ["loss.target", "gamma"]),
    (1.0, NAN, "published", 10.0, "fp32", ["cross-entropy not finite", "loss.gamma 10: lower it"], ["loss.target"]),
    (NAN, NAN, "unit", 1.0, "bf16", ["L1 and cross-entropy not finite", "runtime.precision bf16: try fp32"], []),
])
def test_a_diverged_loss_names_what_can_cause_it(l1, ce, target, gamma, precision, named, not_named):
    from pmtiqa.training.trainer import divergence_causes

    settings, _ = tiny_settings(loss={"target": target, "gamma": gamma})
    said = divergence_causes(settings, precision, 1e-3, l1, ce, 100.0 if target == "published" else 1.0)
    assert all(part in said for part in named) and not any(part in said for part in not_named), said


def test_tuned_values_are_used(tmp_path, monkeypatch):
    from pmtiqa.config.run_settings import settings_for, tuned_values
    from tests.builders.training import tiny_params

    monkeypatch.chdir(tmp_path)
    best = tmp_path / "runs/tune/synthetic/best.json"
    best.parent.mkdir(parents=True)
    best.write_text(json.dumps({"params": {"lr": 3e-4, "batch_size": 5, "gamma": 0.5, "weight_decay": 1e-4}}))
    params = tiny_params(use_tuned=True)
    s = settings_for(params, "ms_pmt", 0, {}, tuned_values(params, best))
    assert (s.train.lr, s.train.batch_size, s.train.weight_decay, s.loss.gamma) == (3e-4, 5, 1e-4, 0.5)
    params = tiny_params(use_tuned=False)
    s = settings_for(params, "ms_pmt", 0, {}, tuned_values(params, best))
    assert s.train.lr == 1e-3


needs_cxx = pytest.mark.skipif(not shutil.which(os.environ.get("CXX") or "g++"),
                               reason="torch.compile on a CPU needs the C++ compiler Inductor runs ($CXX, else g++)")


@needs_cxx
def test_compiled_training_matches_eager_training():
    """runtime.compile changes how a step runs, not what it computes: one epoch of 12 images in
    batches of 8 (a compiled full batch, then an eager remainder) ends where the eager epoch does."""
    data = tiny_data()
    rows, predictions = {}, {}
    for mode in ("none", "default"):
        settings, runtime = tiny_settings(compile=mode)
        trainer = Trainer(settings, data, runtime)
        assert (trainer.step_model is trainer.model) == (mode == "none")
        compiled, sizes = trainer.step_model, []
        trainer.step_model = lambda x: sizes.append(len(x)) or compiled(x)
        rows[mode] = trainer.train_epoch(data.splits[0]["train"], progress=False)
        assert sizes == [8]  # the full batch took the compiled path, the remainder of 4 the eager one
        predictions[mode] = trainer.predict(data.splits[0]["test"])
    for key in ("loss", "l1", "ce"):
        assert rows["default"][key] == pytest.approx(rows["none"][key], rel=1e-5)
    # Adam divides each gradient by its own running size, so rounding-level differences in tiny
    # gradients become visible after two steps (measured: 0.3 % at most); a wrong kernel would not be this close.
    assert predictions["default"] == pytest.approx(predictions["none"], rel=2e-2)


@needs_cxx
def test_a_compiled_step_computes_the_eager_gradients():
    from pmtiqa.method.losses import pmt_loss, quality_level
    from pmtiqa.method.model import build_model

    torch.manual_seed(0)
    model = build_model("ms_pmt", "resnet18").train()
    x, target = torch.randn(4, 3, 32, 32), torch.rand(4)
    grads = {}
    for mode in ("none", "default"):
        _, runtime = tiny_settings(compile=mode)
        model.zero_grad()
        score, logits = runtime.compiled(model)(x)
        pmt_loss(score, logits, target, quality_level(target, 10), 0.5, 0.5).total.backward()
        grads[mode] = {name: p.grad.clone() for name, p in model.named_parameters()}
    # each parameter's gradient agrees to 0.1 % of its largest entry (fused kernels sum in another order)
    for name, eager in grads["none"].items():
        assert (grads["default"][name] - eager).abs().max() <= 1e-3 * eager.abs().max(), name


def test_compile_without_its_compiler_is_refused_by_resolve_runtime(tmp_path, monkeypatch):
    from pmtiqa.compute.runtime import resolve_runtime

    path = os.environ["PATH"]
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="runtime.compile: 'default' needs a compiler on this CPU: g\\+\\+ .*none"):
        resolve_runtime("cpu", "fp32", 1, "default")
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("CXX", "my-c++")  # Inductor runs $CXX when it is set, and nothing else, g++ or not
    with pytest.raises(UserError, match="my-c\\+\\+ \\(\\$CXX names another\\) is not found"):
        resolve_runtime("cpu", "fp32", 1, "default")
    assert resolve_runtime("cpu", "fp32", 1, "none").compile == "none"


def test_a_full_disk_at_a_checkpoint_names_the_file_and_leaves_the_split_whole(finished, tmp_path, monkeypatch):
    """torch's own writer says "enforce fail at inline_container.cc" on a full disk; the checkpoint
    is written through a Python file, whose failure names it (exit status 2 at the command line)."""
    from pmtiqa.compute import model_file
    from pmtiqa.core.errors import exit_status

    out, _, data = finished
    copy = tmp_path / "split0"
    shutil.copytree(out, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    real_open = open

    def onto_a_full_disk(path, mode="r", *args, **kwargs):  # /dev/full: every write fails with ENOSPC
        return real_open("/dev/full" if "checkpoint" in str(path) else path, mode, *args, **kwargs)

    monkeypatch.setattr(model_file, "open", onto_a_full_disk, raising=False)
    changed, runtime = tiny_settings(lr=2e-3)
    said = []
    assert exit_status(lambda: train_split(changed, data, runtime, copy, progress=False), said.append) == 2
    assert len(said) == 1 and "checkpoint.pt" in said[0] and said[0].endswith(": No space left on device"), said
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


def killed(*args, **kwargs):
    """A Trainer.train_epoch that stands for a kill in the middle of training."""
    raise KeyboardInterrupt


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), TrainingDiverged("the loss became nan")])
def test_a_failed_retrain_leaves_the_finished_split_whole(finished, tmp_path, monkeypatch, failure):
    """A finished result is replaced only by a complete new one: a retrain of other params that is
    killed, or fails, in its second epoch leaves every file of the finished split as it was."""
    out, _, data = finished
    shutil.copytree(out, tmp_path / "split0")
    before = {p.name: p.read_bytes() for p in (tmp_path / "split0").iterdir()}
    changed, runtime = tiny_settings(lr=2e-3)
    real_epoch = Trainer.train_epoch

    def fails_in_epoch_two(self, *args, **kwargs):
        if self.epoch == 1:
            raise failure
        return real_epoch(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_epoch", fails_in_epoch_two)
    with pytest.raises(type(failure)):
        train_split(changed, data, runtime, tmp_path / "split0", progress=False)
    assert {p.name: p.read_bytes() for p in (tmp_path / "split0").iterdir()} == before
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)  # the rerun resumes and replaces the split whole
    metrics = train_split(changed, data, runtime, tmp_path / "split0", progress=False)
    assert json.loads((tmp_path / "split0" / "metrics.json").read_text()) == metrics
    assert json.loads((tmp_path / "split0" / "run.json").read_text())["settings"] == changed.identity()["settings"]
    assert not train_mod.work_dir(tmp_path / "split0").exists()


def test_an_image_smaller_than_the_crops_is_named():
    data = tiny_own_size_data()
    small = (data.sizes.min(dim=1).values < 40).nonzero().flatten()  # the first is named, the rest counted
    match = f"{data.names[int(small[0])]} is .* smaller than train.crop_size 40 \\(and {len(small) - 1} more\\)"
    with pytest.raises(UserError, match=match):
        device_data.check_crops_fit(data.names, data.sizes.cpu().numpy(), 40, Path("data/cache/live"))
    device_data.check_crops_fit(data.names, data.sizes.cpu().numpy(), 32, Path("data/cache/live"))  # all hold 32


def test_more_splits_leave_the_finished_ones_valid(tmp_path, monkeypatch):
    """A split's inputs are the labels, the images (pixels and size) and its own parts, not the others'."""
    from pmtiqa.data.augment import build_cache
    from pmtiqa.data.splits import write_splits

    monkeypatch.chdir(tmp_path)
    raw, labels = tmp_path / "raw", tmp_path / "labels.csv"
    raw.mkdir()
    for i in range(10):
        Image.new("RGB", (40 + i, 40), (20 * i, 0, 0)).save(raw / f"{i}.png")
    pd.DataFrame({"image": [f"{i}.png" for i in range(10)], "mos": range(10), "score": [i / 9 for i in range(10)],
                  "group": range(10)}).to_csv(labels, index=False)

    def ids(n_splits, size):
        build_cache(labels, raw, DatasetFiles("synthetic").cache, size=size, workers=1)
        write_splits(labels, DatasetFiles("synthetic").splits, n_splits=n_splits, test_fraction=0.2,
                     val_fraction=0.0, seed=0)
        return device_data.load_device_data(DatasetFiles("synthetic"), torch.device("cpu"), 10, 32, None, "equal",
                                            (size, "upright")).inputs

    two, three = ids(2, (40, 40)), ids(3, (40, 40))
    assert three[:2] == two and three[2] not in two
    assert ids(2, (48, 40)) != two and ids(2, None) != two  # other image sizes: other runs
    Image.new("RGB", (40, 40), (0, 0, 255)).save(raw / "3.png")  # a corrected image: other runs too
    assert ids(2, (40, 40)) != two
    DatasetFiles("synthetic").splits.write_text('{"splits": [{"train": [0], "val": [], "test": [1]}], "n_rows": 9}')
    with pytest.raises(UserError, match=r"n_rows 9, but labels.csv has 10 rows"):
        device_data.load_device_data(DatasetFiles("synthetic"), torch.device("cpu"), 10, 32, None, "equal",
                                     ((40, 40), "upright"))


def place_as(finished: Path, folder: Path, k: int) -> None:
    """A copy of a finished split as split k's (its run.json saying so)."""
    shutil.copytree(finished, folder)
    recorded = json.loads((folder / "run.json").read_text())
    recorded["settings"]["split"] = k
    (folder / "run.json").write_text(json.dumps(recorded))


def test_evaluate_refuses_splits_trained_with_different_settings(finished, tmp_path, monkeypatch):
    """After a retrain that finished split 0 and was killed before split 1, the two splits hold two
    experiments: evaluate names the split and the setting instead of mixing them."""
    import dataclasses

    from pmtiqa.reporting.evaluate import evaluate_variant
    from tests.builders.training import tiny_params

    out, _, data = finished
    monkeypatch.chdir(tmp_path)
    params = tiny_params()
    params = dataclasses.replace(params, split=dataclasses.replace(params.split, n_splits=2))
    for k in (0, 1):
        place_as(out, DatasetFiles("synthetic").run("ms_pmt", k), k)
    assert evaluate_variant(params, DatasetFiles("synthetic"), "ms_pmt")["n_splits"] == 2  # one experiment: summarised
    changed, runtime = tiny_settings(lr=2e-3)
    train_split(changed, data, runtime, DatasetFiles("synthetic").run("ms_pmt", 0), progress=False)
    with pytest.raises(UserError, match=r"split1/run.json: trained with train.lr 0.001 where .*split0/run.json has "
                                        r"0.002; rerun the training of every split"):
        evaluate_variant(params, DatasetFiles("synthetic"), "ms_pmt")
    # the same settings on another cache (a re-download or another augment.size, then a killed retrain)
    shutil.rmtree(DatasetFiles("synthetic").run("ms_pmt", 0))
    shutil.copytree(out, DatasetFiles("synthetic").run("ms_pmt", 0))
    run1 = DatasetFiles("synthetic").run("ms_pmt", 1) / "run.json"
    recorded = json.loads(run1.read_text())
    recorded["inputs"]["cache"] = "another cache"
    run1.write_text(json.dumps(recorded))
    with pytest.raises(UserError, match=r"split1/run.json: trained with inputs.cache 'another cache' where .* 'tiny'"):
        evaluate_variant(params, DatasetFiles("synthetic"), "ms_pmt")


@pytest.mark.parametrize("tuned, key", [
    ({"lr": "abc"}, "params.lr"),
    ({"batch_size": 0}, "params.batch_size"),
    ({"batch_size": -3}, "params.batch_size"),  # what a tune range of negative sizes once wrote
    ({"gamma": -1}, "params.gamma"),
    ({"momentum": 0.9}, "params.momentum"),
    ([1, 2], "params"),
])
def test_a_hand_edited_best_json_is_named_with_its_key(tmp_path, monkeypatch, tuned, key):
    from pmtiqa.config.fields import ParamsError
    from pmtiqa.config.run_settings import tuned_values
    from tests.builders.training import tiny_params

    monkeypatch.chdir(tmp_path)
    best = Path("runs/tune/synthetic/best.json")
    best.parent.mkdir(parents=True)
    best.write_text(json.dumps({"params": tuned}))
    with pytest.raises(ParamsError, match=f"runs/tune/synthetic/best.json: {key}: "):
        tuned_values(tiny_params(use_tuned=True), best)


def without_val(data):
    """tiny_data's splits as split.val_fraction 0 makes them: no validation part, train is the rest."""
    import dataclasses

    splits = [{"train": torch.cat([s["train"], s["val"]]).sort().values, "val": torch.tensor([], dtype=torch.long),
               "test": s["test"]} for s in data.splits]
    return dataclasses.replace(data, splits=splits)


def test_a_split_without_validation_keeps_the_final_epoch(tmp_path):
    """The authors' data budget: no val selection, model.pt and predictions.csv are the last epoch's."""
    settings, runtime = tiny_settings()
    data = without_val(tiny_data())
    metrics = train_split(settings, data, runtime, tmp_path, progress=False)
    assert set(metrics) == {"final", "best_test"} and metrics["final"]["epoch"] == 3
    history = pd.read_csv(tmp_path / "history.csv")
    assert "val_srcc" not in history and "val_plcc" not in history
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert saved["epoch"] == 3
    trainer = Trainer(settings, data, runtime)
    trainer.model.load_state_dict(saved["state_dict"])
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert predictions["score"].to_numpy() == pytest.approx(trainer.predict(data.splits[0]["test"]), abs=1e-6)
    assert metrics["final"]["srcc"] == pytest.approx(history["test_srcc"].iloc[-1])


@pytest.mark.parametrize("unit, crops, batches", [("crops", 2, [8, 8, 8]), ("images", 2, [16, 8])])
def test_batch_unit_counts_crops_or_images(unit, crops, batches):
    """12 training images x 2 crops in batches of 8: 8 crops a step, or 8 images with both their crops."""
    settings, runtime = tiny_settings(batch_unit=unit, crops_per_image=crops)
    trainer = Trainer(settings, tiny_data(), runtime)
    made = trainer.batches(tiny_data().splits[0]["train"])
    assert [len(b) for b in made] == batches
    assert sorted(torch.cat(made).tolist()) == sorted(tiny_data().splits[0]["train"].tolist() * crops)
    if unit == "images":  # an image's crops share its step
        assert all((b.view(-1, crops) == b.view(-1, crops)[:, :1]).all() for b in made)


def test_a_last_batch_of_one_crop_joins_the_one_before():
    """Batch norm cannot train on one sample: 12 crops in batches of 11 are one step of 12."""
    settings, runtime = tiny_settings(batch_size=11)
    trainer = Trainer(settings, tiny_data(), runtime)
    assert [len(b) for b in trainer.batches(tiny_data().splits[0]["train"])] == [12]


def test_the_learning_rate_follows_the_authors_steps():
    settings, runtime = tiny_settings(epochs=4, lr_step=1, lr=1e-3)
    trainer = Trainer(settings, tiny_data(), runtime)
    rates = [trainer.train_epoch(tiny_data().splits[0]["train"], progress=False)["lr"] for _ in range(4)]
    assert rates == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5])


@pytest.mark.parametrize("reset", [False, True])
def test_reset_optimizer_rebuilds_adam_every_epoch(reset):
    """The authors' habit: a new Adam each epoch, its moments (step count) starting again."""
    settings, runtime = tiny_settings(reset_optimizer=reset)
    trainer = Trainer(settings, tiny_data(), runtime)
    for _ in range(2):
        trainer.train_epoch(tiny_data().splits[0]["train"], progress=False)
    steps = trainer.optimizer.state[next(trainer.model.parameters())]["step"]
    assert int(steps) == (2 if reset else 4)  # 12 crops in batches of 8: two steps an epoch


def test_random_test_crops_change_every_epoch_and_survive_a_resume():
    settings, runtime = tiny_settings(random_test_crops=True)
    fixed, _ = tiny_settings()
    data, test = tiny_data(), tiny_data().splits[0]["test"]
    trainer, reference = Trainer(settings, data, runtime), Trainer(fixed, data, runtime)
    first = trainer.predict(test)
    assert first == pytest.approx(trainer.predict(test))  # the same epoch: the same crops
    assert not first == pytest.approx(reference.predict(test))  # not the fixed crops
    trainer.epoch = 1
    assert not trainer.predict(test) == pytest.approx(first)  # another epoch: other crops
    again = Trainer(settings, data, runtime)
    again.epoch = 1
    assert again.predict(test) == pytest.approx(trainer.predict(test))


@pytest.mark.parametrize("target, scale", [("published", 100.0), ("unit", 1.0)])
def test_the_regression_target_is_on_the_chosen_scale(target, scale, monkeypatch):
    """published: the head learns the score times the published scale's width (0..100 here), and
    L1 is in those units; scores still come out normalised, the head's output divided by that width."""
    settings, runtime = tiny_settings(variant="ms", loss={"target": target})
    seen = []
    real_loss = trainer_mod.pmt_loss
    monkeypatch.setattr(trainer_mod, "pmt_loss", lambda score, logits, target, *a: seen.append(target) or
                        real_loss(score, logits, target, *a))
    data = tiny_data()
    trainer = Trainer(settings, data, runtime)
    row = trainer.train_epoch(data.splits[0]["train"], progress=False)
    assert row["target"] == target
    train_scores = data.score[data.splits[0]["train"]]
    assert sorted(torch.cat(seen).tolist()) == pytest.approx(sorted((train_scores * scale).tolist()), rel=1e-6)
    with torch.no_grad():  # a head that outputs 40 on the learned scale
        trainer.model.regress.weight.zero_()
        trainer.model.regress.bias.fill_(40.0)
    assert trainer.predict(data.splits[0]["test"]) == pytest.approx([40.0 / scale] * 6, rel=1e-6)


def test_a_bf16_run_predicts_distinct_scores(tmp_path):
    """Only the backbone runs in bf16: the test predictions are (nearly) all distinct, not bf16's few levels."""
    from pmtiqa.compute.runtime import Runtime

    settings, _ = tiny_settings(epochs=1, crops_per_image=1, test_crops=1)
    data = tiny_data(n=120)
    ids = torch.arange(120)
    data.splits = [{"train": ids[:40], "val": ids[40:60], "test": ids[60:]}]
    train_split(settings, data, Runtime(torch.device("cpu"), "bf16"), tmp_path, progress=False)
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert predictions["score"].nunique() / len(predictions) >= 0.95


def test_val_selection_never_picks_an_epoch_without_regression_weight(tmp_path, monkeypatch):
    """Even where the untrained head's epoch scores best on validation, it is not the one kept."""
    settings, runtime = tiny_settings()
    real_metrics = train_mod.published_metrics
    calls = {"n": 0}

    def first_val_best(pred, data, ids):
        metrics = real_metrics(pred, data, ids)
        calls["n"] += 1
        if calls["n"] == 2:  # epoch 1 (lambda1 = 0): test, then val, scored
            metrics["srcc"] = 1.0
        return metrics

    monkeypatch.setattr(train_mod, "published_metrics", first_val_best)
    metrics = train_split(settings, tiny_data(), runtime, tmp_path, progress=False)
    history = pd.read_csv(tmp_path / "history.csv")
    assert history.loc[0, "val_srcc"] == 1.0 and history.loc[0, "lambda1"] == 0
    assert metrics["val"]["epoch"] > 1
    assert torch.load(tmp_path / "model.pt", weights_only=True)["epoch"] == metrics["val"]["epoch"]


@pytest.mark.parametrize("content", [b"", b"not a torch file", b"PK\x03\x04 truncated zip"])
def test_a_damaged_checkpoint_is_named_with_what_to_do(tmp_path, content):
    settings, runtime = tiny_settings()
    work = train_mod.work_dir(tmp_path / "split0")
    work.mkdir(parents=True)
    (work / "checkpoint.pt").write_bytes(content)
    with pytest.raises(UserError, match=r"checkpoint.pt: not a checkpoint that can be resumed: .*; delete it to train"):
        train_split(settings, tiny_data(), runtime, tmp_path / "split0", progress=False)


def test_a_crafted_pickle_as_checkpoint_runs_nothing_and_recommends_nothing_unsafe(tmp_path):
    import pickle

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    settings, runtime = tiny_settings()
    work = train_mod.work_dir(tmp_path / "split0")
    work.mkdir(parents=True)
    (work / "checkpoint.pt").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(UserError) as err:
        train_split(settings, tiny_data(), runtime, tmp_path / "split0", progress=False)
    assert not (tmp_path / "ran").exists()
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)


def test_a_warning_names_the_split_folder_never_its_temporary_one(tmp_path: Path, monkeypatch, caplog) -> None:
    """The split's files are written in a temporary folder renamed at the end; what a user reads in the
    log is the folder the files end up in."""
    real = Trainer.predict
    monkeypatch.setattr(Trainer, "predict", lambda self, ids: real(self, ids) + 2.0)  # every score past 1
    settings, runtime = tiny_settings(epochs=2)
    out = tmp_path / "split0"
    with caplog.at_level(logging.WARNING):
        train_split(settings, tiny_data(), runtime, out, progress=False)
    warned = [r.getMessage() for r in caplog.records if "outside 0..1" in r.getMessage()]
    assert warned and all(m.startswith(f"{out} (epoch ") for m in warned), warned


def test_a_checkpoint_from_another_kind_of_device_resumes_with_crop_draws_seeded_anew(caplog):
    """A CUDA generator's state cannot go into a CPU generator (nor the reverse): the resumed run
    draws from a generator seeded by the split and the epoch, the same on every such resume, and says so."""
    settings, runtime = tiny_settings()
    data = tiny_data()
    state = Trainer(settings, data, runtime).state_dict()
    state.update(generator=torch.zeros(16, dtype=torch.uint8), epoch=1)  # a CUDA generator's state
    draws = []
    for _ in range(2):
        trainer = Trainer(settings, data, runtime)
        with caplog.at_level(logging.WARNING, logger="pmtiqa.training.trainer"):
            trainer.load_state_dict(state)
        draws.append(torch.rand(4, generator=trainer.generator))
    assert torch.equal(draws[0], draws[1]) and trainer.epoch == 1
    assert not torch.equal(draws[0], torch.rand(4, generator=torch.Generator().manual_seed(trainer.seed)))
    assert "(a generator state of 16 bytes, cpu's is 5056): epochs 2 on draw anew" in caplog.text


def test_a_checkpoint_from_the_same_kind_of_device_resumes_its_crop_draws_exactly():
    settings, runtime = tiny_settings()
    data = tiny_data()
    first = Trainer(settings, data, runtime)
    torch.rand(3, generator=first.generator)  # draws made before the checkpoint
    state = first.state_dict()
    expected = torch.rand(4, generator=first.generator)
    resumed = Trainer(settings, data, runtime)
    resumed.load_state_dict(state)
    assert torch.equal(torch.rand(4, generator=resumed.generator), expected)


@pytest.mark.parametrize("damage", [
    {"generator": torch.zeros(5056, dtype=torch.float32)},  # a CPU generator's size, not its type
    {"generator": torch.zeros(5056, dtype=torch.uint8)},  # nothing a generator ever holds
    {"generator": None},
    {"generator": "x"},
], ids=["dtype", "zeros", "none", "text"])
def test_a_checkpoint_whose_state_is_damaged_is_named_with_the_way_out(tmp_path, monkeypatch, damage):
    settings, runtime = tiny_settings(epochs=2)
    checkpoint = killed_in_epoch_two(settings, runtime, tmp_path, monkeypatch)
    state = torch.load(checkpoint, weights_only=False)
    state["trainer"].update(damage)
    torch.save(state, checkpoint)
    with pytest.raises(UserError, match=r"checkpoint.pt: not a checkpoint that can be resumed \(.*\); delete it"):
        train_split(settings, tiny_data(), runtime, tmp_path, progress=False)
    assert checkpoint.exists()  # left for the user to look at or delete
