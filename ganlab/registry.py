"""Name -> builder tables, filled by decorators at import time.

    MODELS = Registry("model")

    @MODELS.register("mlp", "fully connected G and D for points or small images")
    def build_mlp(cfg, sample_shape): ...

    MODELS.get("mlp")   # the builder, or GanlabError naming the choices
"""
from __future__ import annotations

from typing import Callable, Dict, Generic, List, Tuple, TypeVar

from .errors import GanlabError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, Tuple[T, str]] = {}

    def register(self, name: str, help: str = "") -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items:
                raise RuntimeError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = (obj, help)
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name][0]
        except KeyError:
            raise GanlabError(
                f"Unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}."
            ) from None

    def names(self) -> List[str]:
        return list(self._items)

    def describe(self) -> List[Tuple[str, str]]:
        return [(name, help) for name, (_, help) in self._items.items()]

    def __contains__(self, name: str) -> bool:
        return name in self._items
