"""Where the Train tab reads a run from: its live engine, or its folder on disk.

    src = LiveRun(engine)            # a run training now (this browser's, or someone's, read-only)
    src = DiskRun(path, label)       # a run that is not training: its metrics.jsonl and sample grids
    snap = src.snapshot(cursor, shown_step)
    snap["rows"], snap["cursor"], snap["status"], snap["health"], snap["samples"], src.info()

Both answer the same snapshot, so the tab draws a queued, training, paused,
finished or someone else's run with one function. A disk run re-reads its
files only when they change.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from ..checkpoint import checkpoint_step, latest_checkpoint, read_config
from ..losses import LOSSES
from ..metrics.health import HealthMonitor
from ..runs import RunDir


class LiveRun:
    def __init__(self, engine):
        self.engine = engine
        self._info: Optional[Dict[str, Any]] = None

    def snapshot(self, cursor: int, shown_step: int) -> Dict[str, Any]:
        return self.engine.snapshot(cursor, shown_step)

    def info(self) -> Dict[str, Any]:
        if self._info is None:
            self._info = self.engine.data_info()
        return self._info

    def real_points(self, n: int):
        return self.engine.real_points(n)


class DiskRun:
    def __init__(self, path: Path, label: str = "", state: str = "stopped", note: str = ""):
        self.path, self.label, self.state, self.note = Path(path), label, state, note
        self.run = RunDir(self.path, None)
        self.cfg = read_config(self.path)
        self._stamp = None
        self._rows: List[Dict] = []
        self._health = None

    def _read(self) -> None:
        try:
            st = (self.path / "metrics.jsonl").stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self._stamp, self._rows = stamp, self.run.read_metrics()
            spec = LOSSES.get(self.cfg.train.loss)
            self._health = HealthMonitor(probability=bool(spec and spec.probability))
            for r in self._rows:
                self._health.observe(r)

    def step(self) -> int:
        steps = [r["step"] for r in self._rows if "step" in r]
        ckpt = latest_checkpoint(self.run.checkpoints)
        return max(steps + ([checkpoint_step(ckpt)] if ckpt is not None else []) or [0])

    def snapshot(self, cursor: int, shown_step: int) -> Dict[str, Any]:
        self._read()
        t = self.cfg.train
        spec = LOSSES.get(t.loss)
        last = next((r for r in reversed(self._rows) if "lr_g" in r), {})
        ckpt = latest_checkpoint(self.run.checkpoints)
        status = {"state": self.state, "error": self.note, "step": self.step(), "steps": t.steps,
                  "device": "", "steps_per_s": 0.0, "images_per_s": 0.0, "eta_s": None,
                  "lr_g": last.get("lr_g", t.lr_g), "lr_d": last.get("lr_d", t.lr_d),
                  "n_critic": int(last.get("n_critic", t.n_critic)), "loss": t.loss, "optimizer": t.optimizer,
                  "probability": bool(spec and spec.probability), "run_dir": self.label or str(self.path),
                  "checkpoint": str(ckpt) if ckpt is not None else None, "batch_size": t.batch_size}
        samples = None
        steps = self.run.sample_steps()
        if ckpt is not None and _point_set(self.cfg.data.name):
            # a 2-D run: its fixed-noise points from the checkpoint, drawn as the live run draws them (axes,
            # title, legend), not the saved picture of them
            step = checkpoint_step(ckpt)
            if step != shown_step:
                samples = (step, self._points(ckpt))
        elif steps and steps[-1] != shown_step:
            from PIL import Image
            try:
                with Image.open(self.run.sample_path(steps[-1])) as im:
                    samples = (steps[-1], im.convert("RGB"))
            except OSError:                          # being replaced this very moment: the next poll shows it
                samples = None
        return {"rows": self._rows[cursor:], "cursor": len(self._rows), "status": status,
                "health": self._health.findings() if self._health else [], "samples": samples}

    def info(self) -> Dict[str, Any]:
        shape = None
        ckpt = latest_checkpoint(self.run.checkpoints)
        if ckpt is not None:
            try:
                shape = json.loads((ckpt / "state.json").read_text()).get("sample_shape")
            except (OSError, ValueError):
                shape = None
        is_image = len(shape) == 3 if shape else not _point_set(self.cfg.data.name)
        return {"name": self.cfg.data.name, "note": self.cfg.data.name, "items": 0, "is_image": is_image,
                "shape": tuple(shape or ()), "skipped": 0, "classes": [], "sample_nrow": None}

    def _points(self, ckpt: Path):
        """G's points for the run's fixed noise (the trainer's own draw: seed + 2), [n, 2], from ``ckpt``."""
        from ..sampling import load_generator
        from ..trainer import draw_noise
        G, cfg, _ = load_generator(ckpt)
        t = cfg.train
        z = draw_noise(t.n_samples, G.z_dim, cfg.model.z_dist, torch.Generator().manual_seed(t.seed + 2))
        with torch.no_grad():
            return G.eval()(z).cpu()

    def real_points(self, n: int):
        """A few hundred of the set's points, for the scatter under G's (None for image sets)."""
        if not _point_set(self.cfg.data.name):
            return None
        try:
            from ..data import load_dataset
            return load_dataset(self.cfg.data, seed=self.cfg.train.seed).x[:n]
        except Exception:                               # a drawing's file gone: the scatter shows G's points alone
            return None


def _point_set(name: str) -> bool:
    from ..data import DATASETS
    key = name.strip().partition(":")[0] + (":" if ":" in name else "")
    return key in DATASETS and DATASETS.get(key).__module__.endswith(".toys")
