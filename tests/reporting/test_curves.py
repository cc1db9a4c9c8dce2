"""reports/curves/<quantity>.csv, the training curves as numbers: a row per dataset, variant and epoch."""
import pandas as pd
import pytest

from pmtiqa.reporting.curves import QUANTITIES, write_curves


def history(split: int, with_val: bool, multitask: bool) -> pd.DataFrame:
    epochs = [1, 2, 3]
    lambda1 = [0.0, 0.5, 1.0] if multitask else [1.0, 1.0, 1.0]
    table = pd.DataFrame({"epoch": epochs, "lambda1": lambda1, "lambda2": [1 - x for x in lambda1],
                          "loss": 1.0, "l1": [3.0 + split, 2.0 + split, 1.0 + split], "ce": 2.3,
                          "test_srcc": [0.1 * e + 0.01 * split for e in epochs]})
    if with_val:
        table["val_srcc"] = [0.2 * e for e in epochs]
    return table


def results(with_val: dict[str, bool]) -> dict:
    return {ds: {"variants": {v: {"histories": [history(k, val, v == "ms_pmt") for k in range(3)]}
                              for v in ("baseline", "ms_pmt")}}
            for ds, val in with_val.items()}


def test_one_long_file_per_quantity(tmp_path):
    write_curves(results({"livec": True, "bid": False}), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{q}.csv" for q in QUANTITIES)
    l1 = pd.read_csv(tmp_path / "l1.csv")
    assert list(l1.columns) == ["dataset", "variant", "epoch", "l1"]
    assert len(l1) == 2 * 2 * 3  # datasets x variants x epochs
    # the median over the three splits (l1 = 3 - epoch + split, split 0..2): the middle split's
    livec = l1[(l1["dataset"] == "livec") & (l1["variant"] == "ms_pmt")]
    assert livec["epoch"].tolist() == [1, 2, 3] and livec["l1"].tolist() == pytest.approx([4.0, 3.0, 2.0])


@pytest.mark.parametrize("quantity, rows", [
    ("val_srcc", {("livec", "baseline"), ("livec", "ms_pmt")}),  # bid's splits have no validation part
    ("ce", {("livec", "ms_pmt"), ("bid", "ms_pmt")}),  # baseline computes CE but never trains on it
    ("test_srcc", {(ds, v) for ds in ("livec", "bid") for v in ("baseline", "ms_pmt")}),
])
def test_only_runs_that_have_the_quantity(tmp_path, quantity, rows):
    write_curves(results({"livec": True, "bid": False}), tmp_path)
    table = pd.read_csv(tmp_path / f"{quantity}.csv")
    assert set(zip(table["dataset"], table["variant"])) == rows


def test_a_quantity_no_run_has_keeps_its_header(tmp_path):
    write_curves(results({"bid": False}), tmp_path)
    assert (tmp_path / "val_srcc.csv").read_text().splitlines() == ["dataset,variant,epoch,val_srcc"]
