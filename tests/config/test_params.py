import dataclasses
import math
import textwrap
import typing
from pathlib import Path

import pytest

from pmtiqa.config.fields import ParamsError
from pmtiqa.config.load import load_params, params_from_dict
from pmtiqa.config.params import RANGES, Params
from pmtiqa.config.run_settings import check_tuned
from pmtiqa.config.sections import TUNABLE_SETTINGS
from tests.builders import ROOT

MINIMAL = {"datasets": ["livec"], "variants": ["ms_pmt"]}


def test_defaults_follow_the_paper():
    p = params_from_dict(MINIMAL)
    assert p.model.backbone == "resnet50"
    assert p.model.num_classes == 10
    assert p.train.weight_decay == 5e-4
    assert p.train.crop_size == 224
    assert p.split.n_splits == 10
    assert p.split.val_fraction == 0  # the authors train on the whole 80 %
    assert p.loss.target == "published" and p.loss.gamma == 1.0  # L1 on the published scale, no extra weight
    assert p.loss.levels == "equal"  # eq. 3 as written
    assert (p.train.lr_step, p.train.lr_decay) == (6, 0.1)
    assert not p.train.random_test_crops and not p.train.reset_optimizer
    assert p.tune.epochs == 0 and p.tune.gamma == [0.01, 100.0]


def test_the_committed_params_are_the_authors_protocol():
    p = load_params(ROOT / "params.yaml")
    assert p.split.val_fraction == 0 and p.loss.target == "published"
    assert p.for_dataset("bid").train.batch_unit == "images" and p.for_dataset("livec").train.batch_unit == "crops"
    assert p.for_dataset("koniq").image_size == (384, 512)  # their Resize((512, 384)) is height x width


