"""Scores snapshots of G in the background, so that training and the UI never wait for Inception.

    evaluator = Evaluator()                       # one per process: the app shares it between all runs
    evaluator.submit(EvalJob(owner=engine_id, step=500, G=copy_of_G, data=cfg.data, n=1000,
                             on_result=engine_callback))
    evaluator.close()

One worker thread takes jobs in order. Each engine has at most one job
waiting: a newer snapshot replaces an older one that has not started, so a
slow CPU falls behind gracefully instead of queueing without end. The
Inception network is loaded once, on first use, and reference features are
cached on disk by :func:`ganlab.metrics.reference.reference_features` and
in memory here.

A result row holds ``step``, ``fid``, ``kid``, ``precision``, ``recall``,
``density``, ``coverage``, ``eval_n``, ``eval_seconds`` and, for sets with a
shipped classifier, ``class_entropy`` and ``class_hist`` (and, for a
conditional G, ``class_agreement``: how often the classifier sees the class G
was asked for). A failure becomes a
row with ``eval_error``: evaluation never stops training.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import nn

from ..config import DataConfig
from ..errors import GanlabError

log = logging.getLogger(__name__)


@dataclass
class EvalJob:
    owner: int                              # id of the engine that asked; one waiting job per owner
    step: int
    G: nn.Module                            # a frozen copy, owned by the job from now on
    data: DataConfig
    n: int
    on_result: Callable[[Dict], None]
    split: str = "test"
    seed: int = 0
    extra: Dict = field(default_factory=dict)


class Evaluator:
    def __init__(self, device: Optional[str] = None):
        self.device = device
        self._cond = threading.Condition()
        self._waiting: Dict[int, EvalJob] = {}        # owner -> newest job not yet started
        self._order: list = []                        # owners in arrival order
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        self._net = None
        self._refs: Dict[Tuple, Tuple[torch.Tensor, str]] = {}
        self.busy_owner: Optional[int] = None

    # ---- any thread -----------------------------------------------------------------
    def submit(self, job: EvalJob) -> None:
        with self._cond:
            if self._closed:
                return
            if job.owner not in self._waiting:
                self._order.append(job.owner)
            self._waiting[job.owner] = job            # replaces a stale snapshot of the same run
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="ganlab-evaluator", daemon=True)
                self._thread.start()
            self._cond.notify()

    def cancel(self, owner: int) -> None:
        with self._cond:
            if self._waiting.pop(owner, None) is not None:
                self._order.remove(owner)

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._waiting.clear()
            self._order.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def pending(self, owner: int) -> bool:
        """True while ``owner`` has a job waiting or being scored."""
        with self._cond:
            return owner in self._waiting or self.busy_owner == owner

    # ---- the worker -------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                owner = self._order.pop(0)
                job = self._waiting.pop(owner)
                self.busy_owner = owner
            try:
                row = self.evaluate(job)
            except GanlabError as e:
                row = {"step": job.step, "eval_error": str(e)}
            except Exception as e:                       # a bug must not kill the evaluator for everyone
                log.exception("evaluation failed")
                row = {"step": job.step, "eval_error": f"{type(e).__name__}: {e}"}
            finally:
                with self._cond:
                    self.busy_owner = None
            try:
                job.on_result(row)
            except Exception:
                log.exception("evaluation callback failed")

    def _inception(self, device: torch.device):
        from ..metrics.inception import InceptionFeatures
        if self._net is None:
            self._net = InceptionFeatures.load(str(device))
        elif self._net.device != device:
            self._net = self._net.to(device)
        return self._net

    def _reference(self, net, data: DataConfig, split: str, n: int):
        from ..metrics.reference import reference_features
        key = (repr(replace(data, download=True)), split, n)
        if key not in self._refs:
            self._refs[key] = reference_features(data, split, n, net, progress=False)
        return self._refs[key]

    def evaluate(self, job: EvalJob) -> Dict:
        """Score one snapshot now, on this thread (also used directly by tests)."""
        from ..metrics.classifier import class_histogram, classifier_for, histogram_entropy
        from ..metrics.reference import generated_images
        from ..metrics.scores import fid, kid, prdc
        t0 = time.perf_counter()
        device = torch.device(self.device) if self.device else next(job.G.parameters()).device
        net = self._inception(device)
        real, _ = self._reference(net, job.data, job.split, job.n)
        k = getattr(job.G, "num_classes", 0)
        labels = torch.arange(len(real)) % k if k else None            # every class equally often
        images = generated_images(job.G, len(real), seed=job.seed, labels=labels)
        fake = net.features(images)
        row = {"step": job.step, "fid": fid(real, fake), **kid(real, fake, subsets=20, subset_size=min(500, len(real)))}
        row.update(prdc(real, fake))
        clf = classifier_for(job.data.name) if images.shape[-1] == 28 else None
        if clf is not None:
            hist = class_histogram(clf, images)
            row.update(class_entropy=histogram_entropy(hist), class_hist=hist)
            if labels is not None:                                      # conditional: did G draw what was asked?
                row["class_agreement"] = float((clf.predict(images) == labels).float().mean())
        row.update(eval_n=len(real), eval_seconds=time.perf_counter() - t0)
        return row
