"""Share loaded datasets between runs in one process.

A classroom server runs one engine per browser; thirty students training on
Fashion-MNIST should hold one copy of its 70,000 images, not thirty.

    cache = DataCache(max_items=4)
    ds = cache.get(cfg.data, seed=cfg.train.seed)     # loads once, then shares
    Engine.new(cfg, run_dir, data=ds)

Two requests for the same set at once load it once: the second waits for the
first. Folder and points-file sets are never cached, since their files can change between runs.
Trainers only read ``DataSource.x``, so sharing the tensor is safe.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future
from typing import Hashable, Tuple

from ..config import DataConfig
from . import load_dataset
from .base import DataSource

# Sets whose content does not depend on the run's seed.
SEED_FREE = ("mnist", "fashion-mnist", "emoji", "emoji-one")
# Sets read from the user's files, which can change between two runs.
UNCACHED = ("folder:", "points:")


class DataCache:
    def __init__(self, max_items: int = 4):
        self.max_items = max_items
        self._lock = threading.Lock()
        self._items: "OrderedDict[Hashable, Future]" = OrderedDict()
        self.loads = 0                     # how many times a set was really loaded (for tests)

    @staticmethod
    def key(cfg: DataConfig, seed: int) -> Tuple:
        name = (cfg.name or "").strip()
        return (name, cfg.root, cfg.resolution, cfg.channels, cfg.n, cfg.label,
                None if name in SEED_FREE else seed)

    def get(self, cfg: DataConfig, seed: int = 0) -> DataSource:
        if (cfg.name or "").startswith(UNCACHED) or self.max_items <= 0:
            return load_dataset(cfg, seed=seed)
        key = self.key(cfg, seed)
        with self._lock:
            fut = self._items.get(key)
            mine = fut is None
            if mine:
                fut = self._items[key] = Future()
            self._items.move_to_end(key)
        if mine:
            try:
                ds = load_dataset(cfg, seed=seed)
            except BaseException as e:            # errors are not cached: the user may fix the cause
                with self._lock:
                    self._items.pop(key, None)
                fut.set_exception(e)
                raise
            fut.set_result(ds)
            self.loads += 1
            with self._lock:
                while len(self._items) > self.max_items:
                    self._items.popitem(last=False)
            return ds
        return fut.result()

    def keep_only(self, keys) -> int:
        """Drop every loaded set whose key is not in ``keys`` (the sets runs use now); returns how many went.
        A server calls this when a run ends, so sets nobody trains on stop holding memory (a class that tried
        five seeds of a generated set held five copies until the server restarted)."""
        keep = set(keys)
        with self._lock:
            gone = [k for k, fut in self._items.items() if k not in keep and fut.done()]
            for k in gone:
                del self._items[k]
        if gone:
            _give_back_heap()
        return len(gone)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _give_back_heap() -> None:
    """Ask glibc to return freed heap pages to the system (a no-op elsewhere), so the drop shows in RSS."""
    import gc
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
