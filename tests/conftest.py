import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from ganlab.data import DataSource  # noqa: E402


@pytest.fixture
def tiny_images():
    """A seeded random image set: ``tiny_images(channels, side, n)``."""
    def make(channels=1, side=28, n=64):
        g = torch.Generator().manual_seed(0)
        x = torch.rand(n, channels, side, side, generator=g) * 2 - 1
        return DataSource(f"tiny{side}", x, labels=torch.arange(n) % 4, class_names=list("abcd"))
    return make


@pytest.fixture
def one_torch_thread():
    """Engines train in background threads; one intra-op thread keeps a busy 2-core box responsive."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