def test_yaml_is_loaded_into_typed_sections(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(textwrap.dedent("""
        datasets: [livec, synthetic]
        variants: [baseline, ms_pmt]
        model: {backbone: resnet18, weights: none}
        train: {epochs: 3, lr: 1e-4}
        augment: {size: [480, 480]}
    """))
    p = load_params(path)
    assert p.train.lr == 1e-4 and isinstance(p.train.lr, float)
    assert p.augment.size == [480, 480] and p.for_dataset("livec").image_size == (480, 480)
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
        ({**MINIMAL, "augment": {"size": [500]}}, "augment.size"),
        ({**MINIMAL, "augment": {"size": "native"}}, "augment.size"),
        ({**MINIMAL, "augment": {"size": [500, 500.5]}}, "augment.size"),
        ({**MINIMAL, "augment": {"size": [True, 500]}}, "augment.size"),
        ({**MINIMAL, "augment": {"sizes": {"livec": [500, 500]}}}, "augment.sizes"),
        ({**MINIMAL, "tune": {"lr": [1e-3, 1e-4]}}, "tune.lr"),
        ({**MINIMAL, "tune": {"weight_decay": [0, 1e-4]}}, "tune.weight_decay"),  # log scale: no 0 (one value: not searched)
        ({**MINIMAL, "split": {"subset": 0}}, "split.subset"),
        ({**MINIMAL, "runtime": {"compile": "fastest"}}, "runtime.compile"),
        ({**MINIMAL, "train": {"compile": "none"}}, "train.compile"),  # runtime settings left train
        ({**MINIMAL, "loss": {"target": "mos"}}, "loss.target"),
        ({**MINIMAL, "loss": {"levels": "floor"}}, "loss.levels"),
        ({**MINIMAL, "augment": {"decode": "exif"}}, "augment.decode"),
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
        # every float finite, whichever way YAML spells infinity or not-a-number
        ({**MINIMAL, "train": {"lr": math.inf}}, "train.lr"),
        ({**MINIMAL, "train": {"lr": math.nan}}, "train.lr"),
        ({**MINIMAL, "train": {"lr": "inf"}}, "train.lr"),
        ({**MINIMAL, "loss": {"gamma": math.inf}}, "loss.gamma"),
        ({**MINIMAL, "train": {"weight_decay": math.nan}}, "train.weight_decay"),
        ({**MINIMAL, "split": {"test_fraction": math.nan}}, "split.test_fraction"),
        ({**MINIMAL, "tune": {"gamma": [0.01, math.inf]}}, "tune.gamma[1]"),
        # ranges of single values
        ({**MINIMAL, "train": {"lr": 0}}, "train.lr"),
        ({**MINIMAL, "train": {"lr": 2}}, "train.lr"),
        ({**MINIMAL, "train": {"lr_decay": 0}}, "train.lr_decay"),
        ({**MINIMAL, "train": {"weight_decay": -1e-4}}, "train.weight_decay"),
        ({**MINIMAL, "train": {"batch_size": 1}}, "train.batch_size"),  # batch norm needs two samples
        ({**MINIMAL, "train": {"epochs": 0}}, "train.epochs"),
        ({**MINIMAL, "train": {"lr_step": 0}}, "train.lr_step"),
        ({**MINIMAL, "train": {"crop_size": 16}}, "train.crop_size"),
        ({**MINIMAL, "train": {"crops_per_image": 0}}, "train.crops_per_image"),
        ({**MINIMAL, "train": {"test_crops": 0}}, "train.test_crops"),
        ({**MINIMAL, "train": {"seed": -1}}, "train.seed"),
        ({**MINIMAL, "train": {"seed": 2**32}}, "train.seed"),
        ({**MINIMAL, "runtime": {"threads": -1}}, "runtime.threads"),
        ({**MINIMAL, "runtime": {"device": "gpu"}}, "runtime.device"),
        ({**MINIMAL, "runtime": {"device": "cuda:x"}}, "runtime.device"),
        ({**MINIMAL, "runtime": {"device": "cuda:01"}}, "runtime.device"),  # torch refuses a leading zero
        ({**MINIMAL, "report": {"selections": []}}, "report.selections"),
        ({**MINIMAL, "runtime": {"tune_storage": "sqlite:///runs/{dataset!r}/s.db"}}, "runtime.tune_storage"),
        ({**MINIMAL, "runtime": {"tune_storage": "sqlite:///runs/{dataset:>999999999}/s.db"}}, "runtime.tune_storage"),
        ({**MINIMAL, "report": {"selections": ["val", "val"]}}, "report.selections[1]"),
        ({**MINIMAL, "runtime": {"device": "cuda:\u0663"}}, "runtime.device"),  # an Arabic-Indic 3
        ({**MINIMAL, "runtime": {"precision": "fp16"}}, "runtime.precision"),
        ({**MINIMAL, "runtime": {"step": "graphs"}}, "runtime.step"),
        ({**MINIMAL, "runtime": {"step": True}}, "runtime.step"),
        ({**MINIMAL, "runtime": {"parallel_splits": 0}}, "runtime.parallel_splits"),
        ({**MINIMAL, "runtime": {"parallel_splits": 1.5}}, "runtime.parallel_splits"),
        ({**MINIMAL, "runtime": {"parallel_splits": "two"}}, "runtime.parallel_splits"),
        ({**MINIMAL, "split": {"seed": -1}}, "split.seed"),
        ({**MINIMAL, "split": {"n_splits": 0}}, "split.n_splits"),
        ({**MINIMAL, "split": {"n_splits": 10**7}}, "split.n_splits"),  # ran out of memory writing the splits
        ({**MINIMAL, "train": {"lr": 10**400}}, "train.lr"),  # an OverflowError: no float holds it
        ({**MINIMAL, "train": {"batch_size": 10**28}}, "train.batch_size"),  # torch: "Overflow when unpacking"
        ({**MINIMAL, "train": {"epochs": 10**28}}, "train.epochs"),  # trained without end
        ({**MINIMAL, "split": {"test_fraction": 1}}, "split.test_fraction"),
        ({**MINIMAL, "runtime": {"workers": -1}}, "runtime.workers"),
        ({**MINIMAL, "augment": {"size": [16, 16]}}, "augment.size"),
        ({**MINIMAL, "model": {"num_classes": 1}}, "model.num_classes"),
        ({**MINIMAL, "model": {"num_classes": 10**7}}, "model.num_classes"),  # a head of 2 * 10^10 weights
        ({**MINIMAL, "model": {"weights": ""}}, "model.weights"),
        ({**MINIMAL, "tune": {"seed": -1}}, "tune.seed"),
        ({**MINIMAL, "tune": {"n_trials": 0}}, "tune.n_trials"),
        ({**MINIMAL, "tune": {"split": -1}}, "tune.split"),
        ({**MINIMAL, "tune": {"split": 10}}, "tune.split"),  # split.n_splits is 10: splits 0..9
        ({**MINIMAL, "tune": {"val_fraction": 1}}, "tune.val_fraction"),
        # tune ranges: low <= high, both ends values the searched setting may take
        ({**MINIMAL, "tune": {"batch_size": [-8, -2]}}, "tune.batch_size"),
        ({**MINIMAL, "tune": {"batch_size": [1, 4]}}, "tune.batch_size"),
        ({**MINIMAL, "tune": {"batch_size": [13, 9]}}, "tune.batch_size"),
        ({**MINIMAL, "tune": {"batch_size": [9]}}, "tune.batch_size"),
        ({**MINIMAL, "tune": {"lr": [1e-4, 2.0]}}, "tune.lr"),
        ({**MINIMAL, "tune": {"lr": [0, 1e-3]}}, "tune.lr"),
        ({**MINIMAL, "tune": {"gamma": [-1, 1]}}, "tune.gamma"),
        ({**MINIMAL, "tune": {"weight_decay": [-1e-4, 1e-4]}}, "tune.weight_decay"),
        # names and lists
        ({**MINIMAL, "datasets": ["synthetic", "synthetic"]}, "datasets[1]"),
        ({**MINIMAL, "variants": ["ms_pmt", "ms_pmt"]}, "variants[1]"),
        ({**MINIMAL, "download": {"sources": {"tid2013": "/data/tid.zip"}}}, "download.sources.tid2013"),
        ({**MINIMAL, "report": {"selections": ["worst"]}}, "report.selections[0]"),
        ({**MINIMAL, "report": {"reference_variant": "nope"}}, "report.reference_variant"),
    ],
)
def test_bad_params_name_the_key(raw, key):
    with pytest.raises(ParamsError) as err:
        params_from_dict(raw, source="p.yaml")
    assert f"p.yaml: {key}:" in str(err.value)
    assert "\n" not in str(err.value)


