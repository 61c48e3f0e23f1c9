"""Per-browser state for a server shared by many users (a classroom: one server, 30 browsers).

    sessions = Sessions(runs_root="runs", max_runs=8)
    s = sessions.get(request.session_hash)      # this browser's Session, made on first use
    sessions.check_capacity(request.session_hash)   # GanlabError when too many runs train at once
    sessions.set_engine(hash, engine)           # stops the session's previous engine first
    sessions.close(hash)                        # from demo.unload: stop the engine, forget the session
    sessions.data.get(cfg.data, seed)           # datasets are loaded once and shared by all sessions
    sessions.evaluator                          # one background FID scorer shared by every run

Each browser gets its own engine and never sees another's. The session keeps
the metrics cursor and the rows read so far, because gr.State deep-copies its
values and an Engine must not be copied.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from ..data.cache import DataCache
from ..engine import Engine, Evaluator
from ..errors import GanlabError

DEFAULT_MAX_RUNS = 8


@dataclass
class Session:
    key: str
    engine: Optional[Engine] = None
    cursor: int = 0                        # position in the engine's metrics stream
    rows: List[Dict] = field(default_factory=list)
    shown_step: int = -1                   # step of the samples on screen; -1 = redraw
    redraw: bool = True                    # curves need a redraw even without new rows
    status_text: str = ""                  # last status shown, to skip unchanged updates
    real: Optional[object] = None          # a few hundred real points for the 2-D scatter
    scratch: Optional[Path] = None         # temp folder for downloads (zips, GIFs)
    uploads: int = 0                       # uploads so far, to name their folders
    launch: bool = False                   # a run was built and waits for launch() to start it
    play: Optional[object] = None          # the 2-D Playground's state (ui.playground.Playground)
    play_layers: Optional[tuple] = None    # the Playground layers this browser shows (None: all)
    health_text: str = ""                  # last health findings shown
    redraw_classes: bool = True            # hide the class histogram of a previous run

    def engines(self, tab: Optional[str] = None) -> List[Engine]:
        """This browser's engines: the Train tab's ("train") and the Playground's ("play")."""
        out: List[Engine] = []
        if tab in (None, "train") and self.engine is not None:
            out.append(self.engine)
        if tab in (None, "play") and self.play is not None:
            out += self.play.engines()
        return out

    def reset_view(self) -> None:
        self.cursor, self.rows, self.shown_step, self.redraw, self.status_text = 0, [], -1, True, ""
        self.real, self.launch, self.health_text, self.redraw_classes = None, False, "", True


class Sessions:
    def __init__(self, runs_root=None, max_runs: Optional[int] = None):
        self.root = Path(runs_root or os.environ.get("GANLAB_RUNS") or "runs")
        self.max_runs = max_runs if max_runs is not None else int(os.environ.get("GANLAB_MAX_RUNS", DEFAULT_MAX_RUNS))
        self._sessions: Dict[str, Session] = {}
        self.data = DataCache()            # one copy of each dataset, shared by every browser's run
        self.evaluator = Evaluator()       # one thread scores every run's FID estimates, in turn

    def get(self, key: Optional[str]) -> Session:
        key = key or "local"               # no session hash when a handler is called directly
        if key not in self._sessions:
            self._sessions[key] = Session(key)
        return self._sessions[key]

    def peek(self, key: Optional[str]) -> Optional[Session]:
        return self._sessions.get(key or "local")

    def __len__(self) -> int:
        return len(self._sessions)

    # ---- engines -------------------------------------------------------------
    def running(self, exclude: Optional[str] = None) -> int:
        """Engines training right now, over all sessions but ``exclude`` (paused and finished ones do not count)."""
        return sum(1 for k, s in list(self._sessions.items()) if k != exclude
                   for e in s.engines() if e.state == "running")

    def check_capacity(self, key: Optional[str], need: int = 1, tab: str = "train") -> None:
        """Raise GanlabError unless ``need`` engines of ``tab`` can train now.

        The session's engines in ``tab`` are the ones being (re)started, so they
        are not counted twice; its engines in the other tab are.
        """
        key = key or "local"
        s = self.peek(key)
        other_tab = "play" if tab == "train" else "train"
        own = sum(1 for e in s.engines(other_tab) if e.state == "running") if s is not None else 0
        if self.running(exclude=key) + own + need > self.max_runs:
            free = max(0, self.max_runs - self.running(exclude=key) - own)
            more = f" (this needs {need}, {free} free)" if need > 1 else ""
            raise GanlabError(f"All {self.max_runs} training slots on this server are busy{more}; "
                              "wait until someone's run finishes or is paused, then try again.")

    def set_engine(self, key: Optional[str], engine: Optional[Engine]) -> Session:
        """Make ``engine`` the session's run, stopping the one it replaces."""
        s = self.get(key)
        old, s.engine = s.engine, engine
        if old is not None and old is not engine:
            old.stop()
        s.reset_view()
        return s

    def owner_of(self, run_dir) -> Optional[str]:
        """The session whose live (not stopped) engine trains in ``run_dir``, if any."""
        target = Path(run_dir).expanduser().resolve()
        for key, s in list(self._sessions.items()):
            for e in s.engines():
                if e.state not in ("stopped", "error") and e.run.path.resolve() == target:
                    return key
        return None

    def close(self, key: Optional[str]) -> None:
        s = self._sessions.pop(key or "local", None)
        if s is None:
            return
        for e in s.engines():
            e.stop()
        if s.scratch is not None:
            shutil.rmtree(s.scratch, ignore_errors=True)

    def close_all(self) -> None:
        for key in list(self._sessions):
            self.close(key)
        self.evaluator.close()

    # ---- folders -----------------------------------------------------------------
    def new_run_dir(self, key: Optional[str], dataset: str) -> Path:
        """``<root>/ui/<time>-<dataset>-<hash6>``, unique even for two starts in one second."""
        slug = re.sub(r"[^A-Za-z0-9]+", "-", dataset.split(":")[0] if dataset.startswith("folder:")
                      else dataset).strip("-").lower()[:30] or "data"
        base = self.root / "ui" / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{(key or 'local')[:6]}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        return path

    def upload_dir(self, key: Optional[str]) -> Path:
        """A fresh folder for one upload; kept after the session ends so its runs can be reopened."""
        s = self.get(key)
        s.uploads += 1
        path = self.root / "ui" / "uploads" / f"{(key or 'local')[:6]}-{time.strftime('%Y%m%d-%H%M%S')}-{s.uploads}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def scratch_dir(self, key: Optional[str]) -> Path:
        """A temp folder for this session's downloads, removed when the session closes."""
        s = self.get(key)
        if s.scratch is None or not s.scratch.exists():
            s.scratch = Path(tempfile.mkdtemp(prefix="ganlab-ui-"))
        return s.scratch
