"""Training health: plain-language diagnoses, each with a suggested fix.

    monitor = HealthMonitor(probability=True)      # BCE losses report D's outputs as probabilities
    monitor.observe(row)                           # every metrics row (losses, D outputs, grad norms,
                                                   # diversity, fid, recall, class_entropy)
    monitor.event("nan", "...")                    # the engine reports what it did about a NaN
    for f in monitor.findings(): print(f.title, f.detail, f.fix)

Each check is a small pure function of the recent values of each signal (a
signal is judged only on the rows that carry it, see :func:`series`), so the
thresholds are visible and testable:

- **NaN or inf** (reported by the engine, which rolls back and lowers the learning rates);
- **mode collapse**: G's samples far less varied than real data (within-batch
  diversity), recall falling, or the class histogram of a labelled set collapsing;
- **D is winning**: D(x) near 1 and D(G(z)) near 0 while G's gradient shrinks;
- **no progress**: the FID estimate flat or rising over a long stretch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

COLLAPSE_DIVERSITY = 0.35      # fake diversity / real diversity under this: collapse
COLLAPSE_WARMUP = 2000         # steps after which low diversity is collapse even if it never rose
COLLAPSE_ENTROPY = 0.6         # normalised class-histogram entropy under this: classes dropped
RECALL_DROP = 0.5              # recall below this share of its best: collapse
LOW_RECALL = 0.3               # a latest recall under this: say G covers little of the data (not "healthy")
D_WIN_REAL, D_WIN_FAKE = 0.9, 0.1
GRAD_VANISH = 0.1              # G's gradient norm under this share of its early median
PLATEAU_EVALS = 5              # FID evaluations without a 2% improvement: no progress


@dataclass(frozen=True)
class Finding:
    kind: str                   # nan | collapse | d_wins | plateau | ok
    level: str                  # info | warning | alarm
    title: str
    detail: str
    fix: str
    step: int = 0


def diversity(x: torch.Tensor, max_items: int = 256) -> float:
    """Mean pairwise L2 distance between items of a batch (images or points), on up to ``max_items``."""
    x = x[:max_items].flatten(1).float()
    if len(x) < 2:
        return 0.0
    d = torch.cdist(x, x)
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


def relative_diversity(x: torch.Tensor, real: torch.Tensor) -> float:
    """diversity(x) over the diversity of real images of the same kind: 1 = as varied as the real ones."""
    return diversity(x) / max(diversity(real), 1e-8)


# the signals the checks read; each is judged on its own recent history, never on "the last k rows"
SIGNALS = ("diversity", "class_entropy", "recall", "fid", "d_real", "d_fake", "grad_norm_g")
Series = Dict[str, List[Tuple[int, float]]]       # signal -> (step, value) of the rows carrying it, oldest first


def series(rows: Sequence[Dict]) -> Series:
    """Each signal's history: only the rows that carry it (with a finite value) count.

    Rows carry different signals: diversity comes only after a sample refresh, and
    the evaluator's rows bring fid, recall and class_entropy but no losses. A check
    that looked at the last few *rows* would see a signal come and go with the
    row mix; looking at the last few *values* of each, a row without a signal
    cannot change the verdict about it.
    """
    out: Series = {}
    for row in rows:
        _add(out, row)
    return out


def _add(s: Series, row: Dict, keep: Optional[int] = None) -> None:
    for key in SIGNALS:
        v = row.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            s.setdefault(key, []).append((row.get("step", 0), float(v)))
            if keep is not None:
                del s[key][:-keep]


def _as_series(rows) -> Series:
    return rows if isinstance(rows, dict) else series(rows)


def _mean(points: Sequence[Tuple[int, float]]) -> float:
    return sum(v for _, v in points) / len(points)


def check_collapse(rows, window: int = 5) -> Optional[Finding]:
    """Diversity that *fell* (a fresh G starts out bland, which is not collapse), or that never rose
    after COLLAPSE_WARMUP steps; a class histogram that lost most classes; falling recall.

    ``rows`` are metrics rows, or their :func:`series`; each signal's last ``window`` values are judged.
    """
    s = _as_series(rows)
    div = s.get("diversity", [])[-window:]
    if div:
        mean = _mean(div)
        fell = max(v for _, v in s["diversity"]) >= 2 * COLLAPSE_DIVERSITY
        late = div[-1][0] >= COLLAPSE_WARMUP
        if mean < COLLAPSE_DIVERSITY and (fell or late):
            return Finding("collapse", "alarm", "Mode collapse: G's samples look alike",
                           f"The fixed-noise samples are only {100 * mean:.0f}% as varied as a real batch.",
                           "Add minibatch std, switch to WGAN-GP or hinge + spectral norm, or lower lr G.",
                           div[-1][0])
    ent = s.get("class_entropy", [])[-window:]
    if ent and _mean(ent) < COLLAPSE_ENTROPY:
        return Finding("collapse", "alarm", "Mode collapse: some classes are missing",
                       f"The classifier finds few classes among G's samples (histogram entropy "
                       f"{_mean(ent):.2f} of 1).", "Add minibatch std or a conditional model, or lower lr G.",
                       ent[-1][0])
    recalls = s.get("recall", [])
    best = max((v for _, v in recalls), default=0.0)
    if len(recalls) >= 3 and best > 0.05 and recalls[-1][1] < RECALL_DROP * best:
        return Finding("collapse", "warning", "Recall is falling: G covers less of the data",
                       f"Recall fell from {best:.2f} to {recalls[-1][1]:.2f}.",
                       "Roll back to an earlier checkpoint and add minibatch std or lower lr G.",
                       recalls[-1][0])
    return None


def check_coverage(rows) -> Optional[Finding]:
    """The latest recall estimate is low: G draws only part of what the data holds (early on, or narrowly)."""
    recalls = _as_series(rows).get("recall", [])
    if recalls and recalls[-1][1] < LOW_RECALL:
        step, r = recalls[-1]
        return Finding("coverage", "info", "G covers little of the data so far",
                       f"Recall {r:.2f}: most real images have no generated image near them (a healthy run on "
                       f"this kind of set reaches {LOW_RECALL:.1f} and more).",
                       "Train longer; if recall stays low, add minibatch std or lower lr G.", step)
    return None


def check_d_wins(rows, probability: bool, window: int = 10) -> Optional[Finding]:
    """D(x) near 1 and D(G(z)) near 0 while G's gradient fell far below its early median."""
    s = _as_series(rows)
    g = s.get("grad_norm_g", [])
    d_real, d_fake = s.get("d_real", [])[-window:], s.get("d_fake", [])[-window:]
    if not probability or len(g) < 2 * window or not d_real or not d_fake:
        return None
    early = sorted(v for _, v in g[:max(window, len(g) // 4)])
    g_ref, g_now = early[len(early) // 2], _mean(g[-window:])
    real, fake = _mean(d_real), _mean(d_fake)
    if real > D_WIN_REAL and fake < D_WIN_FAKE and g_ref > 0 and g_now < GRAD_VANISH * g_ref:
        return Finding("d_wins", "warning", "D is winning and G's gradient is vanishing",
                       f"D(x) = {real:.2f}, D(G(z)) = {fake:.2f}, and G's gradient is "
                       f"{100 * g_now / g_ref:.0f}% of its early size.",
                       "Use the non-saturating loss (ns), lower lr D or n_critic, or add label smoothing "
                       "or instance noise.", max(d_real[-1][0], d_fake[-1][0], g[-1][0]))
    return None


def check_plateau(rows, evals: int = PLATEAU_EVALS) -> Optional[Finding]:
    fids = _as_series(rows).get("fid", [])
    if len(fids) < evals + 1:
        return None
    best_before = min(f for _, f in fids[:-evals])
    recent = [f for _, f in fids[-evals:]]
    if min(recent) > 0.98 * best_before:
        rising = recent[-1] > 1.1 * best_before
        what = "rising" if rising else "flat"
        return Finding("plateau", "warning", f"No progress: the FID estimate is {what}",
                       f"The best FID so far is {best_before:.1f}; the last {evals} estimates were "
                       f"{', '.join(f'{f:.1f}' for f in recent)}.",
                       "Stop here and keep the best checkpoint, or lower both learning rates (TTUR: D faster "
                       "than G) and turn on EMA.", fids[-1][0])
    return None


class HealthMonitor:
    """Collects rows and engine events; ``findings()`` is the current diagnosis, newest problems first."""

    def __init__(self, probability: bool = True, max_rows: int = 5000):
        self.probability = probability
        self.series: Series = {}
        self.events: List[Finding] = []
        self.max_rows = max_rows                   # values kept per signal, so sparse ones are not crowded out

    def observe(self, row: Dict) -> None:
        _add(self.series, row, keep=self.max_rows)

    def event(self, kind: str, title: str, detail: str, fix: str, step: int, level: str = "alarm") -> None:
        self.events.append(Finding(kind, level, title, detail, fix, step))
        del self.events[:-20]

    def findings(self) -> List[Finding]:
        out = list(reversed(self.events[-3:]))
        for check in (check_collapse(self.series), check_d_wins(self.series, self.probability),
                      check_plateau(self.series)):
            if check is not None:
                out.append(check)
        if not any(f.kind == "collapse" for f in out):
            check = check_coverage(self.series)
            if check is not None:
                out.append(check)
        return out


def health_markdown(findings: Sequence[Finding]) -> str:
    """The findings as the Train tab shows them; a calm line when there are none."""
    if not findings:
        return "✅ **Healthy so far**: no NaNs, no sign of mode collapse, D is not overpowering G."
    icon = {"alarm": "🛑", "warning": "⚠️", "info": "ℹ️"}
    return "\n\n".join(f"{icon.get(f.level, '•')} **{f.title}** (step {f.step:,}). {f.detail} "
                       f"*Try:* {f.fix}" for f in findings)