def _numeric_fields() -> list[tuple[str, typing.Any]]:
    """(dotted key, declared type) of every number or list of numbers in the params sections."""
    fields = []
    for section, cls in typing.get_type_hints(Params).items():
        if dataclasses.is_dataclass(cls):
            for name, tp in typing.get_type_hints(cls).items():
                if tp in (int, float) or typing.get_args(tp) in ((int,), (float,)):
                    fields.append((f"{section}.{name}", tp))
    return fields


def test_every_number_in_params_has_a_range():
    assert {key for key, _ in _numeric_fields()} == set(RANGES)


def _outside(bounds) -> list:
    """The values just outside bounds: below (or at an open) low, above (or at an open) high."""
    values = [bounds.low if bounds.low_open else bounds.low - 1]
    if bounds.high != math.inf:
        values.append(bounds.high if bounds.high_open else bounds.high + 1)
    return values


@pytest.mark.parametrize("key, value", [(key, value) for key, bounds in RANGES.items() if not key.startswith("tune.")
                                        or key.split(".")[1] not in TUNABLE_SETTINGS for value in _outside(bounds)])
def test_every_range_refuses_the_values_beside_it(key, value):
    section, name = key.split(".")
    with pytest.raises(ParamsError, match=rf"^p\.yaml: {key}: must be "):
        params_from_dict({**MINIMAL, section: {name: value}}, source="p.yaml")


@pytest.mark.parametrize("name", TUNABLE_SETTINGS)
def test_a_tune_range_and_best_json_follow_the_rule_of_the_setting_they_replace(name):
    section, setting = TUNABLE_SETTINGS[name].split(".")
    for value in _outside(RANGES[TUNABLE_SETTINGS[name]]):
        with pytest.raises(ParamsError, match=TUNABLE_SETTINGS[name]):
            params_from_dict({**MINIMAL, section: {setting: value}}, source="p.yaml")
        with pytest.raises(ParamsError, match=f"tune.{name}"):
            params_from_dict({**MINIMAL, "tune": {name: [value, value]}}, source="p.yaml")
        with pytest.raises(ParamsError, match=f"best.json: params.{name}:"):
            check_tuned({name: value}, "best.json")


def test_check_tuned_returns_the_typed_values():
    values = {"lr": 3e-4, "batch_size": 5, "gamma": 2, "weight_decay": "1e-4"}
    checked = check_tuned(values, "best.json")
    assert checked == {"lr": 3e-4, "batch_size": 5, "gamma": 2.0, "weight_decay": 1e-4}
    assert type(checked["gamma"]) is float and type(checked["batch_size"]) is int
    assert check_tuned({}, "best.json") == {}


