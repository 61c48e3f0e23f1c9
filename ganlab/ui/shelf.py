"""Loaded models shared by every browser, and which one each browser chose (Explore, Text -> Image).

    shelf = Shelf(Explorer.open, max_items=8)
    shelf.select("models/fashion-mnist-cgan", key)    # load (or reuse) and remember for this browser
    shelf.current(key, default="models/...")            # this browser's model, or the default
    shelf.forget(key)                                   # demo.unload

Models are read-only once loaded (eval mode, no_grad), so one copy serves all
browsers; the least recently used is dropped beyond ``max_items``.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Dict, Generic, Optional, TypeVar

from ..checkpoint import read_config
from ..errors import GanlabError
from ..sampling import GENERATOR_FILE

T = TypeVar("T")


def family(folder: Path) -> str:
    """The model family a run or model folder holds ("" when its config is missing or unreadable)."""
    try:
        return read_config(folder).model.name
    except Exception:                        # GanlabError, a config from another version, unreadable files
        return ""


# which tab opens a family's models: Text -> Image, Image -> Image, else Explore (noise -> image)
TEXT_FAMILIES = ("text-gan",)
TRANSLATION_FAMILIES = ("pix2pix", "cyclegan", "srgan", "inpaint")


def tab_of(name: str) -> str:
    """"text", "translate" or "explore" for a family name ("" for none: an unreadable folder)."""
    if not name:
        return ""
    return "text" if name in TEXT_FAMILIES else "translate" if name in TRANSLATION_FAMILIES else "explore"


def model_folders(root: Path, text: bool = False, tab: str = "") -> list:
    """Shipped model folders under ``root`` that ``tab`` opens (``text=True``: the Text -> Image tab's; else
    Explore's, unless another tab is named)."""
    if not Path(root).is_dir():
        return []
    want = tab or ("text" if text else "explore")
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and (p / GENERATOR_FILE).is_file()
                  and tab_of(family(p)) == want)


class Shelf(Generic[T]):
    def __init__(self, load: Callable[[str], T], max_items: int = 8):
        self.load, self.max_items = load, max_items
        self._items: "OrderedDict[str, T]" = OrderedDict()
        self._lock = threading.Lock()
        self._choice: Dict[str, str] = {}

    def get(self, path: str) -> T:
        with self._lock:
            item = self._items.get(path)
            if item is not None:
                self._items.move_to_end(path)
                return item
        item = self.load(path)                          # outside the lock: loading takes a moment
        with self._lock:
            self._items[path] = item
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return item

    def select(self, path: str, key: str, empty: str) -> T:
        path = (path or "").strip()
        if not path:
            raise GanlabError(empty)
        folder = Path(path).expanduser()
        if not folder.exists():
            raise GanlabError(f"There is no folder at {path}.")
        item = self.get(str(folder))
        self._choice[key or "local"] = str(folder)
        return item

    def current(self, key: str, default: Optional[str], empty: str) -> T:
        path = self._choice.get(key or "local") or default
        if path is None:
            raise GanlabError(empty)
        return self.get(path)

    def forget(self, key: str) -> None:
        self._choice.pop(key or "local", None)
