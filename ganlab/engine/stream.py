"""A run's metrics stream: per-step metrics averaged into rows, read by many threads, written to disk in batches.

    stream = MetricsStream(run.read_metrics(), on_row=health.observe)
    stream.add_step(m)            # the worker, every step
    stream.log_window()           # every log_every steps: the steps since the last row become one row
    stream.append(row)            # a row from elsewhere (the evaluator's FID scores)
    rows, cursor = stream.since(cursor)
    stream.flush(run)             # pending rows to metrics.jsonl

The rows live in memory (for every reader) and are appended to the run's
metrics.jsonl once a second by the worker, so a crash loses at most a second.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch


class MetricsStream:
    def __init__(self, rows: List[Dict], on_row: Optional[Callable[[Dict], None]] = None):
        self._lock = threading.Lock()
        self._new_rows = threading.Condition(self._lock)
        self._file_lock = threading.Lock()          # one writer of metrics.jsonl at a time
        self._rows: List[Dict] = list(rows)
        self._pending: List[Dict] = []              # rows not yet written to metrics.jsonl
        self._window: List[Dict] = []               # per-step metrics since the last row (worker only)
        self._on_row = on_row
        self.diversity: Optional[float] = None       # measured at the last sample refresh, for the next row

    # ---- the worker -------------------------------------------------------------------------------
    def add_step(self, m: Dict) -> None:
        self._window.append(m)

    def drop_window(self) -> None:
        """The steps since the last row were undone (a NaN rollback)."""
        self._window = []

    def settle(self, keys=("loss_d", "loss_g")) -> Optional[Tuple[str, float, int]]:
        """Turn the window's tensor metrics (a trainer with ``defer_metrics``) into floats with one device sync
        for all of them; returns the first non-finite of ``keys`` as (key, value, step), or None."""
        where = [(r, k) for r in self._window for k, v in r.items() if isinstance(v, torch.Tensor)]
        if where:
            dev = next((r[k].device for r, k in where if r[k].device.type != "cpu"), torch.device("cpu"))
            values = torch.stack([r[k].detach().float().reshape(()).to(dev) for r, k in where]).tolist()
            for (r, k), v in zip(where, values):
                r[k] = v
        for r in self._window:
            for k in keys:
                if k in r and not math.isfinite(r[k]):
                    return k, r[k], r["step"]
        return None

    def last_step(self) -> Optional[Dict]:
        """The newest step's metrics in the window (a copy), or None."""
        return dict(self._window[-1]) if self._window else None

    @property
    def has_window(self) -> bool:
        return bool(self._window)

    def log_window(self) -> None:
        """Average the steps since the last row into one row of the stream."""
        w, self._window = self._window, []
        if not w:
            return
        keys = {k for r in w for k in r} - {"step", "images", "seconds"}   # a loss swap adds or drops keys
        row = {}
        for k in sorted(keys):
            vals = [r[k] for r in w if k in r]
            row[k] = sum(vals) / len(vals)
        row.update(step=w[-1]["step"], images=sum(r["images"] for r in w),
                   seconds=sum(r["seconds"] for r in w), time=time.time())
        if self.diversity is not None:
            row["diversity"], self.diversity = self.diversity, None
        self.append(row)

    def append(self, row: Dict) -> None:
        """Add a finished row (any thread)."""
        with self._new_rows:
            self._rows.append(row)
            self._pending.append(row)
            if self._on_row is not None:
                self._on_row(row)
            self._new_rows.notify_all()

    def flush(self, run) -> None:
        with self._file_lock:                       # the evaluator's thread may flush a late row too
            with self._lock:
                rows, self._pending = self._pending, []
            if rows:
                run.append_metrics(rows)

    # ---- readers (any thread) ---------------------------------------------------------------------
    def since(self, cursor: int = 0) -> Tuple[List[Dict], int]:
        with self._lock:
            return self._rows[cursor:], len(self._rows)

    def wait(self, cursor: int, timeout: float) -> bool:
        with self._new_rows:
            return self._new_rows.wait_for(lambda: len(self._rows) > cursor, timeout)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)