@pytest.mark.parametrize(
    "values, key",
    [
        ({"lr": "abc"}, "params.lr"),
        ({"lr": 1e99}, "params.lr"),
        ({"lr": math.nan}, "params.lr"),
        ({"lr": None}, "params.lr"),
        ({"batch_size": 0}, "params.batch_size"),
        ({"batch_size": 2.5}, "params.batch_size"),
        ({"batch_size": True}, "params.batch_size"),
        ({"batch_size": "12"}, "params.batch_size"),
        ({"gamma": -1}, "params.gamma"),
        ({"weight_decay": math.inf}, "params.weight_decay"),
        ({"lr": 1e-4, "epochs": 3}, "params.epochs"),  # not a tunable setting
        ([1e-4, 12], "params"),
        (None, "params"),
    ],
)
def test_bad_best_json_values_name_the_file_and_key(values, key):
    with pytest.raises(ParamsError) as err:
        check_tuned(values, "runs/tune/bid/best.json")
    assert str(err.value).startswith(f"runs/tune/bid/best.json: {key}:")
    assert "\n" not in str(err.value)


def test_a_yaml_boolean_where_a_word_is_meant_says_to_quote_it(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("datasets: [synthetic]\nvariants: [ms_pmt]\nruntime: {compile: off}\n")
    with pytest.raises(ParamsError, match="runtime.compile: expected a string, got the boolean False .*quote"):
        load_params(path)


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(ParamsError, match="nope.yaml: params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [unclosed\n")
    with pytest.raises(ParamsError, match="bad.yaml: not valid YAML"):
        load_params(bad)


@pytest.mark.parametrize(
    "text, message",
    [
        ("datasets: [unclosed\n", r"not valid YAML: .*\(line 2, column 1\)"),
        ("datasets: [synthetic]\nvariants: [ms_pmt]\ntrain: {epochs: 3}\ntrain: {lr: 1.0e-3}\n",
         r"not valid YAML: key 'train' given twice \(line 4, column 1\)"),  # YAML would keep the last silently
        ("train: {epochs: 3, epochs: 4}\n", r"not valid YAML: key 'epochs' given twice"),
    ],
)
def test_malformed_yaml_is_one_line(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=f"^{tmp_path / 'p.yaml'}: {message}") as err:
        load_params(path)
    assert "\n" not in str(err.value)


def test_a_merge_key_may_be_followed_by_the_keys_it_sets(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("datasets: [synthetic]\nvariants: [ms_pmt]\nsplit: {n_splits: 3}\n"
                    "train: &t {epochs: 3, lr: 1.0e-3, crop_size: 32}\ntune: {epochs: 2}\n"
                    "overrides: {synthetic: {train: {<<: *t, epochs: 4}}}\n")
    assert load_params(path).for_dataset("synthetic").train.epochs == 4


def test_a_params_file_that_cannot_be_read_is_named(tmp_path, monkeypatch):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("datasets: [synthetic]  # qualit\u00e9\n".encode("latin-1"))
    with pytest.raises(ParamsError, match=r"latin1.yaml: not UTF-8 text \(byte 31 "):
        load_params(latin1)
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(ParamsError, match="folder.yaml: is a folder, not a params file"):
        load_params(folder)
    locked = tmp_path / "locked.yaml"
    locked.write_text("datasets: [synthetic]\n")

    def refuse(self, *args, **kwargs):  # chmod 000 does not stop root, who runs some CI
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ParamsError, match="locked.yaml: cannot read the params file: Permission denied$"):
        load_params(locked)


def test_per_dataset_overrides_apply_only_to_their_dataset():
    p = params_from_dict({
        **MINIMAL,
        "overrides": {"synthetic": {"model": {"backbone": "resnet18"}, "train": {"epochs": 3, "crop_size": 64}}},
    })
    demo = p.for_dataset("synthetic")
    assert demo.model.backbone == "resnet18" and demo.train.epochs == 3 and demo.train.crop_size == 64
    assert demo.train.batch_size == p.train.batch_size  # untouched keys keep the section's value
    assert p.for_dataset("livec").model.backbone == "resnet50"


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"synthetic": {"train": {"epochz": 3}}}, "overrides.synthetic.train.epochz"),
        ({"synthetic": {"train": {"epochs": "x"}}}, "overrides.synthetic.train.epochs"),
        ({"synthetic": {"datasets": ["bid"]}}, "overrides.synthetic.datasets"),
        ({"tid2013": {"train": {"epochs": 3}}}, "overrides.tid2013"),
        ({"synthetic": {"train": {"crop_size": 600}}}, "overrides.synthetic.train.crop_size"),
        ({"synthetic": {"augment": {"size": [40]}}}, "overrides.synthetic.augment.size"),
        ({"synthetic": {"augment": {"size": [16, 64]}}}, "overrides.synthetic.augment.size"),
        ({"synthetic": {"augment": {"size": [40, 40]}, "train": {"crop_size": 48}}}, "overrides.synthetic.augment.size"),
        ({"synthetic": {"train": {"lr": math.inf}}}, "overrides.synthetic.train.lr"),
        ({"synthetic": {"train": {"lr": 2}}}, "overrides.synthetic.train.lr"),
        ({"synthetic": {"train": {"batch_size": 1}}}, "overrides.synthetic.train.batch_size"),
        ({"synthetic": {"train": {"device": "cpu"}}}, "overrides.synthetic.train.device"),
        ({"synthetic": {"runtime": {"threads": 1}}}, "overrides.synthetic.runtime"),  # runtime is one for all
        ({"synthetic": {"split": {"seed": -1}}}, "overrides.synthetic.split.seed"),
        ({"synthetic": {"model": {"num_classes": 1}}}, "overrides.synthetic.model.num_classes"),
        ({"synthetic": {"tune": {"batch_size": [-8, -2]}}}, "overrides.synthetic.tune.batch_size"),
        ({"synthetic": {"tune": {"gamma": [0.01, math.inf]}}}, "overrides.synthetic.tune.gamma[1]"),
        ({"synthetic": {"tune": {"epochs": 31}}}, "overrides.synthetic.tune.epochs"),
        ({"synthetic": {"train": {"batch_unit": "pixels"}}}, "overrides.synthetic.train.batch_unit"),
        ({"synthetic": {"loss": {"levels": "round"}}}, "overrides.synthetic.loss.levels"),
        ({"synthetic": {"augment": {"decode": "full"}}}, "overrides.synthetic.augment.decode"),
    ],
)
def test_bad_overrides_name_the_key(overrides, key):
    with pytest.raises(ParamsError) as err:
        params_from_dict({**MINIMAL, "overrides": overrides}, source="p.yaml")
    assert str(err.value).startswith(f"p.yaml: {key}:")
    assert "(for synthetic" not in str(err.value)  # the key path says whose value it is


