import textwrap
from pathlib import Path

import pytest

from pmtiqa.config import ParamsError, fingerprint, image_size, load_params, params_from_dict

MINIMAL = {"datasets": ["synthetic"], "variants": ["ms_pmt"]}


def test_defaults_follow_the_paper():
    p = params_from_dict(MINIMAL)
    assert p.model.backbone == "resnet50"
    assert p.model.num_classes == 10
    assert p.train.weight_decay == 5e-4
    assert p.train.crop_size == 224
    assert p.split.n_splits == 10
    assert p.split.val_fraction == 0  # the authors train on the whole 80 %
    assert p.loss.target == "published" and p.loss.gamma == 1.0  # L1 on the published scale, no extra weight
    assert (p.train.lr_step, p.train.lr_decay) == (6, 0.1)
    assert not p.train.random_test_crops and not p.train.reset_optimizer
    assert p.tune.epochs == 0 and p.tune.gamma == [0.01, 100.0]


def test_the_committed_params_are_the_authors_protocol():
    p = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    assert p.split.val_fraction == 0 and p.loss.target == "published"
    assert p.for_dataset("bid").train.batch_unit == "images" and p.for_dataset("livec").train.batch_unit == "crops"
    assert image_size(p, "koniq") == (384, 512)  # their Resize((512, 384)) is height x width


