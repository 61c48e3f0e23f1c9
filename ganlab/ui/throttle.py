"""Back-off for guesses: per client address and for the whole server, so a new session buys no new tries.

    guard = Throttle(free=5, window=600, base=30, cap=3600, total=20)
    guard.check(address)          # GanlabError "too many wrong passwords ... try again in 2 min" while locked
    guard.failed(address)         # a wrong guess: counted for the address and for everyone
    guard.succeeded(address)      # the address's count starts again

The first ``free`` wrong guesses from one address within ``window`` seconds
cost nothing; each one after that locks the address for ``base`` seconds,
doubled every time, up to ``cap``. More than ``total`` wrong guesses from all
addresses together within ``window`` lock every address the same way, so a
guesser with many addresses is slowed down too (the teacher, who knows the
password, waits as well: that is the price of a shared password).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Dict, List, Optional

from ..errors import GanlabError

log = logging.getLogger(__name__)
EVERYONE = "*"


class Throttle:
    def __init__(self, free: int = 5, window: float = 600.0, base: float = 30.0, cap: float = 3600.0,
                 total: int = 20, clock=time.monotonic, what: str = "teacher"):
        self.free, self.window, self.base, self.cap, self.total = free, window, base, cap, total
        self.clock, self.what = clock, what
        self._fails: Dict[str, List[float]] = {}
        self._until: Dict[str, float] = {}
        self._lock = threading.Lock()

    def _recent(self, who: str, now: float) -> List[float]:
        kept = [t for t in self._fails.get(who, []) if now - t < self.window]
        self._fails[who] = kept
        return kept

    def wait(self, address: Optional[str]) -> float:
        """Seconds until ``address`` may guess again (0: now)."""
        now = self.clock()
        with self._lock:
            return max(0.0, self._until.get(address or "?", 0.0) - now, self._until.get(EVERYONE, 0.0) - now)

    def check(self, address: Optional[str]) -> None:
        left = self.wait(address)
        if left > 0:
            raise GanlabError(f"Too many wrong passwords; the {self.what} sign-in is locked for "
                              f"{_duration(left)}. Try again then.")

    def failed(self, address: Optional[str]) -> None:
        now, who = self.clock(), address or "?"
        with self._lock:
            mine = self._recent(who, now)
            mine.append(now)
            everyone = self._recent(EVERYONE, now)
            everyone.append(now)
            if len(mine) >= self.free:
                self._until[who] = now + min(self.cap, self.base * 2 ** (len(mine) - self.free))
            if len(everyone) > self.total:
                self._until[EVERYONE] = now + min(self.cap, self.base * 2 ** (len(everyone) - self.total - 1))
        log.warning("wrong %s password from %s (%d from there, %d from everyone in the last %.0f min)",
                    self.what, who, len(mine), len(everyone), self.window / 60)

    def succeeded(self, address: Optional[str]) -> None:
        with self._lock:
            self._fails.pop(address or "?", None)
            self._until.pop(address or "?", None)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"