@pytest.mark.parametrize("raw", [
    {"train": None}, {"overrides": None}, {"overrides": {"synthetic": None}}, {"overrides": {"synthetic": {"train": None}}},
    {"custom_datasets": None}, {"download": {"sources": None}},
], ids=str)
def test_a_mapping_left_empty_is_as_if_absent(raw):
    """YAML reads a key whose entries are all commented out as null: a section, an override or a
    mapping so left means what leaving it out means, wherever it stands."""
    assert params_from_dict({**MINIMAL, **raw}).for_dataset("synthetic") == params_from_dict(MINIMAL).for_dataset("synthetic")


def test_own_size_datasets_have_no_training_size(tmp_path):
    p = params_from_dict({**MINIMAL, "datasets": ["live"], "train": {"crop_size": 600}})
    assert p.for_dataset("live").image_size is None  # its protocol keeps the images' own sizes; train checks the crop
    own = params_from_dict({**MINIMAL, "datasets": ["livec"], "overrides": {"livec": {"augment": {"size": "own"}}}})
    assert own.for_dataset("livec").image_size is None and own.for_dataset("bid").image_size == (512, 512)
    with pytest.raises(ParamsError, match="augment.size"):  # others are checked here
        params_from_dict({**MINIMAL, "datasets": ["livec"], "train": {"crop_size": 600}})


def test_protocol_values_are_the_dataset_s_own():
    p = params_from_dict({**MINIMAL, "datasets": ["bid", "livec", "koniq"]})
    assert p.augment.size == "protocol" and p.train.batch_unit == "protocol"  # as written
    assert [p.for_dataset(ds).image_size for ds in ("bid", "livec", "koniq", "csiq", "synthetic")] == \
        [(512, 512), (500, 500), (384, 512), (512, 512), (64, 64)]
    assert p.for_dataset("bid").train.batch_unit == "images" and p.for_dataset("koniq").train.batch_unit == "crops"
    mine = params_from_dict({**MINIMAL, "train": {"batch_unit": "crops", "crop_size": 64}, "augment": {"size": [300, 200]}})
    assert mine.for_dataset("bid").train.batch_unit == "crops" and mine.for_dataset("bid").image_size == (300, 200)