def test_yaml_is_loaded_into_typed_sections(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(textwrap.dedent("""
        datasets: [livec, synthetic]
        variants: [baseline, ms_pmt]
        model: {backbone: resnet18, weights: none}
        train: {epochs: 3, lr: 1e-4}
        augment: {sizes: {livec: [500, 500]}}
    """))
    p = load_params(path)
    assert p.train.lr == 1e-4 and isinstance(p.train.lr, float)
    assert p.augment.sizes["livec"] == [500, 500]
    assert p.source == str(path)


@pytest.mark.parametrize(
    "raw, key",
    [
        ({**MINIMAL, "train": {"epochz": 3}}, "train.epochz"),
        ({**MINIMAL, "train": {"epochs": "three"}}, "train.epochs"),
        ({**MINIMAL, "train": {"epochs": 2.5}}, "train.epochs"),
        ({**MINIMAL, "train": {"use_tuned": "yes"}}, "train.use_tuned"),
        ({**MINIMAL, "model": {"backbone": "vgg16"}}, "model.backbone"),
        ({**MINIMAL, "datasets": ["tid2013"]}, "datasets[0]"),
        ({**MINIMAL, "variants": ["ms", "fancy"]}, "variants[1]"),
        ({"variants": ["ms"]}, "datasets"),
        ({**MINIMAL, "loss": {"gamma": -1}}, "loss.gamma"),
        ({**MINIMAL, "augment": {"sizes": {"livec": [500]}}}, "augment.sizes.livec"),
        ({**MINIMAL, "augment": {"native": ["tid2013"]}}, "augment.native[0]"),
        ({**MINIMAL, "augment": {"native": ["live"], "sizes": {"live": [768, 512]}}}, "augment.native[0]"),
        ({**MINIMAL, "tune": {"lr": [1e-3, 1e-4]}}, "tune.lr"),
        ({**MINIMAL, "tune": {"weight_decay": [0, 0]}}, "tune.weight_decay"),
        ({**MINIMAL, "split": {"subset": 0}}, "split.subset"),
        ({**MINIMAL, "train": {"compile": "fastest"}}, "train.compile"),
        ({**MINIMAL, "loss": {"target": "mos"}}, "loss.target"),
        ({**MINIMAL, "train": {"batch_unit": "pixels"}}, "train.batch_unit"),
        ({**MINIMAL, "train": {"reset_optimizer": "no"}}, "train.reset_optimizer"),
        ({**MINIMAL, "split": {"val_fraction": 1}}, "split.val_fraction"),
        ({**MINIMAL, "split": {"val_fraction": -0.1}}, "split.val_fraction"),
        ({**MINIMAL, "tune": {"val_fraction": 0}}, "tune.val_fraction"),
        ({**MINIMAL, "tune": {"epochs": 31}}, "tune.epochs"),
        ({**MINIMAL, "tune": {"epochs": -1}}, "tune.epochs"),
        ({**MINIMAL, "tune": {"epochs": 1}}, "tune.epochs"),  # ms_pmt's epoch 1 trains no regression head
        ({**MINIMAL, "tune": {"variant": "nope"}}, "tune.variant"),
        ({**MINIMAL, "surprise": 1}, "surprise"),
    ],
)
def test_bad_params_name_the_key(raw, key):
    with pytest.raises(ParamsError) as err:
        params_from_dict(raw, source="p.yaml")
    assert f"p.yaml: {key}:" in str(err.value)


def test_a_yaml_boolean_where_a_word_is_meant_says_to_quote_it(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("datasets: [synthetic]\nvariants: [ms_pmt]\ntrain: {compile: off}\n")
    with pytest.raises(ParamsError, match="train.compile: expected a string, got the boolean False .*quote"):
        load_params(path)


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(ParamsError, match="nope.yaml: params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [unclosed\n")
    with pytest.raises(ParamsError, match="bad.yaml: not valid YAML"):
        load_params(bad)


def test_fingerprint_is_stable_and_sensitive():
    a = params_from_dict(MINIMAL)
    b = params_from_dict({**MINIMAL, "train": {"epochs": 31}})
    assert fingerprint(a.train) == fingerprint(params_from_dict(MINIMAL).train)
    assert fingerprint(a.train) != fingerprint(b.train)
    assert fingerprint(a.model) == fingerprint(b.model)


def test_per_dataset_overrides_apply_only_to_their_dataset():
    p = params_from_dict({
        **MINIMAL,
        "augment": {"sizes": {"synthetic": [96, 96]}},
        "overrides": {"synthetic": {"model": {"backbone": "resnet18"}, "train": {"epochs": 3, "crop_size": 64}}},
    })
    demo = p.for_dataset("synthetic")
    assert demo.model.backbone == "resnet18" and demo.train.epochs == 3 and demo.train.crop_size == 64
    assert demo.train.batch_size == p.train.batch_size  # untouched keys keep the section's value
    assert p.for_dataset("livec").model.backbone == "resnet50"
    assert demo.setting("train.epochs") == 3 and demo.setting("model.backbone") == "resnet18"


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"synthetic": {"train": {"epochz": 3}}}, "overrides.synthetic.train.epochz"),
        ({"synthetic": {"train": {"epochs": "x"}}}, "overrides.synthetic.train.epochs"),
        ({"synthetic": {"datasets": ["bid"]}}, "overrides.synthetic.datasets"),
        ({"tid2013": {"train": {"epochs": 3}}}, "overrides.tid2013"),
        ({"synthetic": {"train": {"crop_size": 600}}}, "augment.sizes.synthetic"),
    ],
)
def test_bad_overrides_name_the_key(overrides, key):
    with pytest.raises(ParamsError) as err:
        params_from_dict({**MINIMAL, "overrides": overrides}, source="p.yaml")
    assert f"p.yaml: {key}:" in str(err.value)


def test_native_datasets_have_no_training_size(tmp_path):
    p = params_from_dict({**MINIMAL, "datasets": ["live"], "augment": {"native": ["live"]},
                          "train": {"crop_size": 600}})
    assert image_size(p, "live") is None  # its images keep their own sizes; train checks the crop
    with pytest.raises(ParamsError, match="augment.sizes.livec"):  # others are checked here
        params_from_dict({**MINIMAL, "datasets": ["livec"], "augment": {"sizes": {"livec": [500, 500]}},
                          "train": {"crop_size": 600}})


def test_a_value_wrong_only_beside_a_dataset_s_override_names_that_dataset():
    raw = {**MINIMAL, "overrides": {"synthetic": {"train": {"epochs": 1}}}, "tune": {"epochs": 3}}
    with pytest.raises(ParamsError, match=r"p.yaml: tune.epochs: .* \(for synthetic, with overrides.synthetic applied\)"):
        params_from_dict(raw, source="p.yaml")
