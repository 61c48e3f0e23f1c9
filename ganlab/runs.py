"""Run folders: what every run, from the UI or the CLI, leaves on disk.

    RUN_DIR/
      config.json              the RunConfig
      metrics.jsonl            one JSON object per logged step
      samples/step_000100.png  fixed-noise sample grids
      checkpoints/step_000100/ see ganlab.checkpoint

    run = RunDir.create(path, cfg)   # new run (refuses a folder holding another run)
    run = RunDir.open(path)          # existing run, to continue or inspect
    SilentRun.open(path)             # the same folder as a data-parallel run's other ranks see it: never written
    find_runs(Path("runs"))          # every run folder under runs/, newest metrics first
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Dict, List, Optional

import imageio.v3 as iio
import numpy as np
from PIL import Image

from .checkpoint import latest_checkpoint, read_config, save_checkpoint
from .config import RunConfig
from .errors import GanlabError


class RunDir:
    writes = True                                    # False for a SilentRun

    def __init__(self, path: Path, cfg: RunConfig):
        self.path, self.cfg = Path(path), cfg
        self.samples = self.path / "samples"
        self.checkpoints = self.path / "checkpoints"

    @classmethod
    def create(cls, path: Path, cfg: RunConfig) -> "RunDir":
        path = Path(path)
        if (path / "config.json").exists():
            raise GanlabError(f"{path} already holds a run; pick a new --out folder or --resume it.")
        if path.exists() and not path.is_dir():
            raise GanlabError(f"{path} exists and is not a folder.")
        run = cls(path, cfg)
        run.samples.mkdir(parents=True, exist_ok=True)
        run.checkpoints.mkdir(exist_ok=True)
        (path / "metrics.jsonl").touch()             # a run from its first moment (find_runs lists it)
        run.write_config()
        return run

    @classmethod
    def open(cls, path: Path) -> "RunDir":
        path = Path(path)
        if not path.is_dir():
            raise GanlabError(f"There is no run folder at {path}.")
        run = cls(path, read_config(path))
        run.samples.mkdir(exist_ok=True)
        run.checkpoints.mkdir(exist_ok=True)
        return run

    def write_config(self) -> None:
        tmp = self.path / ".config.json.tmp"
        tmp.write_text(self.cfg.to_json())
        os.replace(tmp, self.path / "config.json")

    # ---- metrics --------------------------------------------------------------
    def append_metrics(self, rows: List[Dict]) -> None:
        with open(self.path / "metrics.jsonl", "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")

    def read_metrics(self) -> List[Dict]:
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:               # a line cut short by a crash
                continue
        return rows

    def truncate_metrics(self, step: int) -> None:
        """Drop rows after ``step``: on resume, the run continues from its checkpoint."""
        rows = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        tmp = self.path / ".metrics.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, self.path / "metrics.jsonl")

    # ---- samples and checkpoints -----------------------------------------------
    def sample_path(self, step: int) -> Path:
        return self.samples / f"step_{step:06d}.png"

    def save_samples(self, step: int, image: Image.Image) -> Path:
        path = self.sample_path(step)
        tmp = path.with_suffix(".tmp.png")
        image.save(tmp)
        os.replace(tmp, path)
        return path

    def sample_steps(self) -> List[int]:
        steps = []
        for p in self.samples.glob("step_*.png"):
            m = re.fullmatch(r"step_(\d+)\.png", p.name)
            if m:
                steps.append(int(m.group(1)))
        return sorted(steps)

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:06d}"

    def latest_checkpoint(self) -> Optional[Path]:
        return latest_checkpoint(self.checkpoints)

    def save_checkpoint(self, trainer) -> Path:
        """The trainer's state as checkpoints/step_NNNNNN (ganlab.checkpoint); returns the folder."""
        return save_checkpoint(trainer, self.checkpoint_path(trainer.step_count))

    def make_gif(self, out: Optional[Path] = None, max_frames: int = 120, fps: int = 6) -> Path:
        """A GIF of the sample grids over the course of training."""
        steps = self.sample_steps()
        if not steps:
            raise GanlabError("This run has no sample grids yet; train a little first.")
        if len(steps) > max_frames:                    # keep first and last, thin the middle evenly
            keep = np.linspace(0, len(steps) - 1, max_frames).round().astype(int)
            steps = [steps[i] for i in sorted(set(keep))]
        frames = [np.asarray(Image.open(self.sample_path(s)).convert("RGB")) for s in steps]
        h, w = frames[-1].shape[:2]
        frames = [f if f.shape[:2] == (h, w) else np.asarray(Image.fromarray(f).resize((w, h))) for f in frames]
        out = Path(out or self.path / "training.gif")
        iio.imwrite(out, np.stack(frames), duration=int(1000 / fps), loop=0)
        return out


class SilentRun(RunDir):
    """A run folder as ranks 1.. of a data-parallel run see it: read like the real one, never written.

    Rank 0 writes the config, metrics, samples and checkpoints; the other ranks
    train the same steps through an Engine on one of these, so they take the
    same decisions (rollbacks, the end) at the same steps, and leave no trace.
    """
    writes = False

    @classmethod
    def create(cls, path: Path, cfg: RunConfig) -> "SilentRun":
        return cls(path, cfg)                        # rank 0 makes the folder (and refuses an existing run)

    @classmethod
    def open(cls, path: Path) -> "SilentRun":
        path = Path(path)
        if not path.is_dir():
            raise GanlabError(f"There is no run folder at {path}.")
        return cls(path, read_config(path))

    def write_config(self) -> None:
        pass

    def append_metrics(self, rows: List[Dict]) -> None:
        pass

    def truncate_metrics(self, step: int) -> None:
        pass

    def save_samples(self, step: int, image: Image.Image) -> Path:
        return self.sample_path(step)

    def save_checkpoint(self, trainer) -> Path:
        return self.checkpoint_path(trainer.step_count)


# ---- finding runs ------------------------------------------------------------------
MAX_DEPTH = 4                     # runs/ui/<run> is 2 deep; leave room for hand-made sub-folders
SKIP_FOLDERS = {"uploads", "playground"}   # the UI's uploads and its Playground panels' runs: not listed as runs


def is_run(path: Path) -> bool:
    """A run folder holds both config.json and metrics.jsonl (a checkpoint holds only the first)."""
    path = Path(path)
    return (path / "config.json").is_file() and (path / "metrics.jsonl").is_file()


def _mtime(path: Path) -> float:
    try:
        return (path / "metrics.jsonl").stat().st_mtime
    except OSError:                                   # deleted while we looked
        return 0.0


def find_runs(root: Path, max_depth: int = MAX_DEPTH) -> List[Path]:
    """Every run folder under ``root`` (at most ``max_depth`` levels down), newest metrics first."""
    found: List[Path] = []

    def walk(folder: Path, depth: int) -> None:
        if is_run(folder):                            # a run's own sub-folders are samples and checkpoints
            found.append(folder)
            return
        if depth >= max_depth:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
        except OSError:                               # unreadable, or removed meanwhile
            return
        for child in children:
            if not child.name.startswith(".") and child.name not in SKIP_FOLDERS:
                walk(child, depth + 1)

    root = Path(root)
    if root.is_dir():
        walk(root, 0)
    return sorted(found, key=_mtime, reverse=True)