def test_the_authors_datasets_decode_as_their_loader_and_others_upright():
    p = params_from_dict({**MINIMAL, "augment": {"decode": "protocol"}})
    assert {ds: p.for_dataset(ds).augment.decode for ds in ("bid", "livec", "live", "csiq", "koniq", "synthetic")} == \
        {"bid": "stored", "livec": "stored", "live": "stored", "csiq": "stored", "koniq": "stored", "synthetic": "upright"}
    mine = params_from_dict({**MINIMAL, "overrides": {"bid": {"augment": {"decode": "upright"}}}})
    assert mine.for_dataset("bid").augment.decode == "upright" and mine.for_dataset("livec").augment.decode == "stored"


def test_levels_and_precision_take_their_values_per_dataset_and_for_all():
    p = params_from_dict({**MINIMAL, "runtime": {"precision": "tf32"},
                          "overrides": {"livec": {"loss": {"levels": "rounded"}}}})
    assert p.runtime.precision == "tf32"
    assert p.for_dataset("livec").loss.levels == "rounded" and p.for_dataset("bid").loss.levels == "equal"


def test_runtime_is_its_own_section():
    p = params_from_dict({**MINIMAL, "runtime": {"device": "cpu", "threads": 1, "precision": "fp32",
                                                  "compile": "default", "workers": 2}})
    assert (p.runtime.device, p.runtime.threads, p.runtime.workers) == ("cpu", 1, 2)
    assert not {"device", "threads", "compile", "precision"} & {f.name for f in dataclasses.fields(p.train)}


def test_a_value_wrong_only_beside_a_dataset_s_override_names_that_dataset():
    raw = {**MINIMAL, "overrides": {"synthetic": {"train": {"epochs": 1}}}, "tune": {"epochs": 3}}
    with pytest.raises(ParamsError, match=r"p.yaml: tune.epochs: .* \(for synthetic, with overrides.synthetic applied\)"):
        params_from_dict(raw, source="p.yaml")


@pytest.mark.parametrize(
    "raw, message",
    [
        # the override sets a value that is wrong only beside one it does not set: name that one, and whose view
        ({**MINIMAL, "overrides": {"synthetic": {"split": {"n_splits": 3}}}, "tune": {"split": 5}},
         r"p.yaml: tune.split: must name a split in 0..2 \(for synthetic, with overrides.synthetic applied\)$"),
        ({**MINIMAL, "datasets": ["synthetic"], "train": {"crop_size": 64},
          "overrides": {"synthetic": {"train": {"epochs": 3}}}, "augment": {"size": [48, 48]}},
         r"p.yaml: augment.size: .* \(for synthetic, with overrides.synthetic applied\)$"),
        # without overrides the crop check names the size it compared
        ({**MINIMAL, "datasets": ["livec"], "train": {"crop_size": 600}},
         r"p.yaml: augment.size: a train.crop_size of 600 does not fit in livec's \[500, 500\] images$"),
        # empty override sections (as the committed params.yaml has) change nothing: no dataset named
        ({**MINIMAL, "datasets": ["bid"], "train": {"crop_size": 600}, "overrides": {"bid": {"train": {}}}},
         r"p.yaml: augment.size: a train.crop_size of 600 does not fit in bid's \[512, 512\] images$"),
    ],
)
def test_a_per_dataset_check_names_where_the_bad_value_came_from(raw, message):
    with pytest.raises(ParamsError, match=message):
        params_from_dict(raw, source="p.yaml")


def test_a_dataset_that_is_not_run_need_not_fit_the_crops():
    p = params_from_dict({**MINIMAL, "augment": {"size": [64, 64]}, "train": {"crop_size": 32},
                          "overrides": {"bid": {"train": {}}}})
    assert p.for_dataset("livec").image_size == (64, 64)
    with pytest.raises(ParamsError, match="augment.size: a train.crop_size of 224 does not fit in livec's"):
        params_from_dict({**MINIMAL, "augment": {"size": [64, 64]}})


@pytest.mark.parametrize("url", ["postgresql://user:TOPSECRET@host/{data}", "postgresql://user:TOP{SECRET@host/db",
                                 "user:TOPSECRET@host/db"])
def test_a_storage_url_refused_by_its_form_never_shows_its_password(url):
    with pytest.raises(ParamsError) as err:
        params_from_dict({**MINIMAL, "runtime": {"tune_storage": url}}, source="p.yaml")
    assert str(err.value).startswith("p.yaml: runtime.tune_storage: ") and "TOPSECRET" not in str(err.value)
