"""The fault loop (kill_loop.py, run by hand for minutes) compares a killed-and-resumed run with an
uninterrupted one: the same numbers in every column but the timings, found by their names."""
from tests.faults.kill_loop import history_without_timings, result

HEADER = "epoch,lambda1,loss,l1,ce,target,lr,test_srcc,test_plcc,seconds,scoring_seconds\n"


def split_folder(root, loss: float, seconds: float):
    split = root / "runs/train/synthetic/ms_pmt/split0"
    split.mkdir(parents=True)
    (split / "metrics.json").write_text('{"final": {"srcc": 0.5}}')
    (split / "history.csv").write_text(HEADER + f"1,1.0,{loss},0.2,2.3,published,0.001,0.5,0.6,{seconds},0.7\n")
    return root


def test_runs_that_differ_only_in_their_timings_give_the_same_result(tmp_path):
    one = split_folder(tmp_path / "one", loss=0.25, seconds=1.5)
    other = split_folder(tmp_path / "other", loss=0.25, seconds=9.0)
    assert result(one, "train") == result(other, "train")
    assert "seconds" not in history_without_timings(one / "runs/train/synthetic/ms_pmt/split0/history.csv")[0]


def test_a_different_loss_is_a_different_result(tmp_path):
    assert result(split_folder(tmp_path / "one", 0.25, 1.5), "train") != \
        result(split_folder(tmp_path / "other", 0.26, 1.5), "train")
