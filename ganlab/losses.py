"""GAN losses as pure functions of D's logits, and a table of them by name.

Each entry pairs a discriminator loss ``d(real, fake, smooth)`` with a
generator loss ``g(fake)``; ``real`` and ``fake`` are ``[B]`` logits.
``smooth`` is one-sided label smoothing: the real target becomes 1 - smooth
(Salimans et al. 2016); losses without a target ignore it.

Adding a loss means adding two functions and one ``LOSSES`` entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn.functional as F

from .errors import GanlabError


def d_bce(real: torch.Tensor, fake: torch.Tensor, smooth: float = 0.0) -> torch.Tensor:
    # maximize log(D(x)) + log(1 - D(G(z)))  ==  minimize BCE(real, 1) + BCE(fake, 0)
    target = torch.full_like(real, 1.0 - smooth)
    return F.binary_cross_entropy_with_logits(real, target) + F.softplus(fake).mean()


def g_minimax(fake: torch.Tensor) -> torch.Tensor:
    # minimize log(1 - D(G(z))) = -softplus(logit): saturates when D rejects G's samples
    return -F.softplus(fake).mean()


def g_nonsaturating(fake: torch.Tensor) -> torch.Tensor:
    # maximize log(D(G(z)))  ==  minimize softplus(-logit)
    return F.softplus(-fake).mean()


def d_least_squares(real: torch.Tensor, fake: torch.Tensor, smooth: float = 0.0) -> torch.Tensor:
    # LSGAN (Mao et al. 2017): 1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2
    return 0.5 * ((real - (1.0 - smooth)) ** 2).mean() + 0.5 * (fake ** 2).mean()


def g_least_squares(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((fake - 1.0) ** 2).mean()


def d_wasserstein(real: torch.Tensor, fake: torch.Tensor, smooth: float = 0.0) -> torch.Tensor:
    # maximize E[D(x)] - E[D(G(z))] (Arjovsky et al. 2017)
    return fake.mean() - real.mean()


def g_wasserstein(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def d_hinge(real: torch.Tensor, fake: torch.Tensor, smooth: float = 0.0) -> torch.Tensor:
    # E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] (Lim & Ye 2017; Miyato et al. 2018)
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def gradient_penalty(D: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)|| - 1)^2] on random interpolates.

    ``alpha`` is ``[B]`` in [0, 1], passed in so the caller owns the randomness.
    """
    a = alpha.view(-1, *([1] * (real.dim() - 1)))
    x_hat = (a * real + (1 - a) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(d_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E[||grad_x D(x)||^2] on real images; ``real`` must require grad."""
    (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


@dataclass(frozen=True)
class LossSpec:
    d: Callable[..., torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]
    help: str
    probability: bool = False         # D's output is a logit of P(real): report sigmoid
    clip_weights: bool = False        # WGAN: clip D's weights after each step
    gradient_penalty: bool = False    # WGAN-GP


LOSSES: Dict[str, LossSpec] = {
    "minimax": LossSpec(d_bce, g_minimax, "original minimax BCE (G saturates)", probability=True),
    "ns": LossSpec(d_bce, g_nonsaturating, "non-saturating BCE", probability=True),
    "lsgan": LossSpec(d_least_squares, g_least_squares, "least squares"),
    "wgan": LossSpec(d_wasserstein, g_wasserstein, "Wasserstein with weight clipping", clip_weights=True),
    "wgan-gp": LossSpec(d_wasserstein, g_wasserstein, "Wasserstein with gradient penalty",
                        gradient_penalty=True),
    "hinge": LossSpec(d_hinge, g_wasserstein, "hinge"),
}


def get_loss(name: str) -> LossSpec:
    if name not in LOSSES:
        raise GanlabError(f"Unknown loss {name!r}; choose one of: {', '.join(LOSSES)}.")
    return LOSSES[name]


def describe_losses() -> List[Tuple[str, str]]:
    return [(name, spec.help) for name, spec in LOSSES.items()]


def mode_seeking(x1: torch.Tensor, x2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor,
                 eps: float = 1e-5) -> torch.Tensor:
    """MSGAN's mode-seeking term (Mao et al. 2019): small when two noises given the same condition
    give images as far apart as the noises are, large when G ignores the noise (one image per prompt)."""
    ratio = (x1 - x2).abs().mean() / (z1 - z2).abs().mean()
    return 1.0 / (ratio + eps)


# ---- class losses of the classifier-based conditional families -----------------------------------
# D's class output for a batch, and the classes asked for [B], to a scalar. ACGAN's D gives class
# logits [B, K]; ReACGAN's gives (its unit embedding of each image [B, E], the unit proxy of each
# image's class [B, E]).

def class_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # ACGAN (Odena et al. 2017): maximize log P(class = y | x)
    return F.cross_entropy(logits, y)


def data_to_data_cross_entropy(out: Tuple[torch.Tensor, torch.Tensor], y: torch.Tensor,
                               tau: float = 0.5, margin: float = 0.98) -> torch.Tensor:
    """ReACGAN's D2D-CE (Kang et al. 2021): each embedding is pulled to its class proxy and pushed
    from the other-class images in the batch, through unit vectors (no exploding gradients).

        loss_i = -log( e^{s(e_i, v_yi)} / (e^{s(e_i, v_yi)} + sum_{j: yj != yi} e^{s(e_i, e_j)}) )

    with cosine similarities over ``tau``, and two margins that stop the easy pairs from adding
    gradient: a proxy pull stops once its cosine passes ``margin``, and a push once the cosine falls
    below 1 - ``margin``.
    """
    emb, proxy = out                                                   # [B, E] each, unit rows
    pull = F.relu(margin - (emb * proxy).sum(1)) / tau                # [B]: -s(e_i, v_yi), clipped at 0
    push = F.relu(emb @ emb.T - (1.0 - margin)) / tau                 # [B, B]: s(e_i, e_j), floored at 0
    others = y[:, None] != y[None, :]                                  # the negatives: other classes only
    terms = torch.cat([-pull[:, None], push.masked_fill(~others, float("-inf"))], 1)
    return (pull + torch.logsumexp(terms, 1)).mean()


CLASS_LOSSES: Dict[str, Callable] = {"cross-entropy": class_cross_entropy, "d2d-ce": data_to_data_cross_entropy}
