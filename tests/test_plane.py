"""The 2-D playground's views, checked on hand-set linear nets where the answer is known."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from ganlab.losses import LOSSES
from ganlab.plane import d_heatmap, divergences, generator_gradients, manifold_lines, noise_grid

W = torch.tensor([2.0, -1.0])
B = 0.5


class LinearD(nn.Module):
    """D(x) = w . x + b"""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)
        with torch.no_grad():
            self.lin.weight.copy_(W[None])
            self.lin.bias.fill_(B)

    def forward(self, x):
        return self.lin(x).squeeze(1)


class LinearG(nn.Module):
    """G(z) = A z + c"""

    def __init__(self, z_dim):
        super().__init__()
        self.z_dim = z_dim
        self.lin = nn.Linear(z_dim, 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[1.0, 0.5], [0.0, 2.0]])[:, :z_dim])
            self.lin.bias.copy_(torch.tensor([0.1, -0.2]))

    def forward(self, z):
        return self.lin(z)


def test_heatmap_of_a_linear_d():
    axis, heat = d_heatmap(LinearD(), LOSSES["ns"], n=5, box=1.0)
    assert np.allclose(axis, [-1, -0.5, 0, 0.5, 1])
    for i, y in enumerate(axis):          # rows run along y, columns along x
        for j, x in enumerate(axis):
            expect = 1 / (1 + math.exp(-(2 * x - y + B)))
            assert heat[i, j] == pytest.approx(expect, abs=1e-6)
    _, raw = d_heatmap(LinearD(), LOSSES["wgan"], n=5, box=1.0)
    assert raw[0, 4] == pytest.approx(2 * 1 - (-1) + B, abs=1e-6)   # raw critic score, no sigmoid


def test_generator_gradients_point_where_g_loss_falls():
    fake = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-3.0, 0.5]])
    # Wasserstein / hinge G loss -mean D(x): every point is pushed along w, whatever its place
    g = generator_gradients(LinearD(), LOSSES["wgan"], fake)
    assert np.allclose(g, np.tile(W.numpy(), (3, 1)), atol=1e-6)
    # non-saturating: push along w scaled by 1 - sigmoid(D(x)) = sigmoid(-D(x))
    g = generator_gradients(LinearD(), LOSSES["ns"], fake)
    d = fake @ W + B
    assert np.allclose(g, torch.sigmoid(-d)[:, None].numpy() * W.numpy(), atol=1e-6)
    # minimax saturates where D rejects the fake (D(x) << 0): its push is sigmoid(D(x)) w, tiny
    g = generator_gradients(LinearD(), LOSSES["minimax"], fake)
    assert np.allclose(g, torch.sigmoid(d)[:, None].numpy() * W.numpy(), atol=1e-6)
    assert np.linalg.norm(g[2]) < 0.01 < np.linalg.norm(generator_gradients(LinearD(), LOSSES["ns"], fake)[2])


@pytest.mark.parametrize("dist", ["uniform", "gaussian"])
def test_manifold_of_a_linear_g(dist):
    G = LinearG(2)
    lines = manifold_lines(G, dist, lines=3, points=5)
    grid = noise_grid(dist, 2, lines=3, points=5)
    assert len(lines) == 6 and all(line.shape == (5, 2) for line in lines)
    for z, line in zip(grid, lines):
        expect = z @ torch.tensor([[1.0, 0.5], [0.0, 2.0]]).T + torch.tensor([0.1, -0.2])
        assert np.allclose(line, expect.numpy(), atol=1e-6)
    # the quantile grid spans equal probability: uniform noise spans [-0.96, 0.96]
    if dist == "uniform":
        assert grid[0][:, 0].min().item() == pytest.approx(-0.96)
    one = manifold_lines(LinearG(1), dist, points=7)
    assert len(one) == 1 and one[0].shape == (7, 2)
    assert np.allclose(np.diff(one[0][:, 1]), 0, atol=1e-6)      # 1-D noise -> a straight horizontal segment


def test_divergences():
    g = torch.Generator().manual_seed(0)
    a = 0.1 * torch.randn(4000, 2, generator=g)
    b = 0.1 * torch.randn(4000, 2, generator=g)
    far = 0.1 * torch.randn(4000, 2, generator=g) + torch.tensor([0.8, 0.8])
    same, apart = divergences(a, b), divergences(a, far)
    assert same["js"] < 0.02 and same["kl"] < 0.1
    assert apart["js"] == pytest.approx(math.log(2), abs=0.01)    # disjoint supports: JS = ln 2
    assert apart["kl"] > 10
    half = divergences(a, torch.cat([b[:2000], far[:2000]]))
    assert same["js"] < half["js"] < apart["js"]
