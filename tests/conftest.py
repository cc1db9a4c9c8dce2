"""Fixtures more than one test module uses (small trained models, the TF32 switches kept), and the
order tests start in."""
import pytest
import torch

from pmtiqa.training.split_run import train_split
from tests.builders.training import tiny_data, tiny_own_size_data, tiny_settings


def trained(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("run")
    settings, runtime = tiny_settings(epochs=1)
    train_split(settings, data, runtime, out, progress=False)
    return out / "model.pt"


@pytest.fixture(scope="session")
def model_pt(tmp_path_factory):
    """A model.pt of one epoch on 40x40 images (32-pixel crops)."""
    return trained(tmp_path_factory, tiny_data())


@pytest.fixture(scope="session")
def own_size_model_pt(tmp_path_factory):
    """A model of a dataset whose images kept their own sizes (augment.size own)."""
    return trained(tmp_path_factory, tiny_own_size_data())


@pytest.fixture
def tf32_flags():
    """CUDA's two TF32 switches as a pair (matmul, convolution), put back after the test: they are
    process-wide."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield lambda: (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def pytest_collection_modifyitems(items):
    """The slow tests first: `make test` shares them out among its workers (pytest-xdist) as they come,
    so the longest ones start at once and the quick ones fill the time beside them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
